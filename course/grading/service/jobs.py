"""评分任务：服务一端做任务（make_job），工人一端评分（run_job）。进出都是纯数据（能 JSON 序列化的 dict）。

工人不碰真正的成绩库，也不需要和服务共享文件系统：它在 cache_dir 下

    bundles/<散列>/   作业包展开成的模板课程：nbgrader_config.py、source/、release/，和一个只有这份作业的
                      成绩库（nbgrader generate_assignment 建的，截止时间照真成绩库）；每份作业包只准备一次
    jobs/<任务>-xxx/  每个任务一个私有的临时课程文件夹：模板的拷贝（成绩库也拷一份）加上这份提交

里运行和 `nbgrader autograde` 同一条命令（course.grading.batch.nbgrader_cli，课程的全部配置：整理提交、
RobustExecute、沙箱、评判进程、复原单元、文件安全），评完读出临时成绩库里这份提交的分数和评语、
autograded/ 里评好的 notebook 和附带文件、评分报告（事件和没通过的检查），再就地为这名学生生成反馈
（`nbgrader generate_feedback`，同样的课程配置；服务只需放好、发布），删掉临时文件夹。
每条 nbgrader 命令都从已经导入好一切的工人进程 fork 出来（forkrun.py），不再每次启动一个新的 Python。
nbgrader 命令的课程根目录和成绩库在命令行上指定（盖过配置文件里的写法），评分绝不会写到别的课程去。
"""
import base64
import contextlib
import fcntl
import json
import os
import shutil
import socket
import sqlite3
import tempfile
import time

from ..files.release import assignment_notebooks
from . import forkrun
from .bundle import BundleError, read_folder, write_files

__all__ = ["make_job", "run_job", "warm", "JOB_TIMEOUT", "RESULT_MAX_BYTES", "SUBMISSION_MAX_BYTES"]

JOB_TIMEOUT = 1800  # 一份提交的 nbgrader autograde 最多这么多秒（每个单元另有 Execute.timeout）
SUBMISSION_MAX_BYTES = 200 * 2 ** 20  # 任务里提交的文件加起来的上限（收作业时已按课程的上限收）
RESULT_MAX_BYTES = 300 * 2 ** 20  # 结果里 autograded/ 的文件加起来的上限（notebook 输出另有上限）
REPORT_MAX_BYTES = 4 * 2 ** 20
_DROP_ENV = ("COURSE_DB_URL", "COURSE_EXCHANGE_DIR")
_compiled = False  # 这个进程（或 fork 出它的工人主进程）已经编译过课程包的字节码


def make_job(job_id, student, assignment, bundle, submission_files, *, key="", order=0.0):
    """服务一端：一个任务（纯数据）。bundle 来自 bundle.make_bundle，submission_files 来自 bundle.read_folder。"""
    return {"id": job_id, "student": student, "assignment": assignment, "key": key, "order": order,
            "bundle": bundle, "submission": submission_files, "created": time.time()}


def _env(work):
    from ..batch.parallel import nbgrader_env

    env = nbgrader_env()
    for name in _DROP_ENV:
        env.pop(name, None)
    env["COURSE_EXCHANGE_DIR"] = os.path.join(work, "exchange")
    return env


def _nbgrader(work, *args, timeout=JOB_TIMEOUT, standby=None):
    """在 work 里运行 nbgrader（课程根目录和成绩库都指向 work）：工人 fork 出的子进程里（forkrun.py），
    同一条 `python -m course.grading.batch.nbgrader_cli` 命令，只是不再重新导入。返回 (退出码, 输出的结尾)。
    standby 见 forkrun.run（autograde 用：下一份提交的沙箱内核预先启动好）。"""
    argv = [*args, "--CourseDirectory.root=%s" % work,
            "--CourseDirectory.db_url=sqlite:///%s" % os.path.join(work, "gradebook.db")]
    return forkrun.run(work, argv, _env(work), timeout, entry=_private_nbgrader, standby=standby)


def _standby(template, bundle, cache_dir):
    """(键, 准备函数)：待命的子进程为这份作业包预先启动评分内核（execute/standby.py）。"""
    def prepare():
        from ..execute.standby import prepare as start_kernel

        return start_kernel(template, bundle["assignment"], cache_dir, _env(os.path.join(cache_dir, "jobs")))

    return bundle["hash"], prepare


def _no_fsync(dbapi_connection, _record):
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA synchronous = OFF")


def _private_nbgrader():
    """fork 出的子进程里：nbgrader_cli.main（就是 nbgrader），只是 sqlite 不再每次提交都写盘（fsync）。
    命令只碰这个任务私有的临时成绩库（--CourseDirectory.db_url），用完就删；工人半路死掉时任务整个重评。"""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from ..batch.nbgrader_cli import main

    event.listen(Engine, "connect", _no_fsync)
    return main()


