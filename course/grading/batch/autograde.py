"""教师给整个班级自动评分：python -m course autograde <作业|all> [--jobs N]

做的事和 `nbgrader autograde 作业` 一样（同样的配置、同样的预处理器，成绩库里的结果也一样），只是
学生分成几批，N 个 nbgrader 进程同时评分（parallel.py），sqlite 成绩库的并发写入有保护（dbsafe.py）：

    python -m course autograde 02-simple-layers          一份作业（也可以只写编号：02）
    python -m course autograde all --jobs 2               成绩库里的全部作业
    python -m course autograde all --force                已经评过的提交也重新评（nbgrader 的 --force）

评分时显示进度条（已评好的学生/总数、失败几名、预计还要多久），最后打印中文总结：评好了多少、
没有 --force 时跳过了哪些已经评过的提交、哪些没评上以及原因（nbgrader 的错误、评分报告里的事件）、
平均每名学生用了多久。每批的完整输出在
autograded/.autograde-logs/<时间>/。成绩库用课程配置里的那个（COURSE_DB_URL：sqlite 或 PostgreSQL）。
退出码：0 全部评好，1 有提交没评上或成绩库不一致，2 参数不对。
"""
import datetime
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field

from . import dbsafe
from .parallel import Task, batch_args, default_jobs, nbgrader_argv, nbgrader_env, plan_batches, run_tasks, \
    student_folders
from .progress import Progress, clock
from ..files.events import EVENT_TITLES, REPORT_DIR, collect

__all__ = ["UsageError", "Plan", "Outcome", "make_plan", "grade", "summary", "add_arguments", "run", "ungraded"]

ALL = "all"
MAX_LISTED = 30  # 总结里逐份列出的跳过的提交最多这么多
SERIOUS = ("unreadable", "gave-up", "kernel-restart", "replay", "timeout", "guard", "output-truncated")


class UsageError(Exception):
    """参数或课程文件夹不对（中文说明）：命令行上退出码 2。"""


@dataclass
class Plan:
    course: str
    db_url: str
    course_id: str
    autograded: str  # autograded/ 文件夹
    assignments: list  # 要评的作业
    notebooks: dict  # {作业: [notebook 名]}（成绩库里登记的）
    submitted: dict  # {学号: [交了的作业]}
    tasks: list = field(default_factory=list)

    @property
    def pairs(self):
        return [(sid, a) for sid, done in sorted(self.submitted.items()) for a in done]


@dataclass
class Outcome:
    seconds: float
    results: list  # parallel.Result
    failed: dict  # {(学号, 作业): 原因}
    events: list  # [(学号, 作业, notebook, 事件)]：评分报告里的事件（这次评分记下的）
    problems: list  # 成绩库一致性检查发现的问题
    skipped: dict = field(default_factory=dict)  # {(学号, 作业): 原因}：没有 --force 时 nbgrader 跳过的（已经评过）


def _course_config(course):
    from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader

    try:
        return PyFileConfigLoader("nbgrader_config.py", path=course).load_config()
    except ConfigFileNotFound:
        raise UsageError("%s 里没有 nbgrader_config.py：在课程根目录运行，或用 --course 指定课程文件夹" % course) from None
    except Exception as exc:
        raise UsageError("读取 %s 失败：%s: %s" % (os.path.join(course, "nbgrader_config.py"), type(exc).__name__, exc))


def _gradebook_assignments(db_url, course_id):
    """{作业: [notebook 名]}；sqlite 文件不存在时不新建它。"""
    from nbgrader.api import Gradebook

    if db_url.startswith("sqlite:///") and not os.path.isfile(db_url[len("sqlite:///"):]):
        raise UsageError("成绩库 %s 不存在：先运行 nbgrader generate_assignment（或设好 COURSE_DB_URL）" % db_url)
    try:
        with Gradebook(db_url, course_id) as gb:
            return {a.name: sorted(nb.name for nb in a.notebooks) for a in gb.assignments}
    except Exception as exc:
        raise UsageError("打不开成绩库 %s：%s: %s" % (db_url, type(exc).__name__, exc)) from None


