"""基准测试：整门课的自动评分，平均每名学生要多少秒——串行、并行流水线，以及下限。

    python -m course.demo.bench                          默认 4 名演示学生、全部作业、CPU 核数个进程
    python -m course.demo.bench --students 200 --skip-serial   两百名学生（串行要一个多小时，可以跳过）

1. 用演示班级（course.demo.students）的前 N 名学生走到收齐作业为止（course.demo.pipeline 的前六步）；
2. 把这个课程文件夹复制成两份：一份串行评分，对每份作业运行一次教师平时的 `nbgrader autograde 作业`；
   另一份用流水线：学生分批，J 个 `nbgrader autograde "*" --CourseDirectory.student_id_exclude=…`
   同时运行（course.demo.parallel），sqlite 成绩库的并发写入由 course.demo.dbsafe 保护；
3. 核对两份成绩库里每名学生每个测试单元的得分完全相同，并行的那份成绩库一致；
4. 下限：同样的学生、同样的作业，但每份 notebook 只有一行答案和一行测试，同样串行、并行各评一次：
   这是 nbgrader 本身、启动内核和沙箱、读写成绩库的固定开销，课程内容再精简也省不掉。
"""
import os
import shutil
import sys
import tempfile
import time

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from . import dbsafe
from .cli import positive_int
from .parallel import Task, batch_tasks, default_jobs, nbgrader_argv, nbgrader_env, run_tasks, student_folders
from .pipeline import COURSE_ID, Pipeline, read_scores

__all__ = ["main", "build_parser", "floor_course"]

_KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def build_parser():
    from ..__main__ import _Parser  # 出错时给中文说明

    p = _Parser(prog="python -m course.demo.bench",
                                description="整门课的自动评分：串行 nbgrader autograde、按学生分批并行、下限，每名学生的用时")
    p.add_argument("--students", type=positive_int, default=4, help="演示学生人数（默认 %(default)s）")
    p.add_argument("--jobs", type=positive_int, default=default_jobs(), help="并行的进程数（默认 CPU 核数 %(default)s）")
    p.add_argument("--assignments", nargs="+", metavar="作业", default=None, help="只用这几份作业（默认全部）")
    p.add_argument("--timeout", type=positive_int, default=60, help="每个单元最多运行的秒数（默认 %(default)s）")
    p.add_argument("--course", default=".", help="课程根目录（默认当前文件夹）")
    p.add_argument("--out", default=None, help="工作文件夹（默认用一个临时文件夹，结束后删除）")
    p.add_argument("--skip-serial", action="store_true", help="不做串行评分（学生很多时它要很久）")
    p.add_argument("--skip-floor", action="store_true", help="不测下限")
    return p


def _env(course):
    return nbgrader_env({"COURSE_DB_URL": "sqlite:///" + os.path.join(course, "gradebook.db"),
                         "COURSE_EXCHANGE_DIR": os.path.join(course, "exchange")})


def _copy(src, dest):
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("exchange"))
    os.makedirs(os.path.join(dest, "exchange"))
    return dest


def _assignments(course):
    return sorted(d for d in os.listdir(os.path.join(course, "source")) if not d.startswith("."))


def grade_serial(course, logs):
    """教师平时的做法：每份作业一条 `nbgrader autograde 作业`，一条接一条。返回 (秒, 是否都成功)。"""
    tasks = [Task("autograde %s" % a, nbgrader_argv("autograde", a, safe=False)) for a in _assignments(course)]
    start = time.perf_counter()
    results = run_tasks(tasks, cwd=course, env=_env(course), jobs=1, log_dir=logs)
    return time.perf_counter() - start, all(r.returncode == 0 for r in results)


def grade_parallel(course, jobs, logs):
    """流水线：学生分批，jobs 个进程同时评分。返回 (秒, 是否都成功)。"""
    tasks = batch_tasks(course, "autograde", jobs)
    start = time.perf_counter()
    results = run_tasks(tasks, cwd=course, env=_env(course), jobs=jobs, log_dir=logs)
    return time.perf_counter() - start, all(r.returncode == 0 for r in results)


def floor_course(like, dest, logs):
    """和课程文件夹 like 一样的学生和作业，但每份 notebook 只有一行答案、一行测试（1 分）。"""
    os.makedirs(dest)
    shutil.copy(os.path.join(like, "nbgrader_config.py"), dest)
    os.makedirs(os.path.join(dest, "exchange"))
    answer = {"grade": False, "grade_id": "answer", "locked": False, "schema_version": 3, "solution": True,
              "task": False}
    test = {"grade": True, "grade_id": "test_answer", "locked": True, "points": 1, "schema_version": 3,
            "solution": False, "task": False}
    assignments = _assignments(like)
    for a in assignments:
        nb = new_notebook(cells=[
            new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", metadata={"nbgrader": answer}),
            new_code_cell('"""x 应当是 1"""\nassert x == 1, "x 应当是 1"', metadata={"nbgrader": test})],
            metadata={"kernelspec": _KERNELSPEC, "language_info": {"name": "python"}})
        for i, cell in enumerate(nb.cells):
            cell["id"] = "cell-%d" % i
        os.makedirs(os.path.join(dest, "source", a))
        nbformat.write(nb, os.path.join(dest, "source", a, "trivial.ipynb"))
    tasks = [Task("generate_assignment", nbgrader_argv("generate_assignment", "*"))]
    results = run_tasks(tasks, cwd=dest, env=_env(dest), jobs=1, log_dir=logs)
    if any(r.returncode for r in results):
        raise RuntimeError("下限课程的 generate_assignment 失败：%s" % results[0].tail())
    for sid in student_folders(os.path.join(like, "submitted")):
        for a in student_folders(os.path.join(like, "submitted", sid)):
            nb = nbformat.read(os.path.join(dest, "release", a, "trivial.ipynb"), as_version=4)
            nb.cells[0].source = "x = 1"
            folder = os.path.join(dest, "submitted", sid, a)
            os.makedirs(folder)
            nbformat.write(nb, os.path.join(folder, "trivial.ipynb"))
            shutil.copy(os.path.join(like, "submitted", sid, a, "timestamp.txt"), folder)
    return dest


