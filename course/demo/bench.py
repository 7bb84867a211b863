"""基准测试：整门课的自动评分，平均每名学生要多少秒。所有数字出自同一次运行，并排比较：

    python -m course.demo.bench                          默认 4 名演示学生、全部作业、CPU 核数个进程
    python -m course.demo.bench --students 200 --skip-serial   两百名学生（串行要一个多小时，可以跳过）

1. 用演示班级（course.demo.students）的前 N 名学生走到收齐作业为止（course.demo.pipeline 的前六步）；
2. 课程配置（本仓库的 nbgrader_config.py：沙箱、RobustExecute……）：
   串行 = 每份作业一条教师平时的 `nbgrader autograde 作业`；
   并行 = `python -m course autograde all --jobs J` 的代码（course.grading.batch.autograde：学生分批，
   J 个 nbgrader 进程同时评分，sqlite 成绩库的并发写入有保护）；
   核对两份成绩库里每名学生每个测试单元的得分完全相同，并行的那份成绩库一致；
3. 原版配置：同样的 notebook，但 nbgrader_config.py 只写课程名、成绩库、交换目录和同样的单元超时，
   其余都是 nbgrader 的默认（没有沙箱、没有 RobustExecute）：同类工具的参照；
4. 下限：同样的学生、同样的作业，但每份 notebook 只有一行答案和一行测试，两种配置各评一次：
   这是 nbgrader 本身、启动内核（和沙箱）、读写成绩库的固定开销，课程内容再精简也省不掉；
5. 课程本身：在 nbgrader 之外把每份参考答案（source/ 里的 notebook）从头到尾执行一遍，
   平时（学生在 JupyterLab 里）和 NBGRADER_EXECUTION=autograde（评分时）各一次。

最后打印比值和目标（目标只打印，不作为测试的断言）：并行 ≤ 1.5 × 课程配置的并行下限；
课程配置的下限 ≤ 1.3 × 原版配置的下限；参考答案平时共 ≤ 25 秒、评分时 ≤ 10 秒，第 05 课 ≤ 8 / ≤ 3 秒。
"""
import os
import shutil
import sys
import tempfile
import time

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from ..grading.batch import autograde, dbsafe
from ..grading.batch.parallel import Task, nbgrader_argv, nbgrader_env, run_tasks, student_folders
from .cli import positive_int
from .pipeline import COURSE_ID, Pipeline, read_scores
from .students import lesson_key

__all__ = ["main", "build_parser", "floor_course", "stock_config", "run_lessons"]

_KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
STOCK = """# 原版 nbgrader：只有课程名、成绩库、交换目录和单元超时，其余都是 nbgrader 的默认设置
import os
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "backprop-zh"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db")
c.Exchange.root = os.path.join(c.CourseDirectory.root, "exchange")
c.Execute.timeout = {timeout}
"""
TARGETS = {"parallel/floor": 1.5, "floor/stock": 1.3, "lessons": 25.0, "lessons-graded": 10.0,
           "05": 8.0, "05-graded": 3.0}


def build_parser():
    from ..tools.cliargs import Parser  # 出错时给中文说明

    p = Parser(prog="python -m course.demo.bench",
                description="整门课的自动评分：课程配置与原版配置、串行与并行、下限，每名学生的用时")
    p.add_argument("--students", type=positive_int, default=4, help="演示学生人数（默认 %(default)s）")
    p.add_argument("--jobs", type=positive_int, default=autograde.default_jobs(),
                   help="并行的进程数（默认 CPU 核数 %(default)s）")
    p.add_argument("--assignments", nargs="+", metavar="作业", default=None, help="只用这几份作业（默认全部）")
    p.add_argument("--timeout", type=positive_int, default=60, help="每个单元最多运行的秒数（默认 %(default)s）")
    p.add_argument("--course", default=".", help="课程根目录（默认当前文件夹）")
    p.add_argument("--out", default=None, help="工作文件夹（默认用一个临时文件夹，结束后删除）")
    p.add_argument("--skip-serial", action="store_true", help="不做串行评分（学生很多时它要很久）")
    p.add_argument("--skip-stock", action="store_true", help="不测原版配置")
    p.add_argument("--skip-floor", action="store_true", help="不测下限")
    p.add_argument("--skip-lessons", action="store_true", help="不测参考答案本身的执行时间")
    return p