def _choose(wanted, known):
    """wanted：作业名、作业编号（如 02）或 all；也可以是作业名的列表。"""
    if isinstance(wanted, (list, tuple)):
        out = []
        for w in wanted:
            out += [a for a in _choose(w, known) if a not in out]
        return sorted(out)
    if not isinstance(wanted, str) or not wanted.strip():
        raise UsageError("要评的作业应当是作业名、编号或 all，收到的是 %r" % (wanted,))
    if wanted == ALL:
        if not known:
            raise UsageError("成绩库里还没有作业：先运行 nbgrader generate_assignment")
        return sorted(known)
    if wanted in known:
        return [wanted]
    match = [a for a in known if re.split(r"[-_ ]", a, 1)[0] == wanted]
    if len(match) == 1:
        return match
    have = "、".join(sorted(known)) or "（没有）"
    if match:
        raise UsageError("%r 对应好几份作业：%s，请写全名" % (wanted, "、".join(match)))
    raise UsageError("成绩库里没有作业 %r；有的是：%s（或者用 all）" % (wanted, have))


def make_plan(course, wanted, jobs, *, force=False, db_url=None, course_id=None):
    """找出要评的作业和交了它们的学生，分好批。db_url、course_id 缺省时读课程的 nbgrader_config.py。"""
    course = os.path.abspath(course)
    if not os.path.isdir(course):
        raise UsageError("课程文件夹不存在：%s" % course)
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise UsageError("并行进程数应当是正整数，收到的是 %r" % (jobs,))
    cfg = _course_config(course)
    cd = cfg.get("CourseDirectory", {})
    db_url = db_url or cd.get("db_url") or "sqlite:///" + os.path.join(course, "gradebook.db")
    course_id = course_id or cd.get("course_id") or "default_course"
    root = cd.get("root") or course
    known = _gradebook_assignments(db_url, course_id)
    chosen = _choose(wanted, known)
    submitted_dir = os.path.join(root, cd.get("submitted_directory") or "submitted")
    submitted = {}
    for sid in student_folders(submitted_dir):
        done = [a for a in student_folders(os.path.join(submitted_dir, sid)) if a in chosen]
        if done:
            submitted[sid] = done
    if not submitted:
        raise UsageError("%s 里没有 %s 的提交：先用 nbgrader collect 收作业" % (submitted_dir, "、".join(chosen)))
    present = {a for sid in student_folders(submitted_dir) for a in student_folders(os.path.join(submitted_dir, sid))}
    if len(chosen) == 1:
        target = chosen[0]
    elif present <= set(chosen):
        target = "*"
    else:
        extra = sorted(present - set(chosen))
        raise UsageError("submitted/ 里还有成绩库不认识的作业 %s：一次评全部时 nbgrader 也会去评它们。先对它们运行 "
                         "nbgrader generate_assignment，或者一份一份地评" % "、".join(extra))
    plan = Plan(course, db_url, course_id, os.path.join(root, cd.get("autograded_directory") or "autograded"),
                chosen, {a: known[a] for a in chosen}, submitted)
    costs = {sid: sum(len(known[a]) for a in done) for sid, done in submitted.items()}
    extra = ["--force"] if force else []
    everyone = student_folders(submitted_dir)
    for batch in plan_batches(costs, jobs):
        plan.tasks.append(Task("autograde %s %s" % (target, ",".join(batch)),
                               nbgrader_argv("autograde", target, *batch_args(batch, everyone), *extra),
                               students=tuple(batch)))
    return plan


def ungraded(db_url, course_id, pairs):
    """pairs 里成绩库中没有完整自动评分的 (学号, 作业)（没有提交记录、缺 notebook、测试单元没有分数）。"""
    from nbgrader.api import Gradebook, MissingEntry

    missing = set()
    with Gradebook(db_url, course_id) as gb:
        cells = {}
        for sid, a in pairs:
            if a not in cells:
                cells[a] = {nb.name: len(nb.grade_cells) for nb in gb.find_assignment(a).notebooks}
            try:
                sub = gb.find_submission(a, sid)
            except MissingEntry:
                missing.add((sid, a))
                continue
            have = {nb.name: nb for nb in sub.notebooks}
            if set(have) != set(cells[a]) or any(
                    len(nb.grades) != cells[a][name] or
                    any(g.auto_score is None and g.cell.cell_type == "code" for g in nb.grades)
                    for name, nb in have.items()):
                missing.add((sid, a))
    return missing