def warm(cache_dir=None):
    """工人进程启动时调用一次：导入评分要用的一切（之后每条 nbgrader 命令从这里 fork）；编译好课程包的字节码；
    清掉已经不在的工人留下的、预先启动内核用的空工作文件夹。"""
    from ..sandbox.answers import compile_package

    global _compiled
    forkrun.warm()
    if not _compiled:  # Celery 的每个评分子进程启动时又调用一次 warm：主进程编译过就不再逐个文件核对
        compile_package()  # 沙箱里的内核和评判进程写不了字节码：工人先编译好课程包
        _compiled = True
    if cache_dir:
        sweep(cache_dir)


def sweep(cache_dir):
    """强行结束的命令和待命子进程（超时、工人死掉）来不及收拾的东西：空的工作文件夹、内核的私有文件夹。
    工人启动时和每个任务之后各做一次（只删创建它的进程已经不在了的）。"""
    from ..sandbox.kernels import sweep_private_dirs

    _sweep_standby_slots(os.path.join(cache_dir, "jobs"))
    sweep_private_dirs()


def _sweep_standby_slots(jobs_dir):
    """jobs/.standby-<进程号>-xxx（execute/standby.py）：那个进程已经不在时删掉。"""
    from ...tools.procs import orphans

    for _, path in orphans(jobs_dir, ".standby-"):
        _rmtree(path)


def _rmtree(path):
    """删掉文件夹，nbgrader 设成只读的文件夹也删得掉（不跟随符号链接）。"""
    def fix(func, p, exc):
        try:
            os.chmod(os.path.dirname(p), 0o700)
            if not os.path.islink(p) and os.path.isdir(p):
                os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass

    if os.path.lexists(path):
        shutil.rmtree(path, onerror=fix)


@contextlib.contextmanager
def _locked(path):
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _prepare(bundle, cache_dir):
    """作业包展开成的模板课程（已准备好的直接用）。返回 (文件夹, 这次是否用了缓存)。"""
    name = bundle.get("hash")
    if not isinstance(name, str) or not name.isalnum():
        raise BundleError("作业包没有散列")
    base = os.path.join(cache_dir, "bundles")
    os.makedirs(base, exist_ok=True)
    folder = os.path.join(base, name)
    if os.path.isfile(os.path.join(folder, ".ready")):
        return folder, True
    with _locked(folder + ".lock"):
        if os.path.isfile(os.path.join(folder, ".ready")):
            return folder, True
        tmp = tempfile.mkdtemp(prefix=".prepare-", dir=base)
        try:
            write_files(bundle["files"], tmp, 2 ** 31)
            assignment = bundle["assignment"]
            code, log = _nbgrader(tmp, "generate_assignment", assignment, "--force", timeout=600)
            if code != 0:
                raise BundleError("工人准备作业 %s 时 nbgrader generate_assignment 失败（%s）：%s" % (assignment, code, log[-1500:]))
            # 学生版用课程发下去的那份（generate_assignment 刚才按同一份 source 重新生成过）
            shutil.rmtree(os.path.join(tmp, "release", assignment), ignore_errors=True)
            write_files({k: v for k, v in bundle["files"].items() if k.startswith("release/")}, tmp, 2 ** 31)
            if bundle.get("duedate"):
                from nbgrader.api import Gradebook
                from nbgrader.utils import parse_utc

                with Gradebook("sqlite:///" + os.path.join(tmp, "gradebook.db"), bundle["course_id"]) as gb:
                    gb.update_or_create_assignment(assignment, duedate=parse_utc(bundle["duedate"]))
            open(os.path.join(tmp, ".ready"), "w").close()
            if os.path.isdir(folder):
                shutil.rmtree(folder)
            os.rename(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return folder, False


def _copy_template(template, work, assignment):
    shutil.copy2(os.path.join(template, "nbgrader_config.py"), work)
    shutil.copy2(os.path.join(template, "gradebook.db"), work)
    for sub in ("source", "release"):
        src = os.path.join(template, sub, assignment)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(work, sub, assignment), symlinks=True)


def _grades(work, course_id, assignment, student):
    """临时成绩库里这份提交的记录：(时间, [每个 notebook 的分数和评语])；没有提交记录时 (None, None)。"""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook("sqlite:///" + os.path.join(work, "gradebook.db"), course_id) as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            return None, None
        notebooks = []
        for nb in sorted(sub.notebooks, key=lambda n: n.name):
            notebooks.append({
                "name": nb.name, "late_submission_penalty": nb.late_submission_penalty,
                "grades": [{"name": g.name, "auto_score": g.auto_score, "max_score": g.max_score,
                            "needs_manual_grade": bool(g.needs_manual_grade), "cell_type": g.cell_type}
                           for g in sorted(nb.grades, key=lambda g: g.name)],
                "comments": [{"name": c.name, "auto_comment": c.auto_comment}
                             for c in sorted(nb.comments, key=lambda c: c.name)],
            })
        return (sub.timestamp.isoformat() if sub.timestamp else None), notebooks