def _env(course):
    return nbgrader_env({"COURSE_DB_URL": "sqlite:///" + os.path.join(course, "gradebook.db"),
                         "COURSE_EXCHANGE_DIR": os.path.join(course, "exchange")})


def _copy(src, dest, config=None):
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("exchange"))
    os.makedirs(os.path.join(dest, "exchange"))
    if config is not None:
        with open(os.path.join(dest, "nbgrader_config.py"), "w", encoding="utf-8") as f:
            f.write(config)
    return dest


def stock_config(timeout):
    """原版 nbgrader 的配置文件内容（同样的单元超时）。"""
    return STOCK.replace("{timeout}", str(timeout))


def _assignments(course):
    return sorted(d for d in os.listdir(os.path.join(course, "source")) if not d.startswith("."))


def grade_serial(course, logs):
    """教师平时的做法：每份作业一条 `nbgrader autograde 作业`，一条接一条。返回 (秒, 是否都成功)。"""
    tasks = [Task("autograde %s" % a, nbgrader_argv("autograde", a, safe=False)) for a in _assignments(course)]
    start = time.perf_counter()
    results = run_tasks(tasks, cwd=course, env=_env(course), jobs=1, log_dir=logs)
    return time.perf_counter() - start, all(r.returncode == 0 for r in results)


def grade_parallel(course, jobs, logs):
    """`python -m course autograde all --jobs J` 的代码。返回 (秒, 是否都评好、成绩库一致)。"""
    start = time.perf_counter()
    plan = autograde.make_plan(course, "all", jobs, db_url="sqlite:///" + os.path.join(course, "gradebook.db"))
    outcome = autograde.grade(plan, jobs, env=_env(course), log_dir=logs)
    return time.perf_counter() - start, not outcome.failed and not outcome.problems


def floor_course(like, dest, logs, config=None):
    """和课程文件夹 like 一样的学生和作业，但每份 notebook 只有一行答案、一行测试（1 分）。
    config：nbgrader_config.py 的内容（默认复制 like 的）。"""
    os.makedirs(dest)
    if config is None:
        shutil.copy(os.path.join(like, "nbgrader_config.py"), dest)
    else:
        with open(os.path.join(dest, "nbgrader_config.py"), "w", encoding="utf-8") as f:
            f.write(config)
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


def run_lessons(course, assignments, timeout, grading):
    """在 nbgrader 之外把每份参考答案从头到尾执行一遍（新内核）。grading：是否设 NBGRADER_EXECUTION=autograde。
    返回 [(作业, 秒, 出错说明或 None)]。"""
    from nbclient import NotebookClient

    saved = os.environ.get("NBGRADER_EXECUTION")
    if grading:
        os.environ["NBGRADER_EXECUTION"] = "autograde"
    else:
        os.environ.pop("NBGRADER_EXECUTION", None)
    out = []
    try:
        for a in assignments:
            folder = os.path.join(course, "source", a)
            for name in sorted(n for n in os.listdir(folder) if n.endswith(".ipynb")):
                nb = nbformat.read(os.path.join(folder, name), as_version=4)
                start = time.perf_counter()
                error = None
                try:
                    # 执行完就结束内核，和评分时 RobustExecute 一样（shutdown_kernel="immediate"）：学生和 nbgrader
                    # 都不等内核体面地退出（nbclient 默认的 graceful 每份还要多等 0.2～0.3 秒）
                    # 内核的日志只留错误：ipykernel 每次启动都警告 “Kernel is running over TCP without encryption”，
                    # 而这里的内核只监听本机的 127.0.0.1，由同一个进程连上、用完就关，这条警告什么也说明不了
                    NotebookClient(nb, timeout=timeout, kernel_name="python3", shutdown_kernel="immediate",
                                   extra_arguments=["--IPKernelApp.log_level=ERROR"],
                                   resources={"metadata": {"path": folder}}).execute()
                except Exception as exc:  # 记下来，照样计时
                    lines = str(exc).strip().splitlines()
                    error = "%s: %s" % (type(exc).__name__, lines[-1] if lines else "")
                out.append((a, time.perf_counter() - start, error))
    finally:
        if saved is None:
            os.environ.pop("NBGRADER_EXECUTION", None)
        else:
            os.environ["NBGRADER_EXECUTION"] = saved
    return out