def _error_reasons(result):
    """从一批的日志里找出每份出错的提交的原因：{(学号, 作业): 一句话}。"""
    text = result.tail(200_000)
    out = {}
    marker = "There was an error processing assignment: "
    for block in text.split(marker)[1:]:
        path, _, rest = block.partition("\n")
        parts = os.path.normpath(path.strip()).split(os.sep)
        if len(parts) < 2:
            continue
        lines = [ln.strip() for ln in rest.splitlines()]
        last = ""
        for ln in lines:
            if ln.startswith("[") and last:  # 下一条日志开始：traceback 结束了
                break
            if ln and not ln.startswith(("Traceback", "File ", "^", "[")):
                last = ln
        out[(parts[-2], parts[-1])] = last[:300] or "nbgrader 出错"
    return out


SKIP_MARK = "Skipping existing assignment: "  # nbgrader 的 BaseConverter.init_destination 跳过一份提交时写的日志
SKIP_REASON = "已经评过：autograded/ 里已有它的评分结果，提交也没有更新的 timestamp.txt"


def _skipped(result):
    """这一批里 nbgrader 跳过的（已经评过的）提交：{(学号, 作业)}。"""
    out = set()
    for line in result.tail(2_000_000).splitlines():
        _, mark, path = line.partition(SKIP_MARK)
        if mark:
            parts = os.path.normpath(path.strip()).split(os.sep)
            if len(parts) >= 2:
                out.add((parts[-2], parts[-1]))
    return out


def _fresh_reports(plan, since):
    """{学号: 这次评分写出的评分报告数}（RobustExecute 每评完一份 notebook 写一份）。"""
    base = os.path.join(plan.autograded, REPORT_DIR)
    counts = {}
    for a in plan.assignments:
        folder = os.path.join(base, a)
        if not os.path.isdir(folder):
            continue
        for sid in os.listdir(folder):
            try:
                with os.scandir(os.path.join(folder, sid)) as it:
                    n = sum(1 for e in it if e.name.endswith(".json") and e.stat().st_mtime >= since)
            except OSError:
                continue
            counts[sid] = counts.get(sid, 0) + n
    return counts