def _same_scores(a, b):
    sa, sb = read_scores(a), read_scores(b)
    return {k: v["cell_scores"] for k, v in sa.items()} == {k: v["cell_scores"] for k, v in sb.items()}


def main(argv=None):
    args = build_parser().parse_args(argv)
    course = os.path.abspath(args.course)
    tmp = None
    if args.out:
        out = os.path.abspath(args.out)
    else:
        tmp = tempfile.mkdtemp(prefix="course-bench-")
        out = os.path.join(tmp, "bench")
    quiet = []
    try:
        print("准备 %d 名演示学生的作业（走到收齐作业为止）……" % args.students, flush=True)
        pipe = Pipeline(course, os.path.join(out, "class"), students=args.students, jobs=args.jobs,
                        timeout=args.timeout, assignments=args.assignments, echo=quiet.append)
        if not pipe.prepare_class():
            print("\n".join(quiet), file=sys.stderr)
            return 1
        n = len(student_folders(os.path.join(pipe.work, "submitted")))
        notebooks = sum(len(student_folders(os.path.join(pipe.work, "submitted", s)))
                        for s in student_folders(os.path.join(pipe.work, "submitted")))
        logs = os.path.join(out, "logs")
        rows, ok = [], True

        def measure(label, fn, folder):
            nonlocal ok
            print("%s……" % label, flush=True)
            seconds, good = fn(folder)
            ok &= good
            rows.append((label, seconds))
            print("  %.1f 秒，每名学生 %.2f 秒%s" % (seconds, seconds / n, "" if good else "（有命令失败，见 %s）" % logs),
                  flush=True)
            return seconds

        parallel_dir = _copy(pipe.work, os.path.join(out, "parallel"))
        serial = None
        if not args.skip_serial:
            serial_dir = _copy(pipe.work, os.path.join(out, "serial"))
            serial = measure("串行：每份作业一条 nbgrader autograde", lambda d: grade_serial(d, os.path.join(logs, "serial")),
                             serial_dir)
        par = measure("并行：学生分成几批，%d 个 nbgrader 进程同时评分" % args.jobs,
                      lambda d: grade_parallel(d, args.jobs, os.path.join(logs, "parallel")), parallel_dir)
        db = "sqlite:///" + os.path.join(parallel_dir, "gradebook.db")
        expected = {a: {s for s in student_folders(os.path.join(parallel_dir, "submitted"))
                        if os.path.isdir(os.path.join(parallel_dir, "submitted", s, a))}
                    for a in _assignments(parallel_dir)}
        problems = dbsafe.consistency_problems(db, COURSE_ID, expected)
        same = None if serial is None else _same_scores("sqlite:///" + os.path.join(serial_dir, "gradebook.db"), db)
        if not args.skip_floor:
            floor_dir = floor_course(pipe.work, os.path.join(out, "floor-serial"), os.path.join(logs, "floor"))
            floor_par_dir = _copy(floor_dir, os.path.join(out, "floor-parallel"))
            measure("下限，串行：同样多的一行 notebook", lambda d: grade_serial(d, os.path.join(logs, "floor-serial")),
                    floor_dir)
            measure("下限，并行：同样多的一行 notebook",
                    lambda d: grade_parallel(d, args.jobs, os.path.join(logs, "floor-parallel")), floor_par_dir)

        print()
        print("整门课的自动评分：%d 名学生、%d 份作业、共 %d 份 notebook，%d 个 CPU 核，并行 %d 个进程"
              % (n, len(pipe.assignments), notebooks, os.cpu_count() or 1, args.jobs))
        print("%10s %12s  %s" % ("总用时/秒", "每名学生/秒", ""))
        for label, seconds in rows:
            print("%10.1f %12.2f  %s" % (seconds, seconds / n, label))
        if serial:
            print("并行比串行快 %.2f 倍" % (serial / par))
        if same is not None:
            print("串行与并行的成绩：%s" % ("每名学生每个测试单元的得分都相同" if same else "不一样！"))
        print("并行评分后的成绩库：%s" % ("一致" if not problems else "；".join(problems)))
        return 0 if ok and not problems and same is not False else 1
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
