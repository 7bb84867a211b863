"""评分服务：找新提交、派任务、收结果（python -m course grade-service）。

新提交从两处来：
- 交换目录的 inbound/<学号>+<作业>+<时间>+<随机串>/（nbgrader submit 写的；写完 submission_secret.txt 才算交完，
  没有它的文件夹要 10 秒没有变化才算）；
- submitted/<学号>/<作业>/（教师手工放的；有 timestamp.txt 或 10 秒没有变化才算）。
每份提交的任务 id 由 (课程, 学号, 作业, 提交时间；没有时间时用内容的散列) 算出：服务收过的不再收，重启、
--once 跑两遍都不会重评。收到的提交先按 nbgrader collect 的做法（course.grading.collect.copy_submission：
不跟随链接、有上限）复制到 .grade-service/submissions/<任务 id>/ 存档，再看评分次数（policy.py）：
超出的不评，放一页中文说明当反馈；没超出的排队，交换目录来的同时按 `nbgrader collect --update` 放进 submitted/
（比那里已有的新时才换）。任务经由 Transport 交给工人（本地进程或 Celery），结果按任务 id 只用一次（apply.py）；
同一名学生的几份提交都评，以提交时间最新的为准（晚到的旧结果只记在记录里，不覆盖成绩库）。
"""
import hashlib
import os
import time

from ..collect import copy_submission, COLLECT_NOTEBOOK
from ..files.events import Report
from ..files.release import assignment_notebooks
from ..files.safe import MAX_ENTRIES, NBGRADER_FILES, Refused, list_files, open_regular
from . import apply as _apply
from .admission import fair_order, known_students, order_for, owner_problem
from .bundle import BundleError, make_bundle, read_folder
from .jobs import SUBMISSION_MAX_BYTES, _rmtree, make_job
from .policy import load_policy, over_limit_html
from .state import STATE_DIR, State

__all__ = ["GradingService", "job_id_for", "safe_student_id", "SETTLE_SECONDS"]

SETTLE_SECONDS = 10  # 没有完成标志的提交文件夹要这么久没有变化才收
IN_FLIGHT = 8  # 默认同时交给工人几个任务（其余的留在队列里，到时再读存档：内存不随排队的份数增长）
FEEDBACK_PROCESSES = 2  # 同时为几名学生生成反馈（每名一个子进程）
OVER_LIMIT_KEEP = 3  # 超出评分次数的提交，每名学生每份作业另存全文的份数（再多的全文只留在 inbound/）
FAST_SCAN = 0.2  # inbound/ 有变化时，至少隔这么多秒再看一次


def safe_student_id(name):
    """学号能当文件夹名，也不是 nbgrader 的通配符（* ? [ ] ,）：不然 --student 会选中别的学生。"""
    from ..collect import plain_name

    return plain_name(name) and not any(c in name for c in "*?[],+") and not name.startswith(("-", "."))


def job_id_for(course_id, student, assignment, key):
    digest = hashlib.sha256("\0".join((course_id, student, assignment, key)).encode("utf-8")).hexdigest()
    return digest[:24]


def _read_small(path, limit=4096):
    try:
        fd = open_regular(path, limit)
    except (OSError, Refused):
        return None
    with os.fdopen(fd, "rb") as f:
        return f.read(limit).decode("utf-8", "replace").strip()


def _newest_mtime(folder):
    try:
        with os.scandir(folder) as it:
            return max([e.stat(follow_symlinks=False).st_mtime for e in it] + [os.lstat(folder).st_mtime])
    except OSError:
        return time.time()


def _content_key(folder):
    files, _ = list_files(folder, [], MAX_ENTRIES)
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(os.path.relpath(path, folder).encode() + b"\0")
        data = _read_small(path, 64 * 2 ** 20)
        h.update((data or "").encode() + b"\0")
    return "sha:" + h.hexdigest()[:32]