def grade(plan, jobs, *, env=None, log_dir=None, progress=None, on_batch=None, poll=0.5):
    """运行 plan 的各批。progress：Progress（或 None）；on_batch(result, 没评上的 (学号, 作业) 集合)。"""
    dbsafe.install()  # 本进程评分期间也读成绩库：与评分进程一样先拿锁
    from ..sandbox.answers import compile_package

    compile_package()  # 沙箱里的内核和评判进程写不了字节码：先编译好，免得每份 notebook 都从源码编译课程模块
    env = env or nbgrader_env()
    log_dir = log_dir or os.path.join(plan.autograded, ".autograde-logs",
                                      datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    expected = {sid: sum(len(plan.notebooks[a]) for a in done) for sid, done in plan.submitted.items()}
    lock = threading.Lock()
    finished, failed, reasons, skipped = set(), set(), {}, set()
    start_wall, start = time.time() - 1, time.perf_counter()

    def done(res):
        pairs = [(sid, a) for sid in res.task.students for a in plan.submitted.get(sid, ())]
        bad = ungraded(plan.db_url, plan.course_id, pairs) if pairs else set()
        why = _error_reasons(res) if bad else {}
        with lock:
            finished.update(res.task.students)
            skipped.update(p for p in _skipped(res) if p in pairs)
            for pair in bad:
                failed.add(pair)
                reasons[pair] = why.get(pair) or "nbgrader 退出码 %d，见日志 %s" % (res.returncode, res.log_path)
        if on_batch:
            on_batch(res, bad)

    box = {}

    def work():
        try:
            box["results"] = run_tasks(plan.tasks, cwd=plan.course, env=env, jobs=jobs, log_dir=log_dir,
                                       on_done=done)
        except BaseException as exc:  # 在主线程里再抛出
            box["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(poll)
        if progress is not None:
            reports = _fresh_reports(plan, start_wall)
            with lock:
                n_done = sum(1 for sid in plan.submitted if sid in finished or reports.get(sid, 0) >= expected[sid])
                n_failed = len({sid for sid, _ in failed})
            progress.update(n_done, n_failed)
    if progress is not None:
        progress.finish()
    if "error" in box:
        raise box["error"]
    seconds = time.perf_counter() - start
    since = datetime.datetime.fromtimestamp(start_wall).isoformat(timespec="seconds")
    chosen = set(plan.assignments)
    events = [(rep["student"], rep["assignment"], rep["notebook"], ev)
              for rep in collect(plan.autograded) if rep.get("assignment") in chosen
              and rep.get("student") in plan.submitted and rep.get("time", "") >= since for ev in rep["events"]]
    wanted = {a: {sid for sid, done in plan.submitted.items() if a in done} for a in plan.assignments}
    problems = dbsafe.consistency_problems(plan.db_url, plan.course_id, wanted)
    return Outcome(seconds, box["results"], {p: reasons[p] for p in sorted(failed)}, events, problems,
                   {p: SKIP_REASON for p in sorted(skipped - failed)})


def summary(plan, outcome, jobs):
    """给教师看的中文总结（多行文字）。"""
    n_students, pairs = len(plan.submitted), plan.pairs
    lines = ["评分结束：%d 名学生、%d 份作业、共 %d 份提交；%d 个进程，用时 %s，平均每名学生 %.1f 秒。"
             % (n_students, len(plan.assignments), len(pairs), jobs, clock(outcome.seconds),
                outcome.seconds / max(n_students, 1))]
    skipped = {p: why for p, why in outcome.skipped.items() if p not in outcome.failed}
    not_fresh = {sid for sid, _ in outcome.failed} | {sid for sid, _ in skipped}
    lines.append("评好了：%d 份提交（%d 名学生的全部提交）。" % (len(pairs) - len(outcome.failed) - len(skipped),
                                                   n_students - len(not_fresh)))
    if skipped:
        lines.append("跳过了：%d 份提交，它们已经评过（autograded/ 里已有评分结果，提交也没有更新的 timestamp.txt），"
                     "成绩库里的分数没有变；要重新评，加 --force：" % len(skipped))
        shown = sorted(skipped)[:MAX_LISTED]
        lines += ["  %-16s %s" % pair for pair in shown]
        if len(skipped) > len(shown):
            lines.append("  ……另有 %d 份" % (len(skipped) - len(shown)))
    if outcome.failed:
        lines.append("没评上：%d 份提交（成绩库里没有它们完整的分数）：" % len(outcome.failed))
        lines += ["  %-16s %s：%s" % (sid, a, why) for (sid, a), why in outcome.failed.items()]
    serious = [e for e in outcome.events if e[3].get("kind") in SERIOUS]
    if serious:
        lines.append("评分时出了问题的提交（分数照常记入成绩库；详情：python -m course grading-report）：")
        for sid, a, nb, ev in serious:
            where = ev.get("grade_id") or ("#%s" % ev["cell"] if ev.get("cell") is not None else "")
            lines.append("  %-16s %s/%s%s：%s：%s" % (sid, a, nb, " " + where if where else "",
                                                  EVENT_TITLES.get(ev["kind"], ev["kind"]), ev.get("detail", "")))
    hints = sum(1 for e in outcome.events if e[3].get("kind") == "suspicious")
    if hints:
        lines.append("另有 %d 处可疑代码的提醒（只提醒，不扣分）：python -m course grading-report --all" % hints)
    lines.append("成绩库：%s" % ("一致" if not outcome.problems else "不一致！" + "；".join(outcome.problems)))
    if outcome.results:
        lines.append("每批的完整输出：%s" % os.path.dirname(outcome.results[0].log_path))
    return "\n".join(lines)


def add_arguments(p):
    from ...tools.cliargs import positive_int

    p.add_argument("assignment", metavar="作业", help="作业名、作业编号（如 02），或 all（成绩库里的全部作业）")
    p.add_argument("--jobs", type=positive_int, default=default_jobs(),
                   help="同时运行的 nbgrader 进程数（默认是 CPU 核数 %(default)s）")
    p.add_argument("--force", action="store_true", help="已经评过的提交也重新评（传给 nbgrader autograde --force）")
    p.add_argument("--course", default=".", help="课程根目录（默认当前文件夹）")


def run(args):
    # nbgrader 新建成绩库时要调用同一个环境里的 alembic
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    try:
        plan = make_plan(args.course, args.assignment, args.jobs, force=args.force)
    except UsageError as exc:
        print("python -m course autograde：%s" % exc, file=sys.stderr)
        return 2
    print("评分 %s：%d 名学生、%d 份提交，分成 %d 批，%d 个进程同时评分" % (
        "、".join(plan.assignments), len(plan.submitted), len(plan.pairs), len(plan.tasks), args.jobs), flush=True)
    outcome = grade(plan, args.jobs, progress=Progress(len(plan.submitted)))
    print(summary(plan, outcome, args.jobs), flush=True)
    return 0 if not outcome.failed and not outcome.problems else 1