def _same_scores(a, b):
    sa, sb = read_scores(a), read_scores(b)
    return {k: v["cell_scores"] for k, v in sa.items()} == {k: v["cell_scores"] for k, v in sb.items()}


def _ratio(label, num, den, target):
    if num is None or den is None or den <= 0:
        return None
    value = num / den
    return "%-44s %5.2f ×   目标 ≤ %.1f ×%s" % (label, value, target, "" if value <= target else "（没达到）")


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
        rows, times, ok = [], {}, True
        stock = stock_config(args.timeout)

        def measure(key, label, fn, folder, counts=True):
            nonlocal ok
            print("%s……" % label, flush=True)
            seconds, good = fn(folder)
            ok &= good or not counts
            rows.append((label, seconds))
            times[key] = seconds
            print("  %.1f 秒，每名学生 %.2f 秒%s" % (seconds, seconds / n, "" if good else "（有命令失败，见 %s）" % logs),
                  flush=True)

        def serial(name):
            return lambda d: grade_serial(d, os.path.join(logs, name))

        def parallel(name):
            return lambda d: grade_parallel(d, args.jobs, os.path.join(logs, name))

        parallel_dir = _copy(pipe.work, os.path.join(out, "parallel"))
        serial_dir = None
        if not args.skip_serial:
            serial_dir = _copy(pipe.work, os.path.join(out, "serial"))
            measure("serial", "串行：课程配置，每份作业一条 nbgrader autograde", serial("serial"), serial_dir)
        measure("parallel", "并行：课程配置，python -m course autograde all --jobs %d" % args.jobs, parallel("parallel"),
                parallel_dir)
        db = "sqlite:///" + os.path.join(parallel_dir, "gradebook.db")
        expected = {a: {s for s in student_folders(os.path.join(parallel_dir, "submitted"))
                        if os.path.isdir(os.path.join(parallel_dir, "submitted", s, a))}
                    for a in _assignments(parallel_dir)}
        problems = dbsafe.consistency_problems(db, COURSE_ID, expected)
        same = None if serial_dir is None else _same_scores("sqlite:///" + os.path.join(serial_dir, "gradebook.db"), db)
        if not args.skip_stock:
            # 原版 nbgrader 处理不了损坏的提交（会让那名学生评分失败）：这里只计时，不算失败
            if not args.skip_serial:
                measure("stock-serial", "原版，串行：同样的 notebook，nbgrader 的默认配置（无沙箱、无 RobustExecute）", serial("stock-serial"),
                        _copy(pipe.work, os.path.join(out, "stock-serial"), stock), counts=False)
            measure("stock-parallel", "原版，并行：同样的 notebook，默认配置，同样分批", parallel("stock-parallel"),
                    _copy(pipe.work, os.path.join(out, "stock-parallel"), stock), counts=False)
        if not args.skip_floor:
            variants = [("", None, "下限", "课程配置")] + ([] if args.skip_stock else [("stock-", stock, "原版下限", "原版配置")])
            for prefix, config, title, what in variants:
                floor_dir = floor_course(pipe.work, os.path.join(out, prefix + "floor-serial"),
                                         os.path.join(logs, prefix + "floor"), config)
                floor_par_dir = _copy(floor_dir, os.path.join(out, prefix + "floor-parallel"))
                if not args.skip_serial:
                    measure(prefix + "floor-serial", "%s，串行：%s，同样多的一行 notebook" % (title, what),
                            serial(prefix + "floor-serial"), floor_dir)
                measure(prefix + "floor-parallel", "%s，并行：%s，同样多的一行 notebook" % (title, what),
                        parallel(prefix + "floor-parallel"), floor_par_dir)
        lessons = {}
        if not args.skip_lessons:
            for grading, title in ((False, "平时"), (True, "评分时（NBGRADER_EXECUTION=autograde）")):
                print("参考答案从头到尾执行一遍，%s……" % title, flush=True)
                lessons[grading] = run_lessons(pipe.work, pipe.assignments, args.timeout, grading)

        print()
        print("整门课的自动评分：%d 名学生、%d 份作业、共 %d 份 notebook，%d 个 CPU 核，并行 %d 个进程"
              % (n, len(pipe.assignments), notebooks, os.cpu_count() or 1, args.jobs))
        print("%10s %12s  %s" % ("总用时/秒", "每名学生/秒", ""))
        for label, seconds in rows:
            print("%10.1f %12.2f  %s" % (seconds, seconds / n, label))
        if lessons:
            print()
            print("参考答案本身（nbgrader 之外，每份一个新内核）：")
            print("%-24s %10s %10s" % ("作业", "平时/秒", "评分时/秒"))
            for (a, plain, err), (_, graded, err2) in zip(lessons[False], lessons[True]):
                print("%-24s %10.1f %10.1f%s" % (a, plain, graded, "" if not (err or err2) else
                                                 "  （出错：%s）" % (err or err2)))
            totals = [sum(t for _, t, _ in lessons[g]) for g in (False, True)]
            print("%-24s %10.1f %10.1f" % ("合计", totals[0], totals[1]))
        print()
        t = times.get
        ratios = [
            _ratio("并行 / 下限（课程配置，并行）", t("parallel"), t("floor-parallel"), TARGETS["parallel/floor"]),
            _ratio("下限：课程配置 / 原版配置（串行）", t("floor-serial"), t("stock-floor-serial"), TARGETS["floor/stock"]),
            _ratio("下限：课程配置 / 原版配置（并行）", t("floor-parallel"), t("stock-floor-parallel"),
                   TARGETS["floor/stock"]),
        ]
        for a, plain, _ in lessons.get(False, []):
            if lesson_key(a) == "05":
                graded = [g for b, g, _ in lessons[True] if b == a][0]
                ratios.append("%-44s %5.1f 秒   目标 ≤ %.0f 秒" % ("第 05 课的参考答案，平时", plain, TARGETS["05"]))
                ratios.append("%-44s %5.1f 秒   目标 ≤ %.0f 秒" % ("第 05 课的参考答案，评分时", graded,
                                                              TARGETS["05-graded"]))
        if lessons and len(lessons[False]) == 6:
            ratios.append("%-44s %5.1f 秒   目标 ≤ %.0f 秒" % ("六课参考答案合计，平时", totals[0], TARGETS["lessons"]))
            ratios.append("%-44s %5.1f 秒   目标 ≤ %.0f 秒" % ("六课参考答案合计，评分时", totals[1],
                                                          TARGETS["lessons-graded"]))
        for line in filter(None, ratios):
            print(line)
        for label, num, den in (("课程配置 / 原版配置（整门课，串行）", "serial", "stock-serial"),
                                ("课程配置 / 原版配置（整门课，并行）", "parallel", "stock-parallel")):
            if t(num) and t(den):
                print("%-44s %5.2f ×" % (label, t(num) / t(den)))
        if t("serial"):
            print("并行比串行快 %.2f 倍" % (t("serial") / t("parallel")))
        if same is not None:
            print("串行与并行的成绩：%s" % ("每名学生每个测试单元的得分都相同" if same else "不一样！"))
        print("并行评分后的成绩库：%s" % ("一致" if not problems else "；".join(problems)))
        return 0 if ok and not problems and same is not False else 1
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