def _complete(notebooks, expected):
    """每个 notebook 都有记录、每个代码测试单元都有自动分数（同 batch.autograde.ungraded 的判断）。"""
    if notebooks is None or {nb["name"] for nb in notebooks} != set(expected):
        return False
    return all(len(nb["grades"]) == expected[nb["name"]] and
               all(g["auto_score"] is not None or g["cell_type"] != "code" for g in nb["grades"]) for nb in notebooks)


def _expected(work, course_id, assignment):
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///" + os.path.join(work, "gradebook.db"), course_id) as gb:
        return {nb.name: len(nb.grade_cells) for nb in gb.find_assignment(assignment).notebooks}


def _reports(work, assignment, student):
    folder = os.path.join(work, "autograded", ".grading-reports", assignment, student)
    out = []
    files, _ = read_folder(folder, max_bytes=REPORT_MAX_BYTES * 20, max_files=100)
    for rel, text in sorted(files.items()):
        if rel.endswith(".json") and "/" not in rel:
            try:
                out.append(json.loads(base64.b64decode(text)))
            except ValueError:
                continue
    return out


def _feedback(work, assignment, student, result):
    """在私有课程里为这名学生生成反馈（`nbgrader generate_feedback 作业 --student 学号 --force`，课程的
    FeedbackExporter 和隐藏测试的处理），放进 result["feedback"]；失败时是 None（服务自己再生成一遍）。"""
    t0 = time.perf_counter()
    code, log = _nbgrader(work, "generate_feedback", assignment, "--CourseDirectory.student_id=%s" % student, "--force")
    result["seconds"]["feedback"] = round(time.perf_counter() - t0, 3)
    files, notes = read_folder(os.path.join(work, "feedback", student, assignment), max_bytes=RESULT_MAX_BYTES)
    if code == 0 and not notes and any(name.endswith(".html") for name in files):
        result["feedback"] = files
    else:
        result["log"] += "\n工人生成反馈没有成功（退出码 %s）：\n%s" % (code, log[-1500:])


def run_job(job, cache_dir):
    """工人一端：评一份提交，返回纯数据的结果（见本模块的说明）。出错时 graded 为假，error 是中文说明。"""
    from ..collect import plain_name

    start = time.perf_counter()
    student, assignment = job.get("student"), job.get("assignment")
    result = {"job_id": job.get("id"), "student": student, "assignment": assignment, "graded": False, "error": None,
              "timestamp": None, "notebooks": [], "files": {}, "feedback": None, "reports": [], "log": "",
              "worker": "%s:%d" % (socket.gethostname(), os.getpid()), "seconds": {}}
    if not (isinstance(student, str) and plain_name(student) and isinstance(assignment, str) and plain_name(assignment)):
        result["error"] = "任务里的学号或作业名不对：%r / %r" % (student, assignment)
        return result
    bundle = job.get("bundle") or {}
    template, result["bundle_cached"] = _prepare(bundle, cache_dir)
    forkrun.warm_release(assignment_notebooks(os.path.join(template, "release"), assignment))
    result["seconds"]["prepare"] = round(time.perf_counter() - start, 3)
    jobs_dir = os.path.join(cache_dir, "jobs")
    os.makedirs(jobs_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="%s-" % str(job.get("id"))[:24].replace("/", "_"), dir=jobs_dir)
    try:
        _copy_template(template, work, assignment)
        folder = os.path.join(work, "submitted", student, assignment)
        os.makedirs(folder)
        try:
            write_files(job.get("submission") or {}, folder, SUBMISSION_MAX_BYTES)
        except (BundleError, ValueError) as exc:
            result["error"] = "提交的文件不对：%s" % exc
            return result
        t0 = time.perf_counter()
        code, log = _nbgrader(work, "autograde", assignment, "--CourseDirectory.student_id=%s" % student,
                              standby=_standby(template, bundle, cache_dir))
        result["seconds"]["autograde"] = round(time.perf_counter() - t0, 3)
        result["log"] = log
        course_id = bundle.get("course_id")
        result["timestamp"], notebooks = _grades(work, course_id, assignment, student)
        if _complete(notebooks, _expected(work, course_id, assignment)):
            result["graded"], result["notebooks"] = True, notebooks
        else:
            result["error"] = "nbgrader autograde 没有评完这份提交（退出码 %s）" % code
        if result["graded"] and job.get("feedback", True):
            _feedback(work, assignment, student, result)
        result["files"], notes = read_folder(os.path.join(work, "autograded", student, assignment),
                                             max_bytes=RESULT_MAX_BYTES)
        result["reports"] = _reports(work, assignment, student)
        if notes:
            result["log"] += "\n" + "\n".join(notes)
        return result
    finally:
        _rmtree(work)
        sweep(cache_dir)
        result["seconds"]["total"] = round(time.perf_counter() - start, 3)