class GradingService:
    """course：课程文件夹；transport：Transport；assignments：只评这些作业（默认成绩库里的全部）。"""

    def __init__(self, course, transport, assignments=None, echo=print, in_flight=IN_FLIGHT):
        from nbgrader.coursedir import CourseDirectory

        from ..batch import dbsafe
        from ..batch.autograde import _choose, _course_config, _gradebook_assignments

        self.course = os.path.abspath(course)
        self.config = _course_config(self.course)
        self.cd = CourseDirectory(config=self.config)
        self.root = self.cd.root or self.course
        self.course_id = self.cd.course_id
        self.db_url = self.cd.db_url
        dbsafe.install()
        from . import feedback  # noqa: F401  发布反馈的子进程从服务 fork：nbgrader 的应用先导入好
        from nbgrader.apps import ReleaseFeedbackApp  # noqa: F401
        from ..feedback import release  # noqa: F401
        known = _gradebook_assignments(self.db_url, self.course_id)
        self.assignments = set(_choose(assignments, known) if assignments else known)
        # nbgrader 的交换目录：<root>/<课程>/inbound/ 和 feedback/（path_includes_course 只管学生那一边）
        self.exchange_root = self.config.get("Exchange", {}).get("root") or "/srv/nbgrader/exchange"
        self.inbound = os.path.join(self.exchange_root, self.course_id, "inbound")
        self.policy = load_policy(self.config)
        self.state_dir = os.path.join(self.root, STATE_DIR)
        self.state = State(os.path.join(self.state_dir, "state.db"))
        self.transport = transport
        self.echo = echo
        self.inflight = set()
        self.in_flight = max(1, int(in_flight))  # 同时交给工人的任务数的上限（admission.fair_order 轮流挑）
        self._turns, self._turn = {}, 0  # {学号: 上次派发的序号}：按学生轮流派发
        self._known = None  # 这一轮 scan 读到的成绩库学生名单
        self._bundles = {}
        self._inbound_stamp, self._unfinished, self._last_fast = None, False, 0.0
        self._warned = set()
        self._restarts = 0
        self._deferred = []  # [(记录, 结果)]：等同一名学生的反馈生成完再写
        self._feedback = {}  # {future: (学号, 作业)}：正在生成的反馈
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=FEEDBACK_PROCESSES)

    def _dir(self, name):
        value = getattr(self.cd, name + "_directory")
        return value if os.path.isabs(value) else os.path.join(self.root, value)

    # ---- 找新提交 ------------------------------------------------------------------------------
    def _candidates(self):
        """[(学号, 作业, 文件夹, 来源, 时间文本)]：现在能收的提交。"""
        out, now = [], time.time()
        self._unfinished = False
        if os.path.isdir(self.inbound):
            for name in sorted(os.listdir(self.inbound)):
                parts = name.rsplit("+", 3)  # 同 nbgrader collect：学号+作业+时间[+随机串]
                path = os.path.join(self.inbound, name)
                if len(parts) < 3 or parts[1] not in self.assignments or os.path.islink(path) or not os.path.isdir(path):
                    continue
                secret = _read_small(os.path.join(path, "submission_secret.txt"))
                if not secret and now - _newest_mtime(path) < SETTLE_SECONDS:
                    self._unfinished = True
                    continue
                stamp = _read_small(os.path.join(path, "timestamp.txt")) or parts[2]
                out.append((parts[0], parts[1], path, "inbound", stamp))
        submitted = self._dir("submitted")
        from ..batch.parallel import student_folders

        for student in student_folders(submitted):
            for assignment in student_folders(os.path.join(submitted, student)):
                path = os.path.join(submitted, student, assignment)
                if assignment not in self.assignments or os.path.islink(path):
                    continue
                stamp = _read_small(os.path.join(path, "timestamp.txt"))
                if not stamp and now - _newest_mtime(path) < SETTLE_SECONDS:
                    continue
                out.append((student, assignment, path, "submitted", stamp))
        return out

    def scan(self):
        """收下新提交（排队或超出次数）。返回新收的条数。"""
        n = 0
        self._known = None
        for student, assignment, path, source, stamp in self._candidates():
            if not safe_student_id(student):
                if path not in self._warned:
                    self._warned.add(path)
                    self.echo("不收 %s：学号 %r 不是普通的名字" % (path, student))
                continue
            key = "ts:" + stamp if stamp else _content_key(path)
            job_id = job_id_for(self.course_id, student, assignment, key)
            row = self.state.get(job_id)
            if row is not None and row["status"] != "refused":
                continue
            why = self._refusal(student, path, source)
            if why:
                if row is None:
                    self._refuse(job_id, student, assignment, key, path, source, why)
                continue
            if row is not None:  # 上次不收的提交，现在收了（例如教师把这名学生补进了名单）：不用学生重交
                self.state.forget(job_id)
                self.echo("%s 的 %s 现在可以收了（%s）" % (student, assignment, row["error"] or "上次不收"))
            self._receive(job_id, student, assignment, key, path, source, stamp)
            n += 1
        return n

    def _refusal(self, student, path, source):
        """inbound 来的提交收不收（admission.py）：收时 None，不收时中文原因。submitted/ 是教师放的，不查。"""
        if source != "inbound":
            return None
        if self.policy.check_owner:
            why = owner_problem(path, student)
            if why:
                return why
        if self.policy.known_students_only:
            if self._known is None:
                self._known = known_students(self.db_url, self.course_id)
            if student not in self._known:
                return ("学号 %s 不在成绩库的学生名单里（教师用 nbgrader db student add / import 登记学生以后，"
                        "服务下次查看交换目录时就收下这份提交，学生不用重交）" % student)
        return None

    def _refuse(self, job_id, student, assignment, key, path, source, why):
        """不收：记一条（grade-status 里的“不收”），提交原样留在 inbound/，不占任何人的评分次数。"""
        now = time.time()
        self.state.add(job_id, student, assignment, key, source, None, now, status="refused",
                       error="%s；提交留在 %s" % (why, path))
        self.echo("不收 %s：%s" % (os.path.basename(path), why))

    def _receive(self, job_id, student, assignment, key, path, source, stamp):
        archive = os.path.join(self.state_dir, "submissions", job_id)
        _rmtree(archive)
        now = time.time()
        since = now - self.policy.window_hours * 3600 if self.policy.window_hours else 0
        used = self.state.attempts_since(student, assignment, since)
        over = self.policy.limit_reached(used)
        # 超出次数的提交：每名学生每份作业只另存 OVER_LIMIT_KEEP 份全文，再多的只存 nbgrader 自己的两个小文件
        # （放说明页要用），全文留在 inbound/（服务从不删那里的东西）：一名学生不停地交，占不满服务的磁盘
        light = over and source == "inbound" and \
            self.state.count(student, assignment, "over-limit") >= OVER_LIMIT_KEEP
        if light:
            notes = copy_submission(path, archive, self.cd.ignore, 4096, 8192, include=NBGRADER_FILES)
        else:
            notes = copy_submission(path, archive, self.cd.ignore, self.cd.max_file_size * 1000,
                                    self.cd.max_dir_size * 1000, include=self.cd.include)
        order = order_for(stamp, now)  # 学生写的时间不能晚于服务发现它的时间
        if notes and not light:
            report = Report(_Quiet(), student, assignment, COLLECT_NOTEBOOK)
            report.events += [{"kind": "file-refused", "cell": None, "grade_id": None, "detail": x} for x in notes]
            report.write(self._dir("autograded"))
        if over:
            why = "超过评分次数（%d 小时里 %d 次）" % (self.policy.window_hours, self.policy.max_attempts)
            if light:
                why += "；超出次数的提交只另存 %d 份，这一份的全文留在 %s" % (OVER_LIMIT_KEEP, path)
            self.state.add(job_id, student, assignment, key, source, archive, order, status="over-limit", error=why)
            self._over_limit(job_id, student, assignment, archive, used, now, since)
            return
        self.state.add(job_id, student, assignment, key, source, archive, order)
        self.echo("收到 %s 的 %s（%s）：排队评分" % (student, assignment, stamp or "没有提交时间"))
        if source == "inbound":
            self._collect(student, assignment, archive, order)

    def _over_limit(self, job_id, student, assignment, archive, used, now, since):
        first = self.state.db.execute(
            "SELECT MIN(discovered) FROM jobs WHERE student = ? AND assignment = ? AND discovered >= ? AND "
            "status IN ('queued', 'running', 'done')", (student, assignment, since)).fetchone()[0]
        next_time = first + self.policy.window_hours * 3600 if first and self.policy.window_hours else None
        notebooks = sorted({os.path.splitext(n)[0] for n in os.listdir(archive) if n.endswith(".ipynb")} |
                           {os.path.splitext(os.path.basename(p))[0]
                            for p in assignment_notebooks(self._dir("release"), assignment)})
        pages = {nb: over_limit_html(assignment, nb, self.policy, used, now, next_time) for nb in notebooks}
        placed = _apply.over_limit_feedback(self.exchange_root, self.course_id, archive, pages)
        self.state.update(job_id, released=time.time() if placed else None)
        self.echo("%s 的 %s：评分次数已用完（%d 次），这次不评分，已给学生放了中文说明" % (student, assignment, used))

    def _collect(self, student, assignment, archive, order):
        """同 nbgrader collect --update：比 submitted/ 里已有的新才换上。"""
        dest = os.path.join(self._dir("submitted"), student, assignment)
        old = _read_small(os.path.join(dest, "timestamp.txt"))
        if os.path.lexists(dest) and order_for(old, os.lstat(dest).st_mtime) >= order:
            return  # 那里的时间也不信过它放进去的时刻
        _rmtree(dest)
        copy_submission(archive, dest, [], 2 ** 40, 2 ** 40)

    # ---- 派任务、收结果 ---------------------------------------------------------------------------
    def _bundle(self, assignment):
        folders = [os.path.join(self._dir(k), assignment) for k in ("source", "release")]
        stamp = [os.path.getmtime(os.path.join(self.course, "nbgrader_config.py"))]
        for folder in folders:
            files, _ = list_files(folder, [], MAX_ENTRIES)
            stamp += sorted((f, os.path.getmtime(f), os.path.getsize(f)) for f in files if not os.path.islink(f))
        cached = self._bundles.get(assignment)
        if cached and cached[0] == stamp:
            return cached[1]
        from nbgrader.api import Gradebook

        with Gradebook(self.db_url, self.course_id) as gb:
            due = gb.find_assignment(assignment).duedate
        bundle = make_bundle(self.course, self.root, assignment, course_id=self.course_id,
                             source_dir=self.cd.source_directory, release_dir=self.cd.release_directory,
                             duedate=due.isoformat() if due else None)
        self._bundles[assignment] = (stamp, bundle)
        return bundle

    def dispatch(self):
        """排队中的（和上次没做完的）任务交给 Transport：同时至多 in_flight 个，按学生轮流（admission.fair_order），
        到派发时才读提交的存档。"""
        held = self.inflight | {r["id"] for r, _ in self._deferred}  # 派出去的、结果收到了还没写的
        waiting = [r for r in self.state.jobs("queued") + self.state.jobs("running") if r["id"] not in held]
        for row in fair_order(waiting, self._turns):
            if len(self.inflight) >= self.in_flight:
                return
            try:
                files, notes = read_folder(row["archive"], max_bytes=SUBMISSION_MAX_BYTES)
                job = make_job(row["id"], row["student"], row["assignment"], self._bundle(row["assignment"]), files,
                               key=row["key"], order=row["order_ts"])
            except (BundleError, OSError) as exc:
                self.state.update(row["id"], status="failed", error="任务做不出来：%s" % exc)
                self.echo("%s 的 %s 没评上：%s" % (row["student"], row["assignment"], exc))
                continue
            self.transport.submit(job)
            self.state.started(row["id"])
            self.inflight.add(row["id"])
            self._turn += 1
            self._turns[row["student"]] = self._turn

    def collect_results(self, timeout):
        """等至多 timeout 秒，用掉这段时间里收回的结果。返回用掉的个数。"""
        n = 0
        for job_id, outcome in self.transport.poll(timeout):
            self.inflight.discard(job_id)
            row = self.state.get(job_id)
            if row is None or row["applied"] or row["status"] in ("done", "over-limit") or \
                    any(r["id"] == job_id for r, _ in self._deferred):
                continue  # 重复收到的结果（工人死在确认之前、任务重新派发）：成绩只写一次
            self._deferred.append((row, outcome))
            n += 1
        self._finish_feedback()
        waiting, self._deferred = self._deferred, []
        for row, outcome in waiting:  # 同一名学生同一份作业的反馈还在生成：等它好了再写新结果
            if (row["student"], row["assignment"]) in self._feedback.values():
                self._deferred.append((row, outcome))
            else:
                self._use(row, outcome)
        restarts = getattr(self.transport, "restarts", 0)
        if restarts > self._restarts:
            self.echo("有 %d 个工人进程意外退出：它们手上的提交交给新的工人重评" % (restarts - self._restarts))
            self._restarts = restarts
        running = getattr(self.transport, "running", None)
        if running is not None:
            for job_id, (pid, _since) in running().items():
                self.state.update(job_id, worker="pid %s" % pid)
        return n

    def _use(self, row, outcome):
        who = "%s 的 %s" % (row["student"], row["assignment"])
        result = outcome.get("result") if outcome.get("ok") else None
        if not result or not result.get("graded"):
            why = outcome.get("error") or (result or {}).get("error") or "原因不明"
            tail = [ln for ln in ((result or {}).get("log") or "").splitlines() if ln.strip()][-12:]
            if tail:
                why += "。nbgrader 输出的最后几行：\n" + "\n".join(tail)
            self.state.update(row["id"], status="failed", error=why[:2000], graded=time.time())
            self.echo("%s 没评上：%s" % (who, why[:300]))
            return
        latest_id, latest_order = self.state.latest(row["student"], row["assignment"])
        score, maximum = _apply.total_score(result)
        seconds = (result.get("seconds") or {}).get("total")
        if latest_order is not None and latest_order > row["order_ts"]:
            self.state.update(row["id"], status="done", counted=0, applied=1, score=score, max_score=maximum,
                              graded=time.time(), worker=result.get("worker"), seconds=seconds)
            self.echo("%s（较早的一次提交）评好了：%g / %g；更新的提交已经评好，成绩库不变" % (who, score, maximum))
            return
        try:
            autograded = self._dir("autograded")
            _apply.write_autograded(autograded, row["student"], row["assignment"], result.get("files") or {})
            _apply.write_reports(autograded, row["student"], row["assignment"], result.get("reports") or [])
            problems = []
            score, maximum, manual = _apply.write_gradebook(self.db_url, self.course_id, row["assignment"],
                                                            row["student"], result, notes=problems)
        except (_apply.ApplyError, BundleError, OSError) as exc:
            self.state.update(row["id"], status="failed", error="结果写不进课程：%s" % exc, graded=time.time())
            self.echo("%s 的结果写不进课程：%s" % (who, exc))
            return
        self.state.set_latest(row["student"], row["assignment"], row["id"], row["order_ts"])
        self.state.update(row["id"], status="done", counted=1, applied=1, score=score, max_score=maximum,
                          graded=time.time(), worker=result.get("worker"), seconds=seconds,
                          error=("分数有问题，已截断并标成要人工评：" + "；".join(problems))[:2000] if problems else None)
        if problems:
            self.echo("%s 的结果里分数有问题（已截断、标成要人工评，请教师查看）：%s" % (who, "；".join(problems)[:500]))
        outbound = os.path.join(self.exchange_root, self.course_id, "feedback")
        if os.path.isdir(os.path.dirname(outbound)) and not os.path.isdir(outbound):
            os.makedirs(outbound, 0o755, exist_ok=True)  # 几个 release_feedback 同时运行时，不让它们抢着建
        if result.get("feedback") and not manual and not problems:  # 工人生成好的反馈：放好、发布（几十毫秒）
            try:
                ok, log = _apply.publish_feedback(self.course, self._dir("feedback"), row["assignment"], row["student"],
                                                  result["feedback"], groupshared=self.cd.groupshared)
            except (BundleError, OSError) as exc:
                ok, log = False, "%s: %s" % (type(exc).__name__, exc)
            self._released(row["id"], who, score, maximum, ok, log)
            return
        future = self._pool.submit(_apply.release_feedback, self.course, row["assignment"], row["student"])
        future.info = (row["id"], who, score, maximum)
        self._feedback[future] = (row["student"], row["assignment"])

    def _finish_feedback(self, wait=False):
        """生成反馈的子进程在线程池里运行（几名学生同时）；这里记下已经结束的。"""
        from concurrent.futures import FIRST_COMPLETED
        from concurrent.futures import wait as wait_futures

        if wait and self._feedback:
            wait_futures(list(self._feedback), return_when=FIRST_COMPLETED)
        for future in [f for f in self._feedback if f.done()]:
            del self._feedback[future]
            job_id, who, score, maximum = future.info
            try:
                ok, log = future.result()
            except Exception as exc:  # 子进程超时之类
                ok, log = False, "%s: %s" % (type(exc).__name__, exc)
            self._released(job_id, who, score, maximum, ok, log)

    def _released(self, job_id, who, score, maximum, ok, log):
        if ok:
            self.state.update(job_id, released=time.time())
            self.echo("%s 评好了：%g / %g，反馈已发布" % (who, score, maximum))
        else:
            self.state.update(job_id, error="反馈没有发布：%s" % log[-1500:])
            self.echo("%s 评好了：%g / %g，但反馈没有发布：%s" % (who, score, maximum, log[-500:]))

    def _inbound_moved(self):
        """交换目录的 inbound/ 变了（nbgrader submit 新建了文件夹），或者上次看到的提交还没交完：不等
        scan_seconds，过 FAST_SCAN 秒就再看一次（只 stat 一下 inbound/，很便宜）。"""
        now = time.monotonic()
        if now - self._last_fast < FAST_SCAN:
            return False
        try:
            stamp = os.stat(self.inbound).st_mtime_ns
        except OSError:
            stamp = None
        moved = stamp != self._inbound_stamp or self._unfinished
        self._inbound_stamp = stamp
        if moved:
            self._last_fast = now
        return moved

    # ---- 主循环 -----------------------------------------------------------------------------------
    def run(self, once=False):
        """once：评完现在等着的提交就返回；否则一直运行（Ctrl-C 停下）。返回这次用掉的结果数。"""
        used = 0
        self.scan()
        self.dispatch()
        next_scan = time.monotonic() + self.policy.scan_seconds
        try:
            while True:
                if once and not self.inflight:
                    while self._deferred or self._feedback:
                        self._finish_feedback(wait=True)
                        used += self.collect_results(0)
                    return used
                used += self.collect_results(0.5)
                if len(self.inflight) < self.in_flight:
                    self.dispatch()  # 有工人空出来了：接着派排队的
                if not once and (time.monotonic() >= next_scan or self._inbound_moved()):
                    self.scan()
                    self.dispatch()
                    next_scan = time.monotonic() + self.policy.scan_seconds
                elif self.inflight and self.transport.pending() == 0:  # Transport 丢了任务（不该发生）：重新交出去
                    self.inflight.clear()
                    self.dispatch()
        finally:
            self._pool.shutdown(wait=True)
            self._finish_feedback()
            self.state.close()


class _Quiet:
    """Report 要的 log：收作业的事件已经由服务自己打印。"""

    def warning(self, *args):
        pass

    info = error = warning
