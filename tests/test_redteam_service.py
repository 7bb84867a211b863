"""红队：交上来就评分的服务（issue 25）面对一名恶意学生。学生的提交是敌意的输入：它不能抬高自己的分数、
读到隐藏测试、碰到别的学生，也不能碰教师的机器。

每一种攻击都写成"防线守住了"的断言，并配一个对照：把那道防线拿掉（monkeypatch）或换成更弱的设置，同样的
攻击就得手，证明这个测试抓得住漏洞。攻击在现在的代码上得手的，测试保留，标成 xfail(strict=True)，
reason 里写明漏洞（修好以后 strict 会让测试失败，提醒去掉标记）。

学生能控制的：交换目录 inbound/ 里的文件夹（名字 <学号>+<作业>+<时间>+<随机串>、里面的 timestamp.txt、
submission_secret.txt、文件名、大小、个数、符号链接、FIFO），notebook 里在评分内核中运行的代码，以及
（单机部署、学生和服务在同一台机器上时）连到 127.0.0.1 上的 Redis。
"""
import base64
import copy
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import nbformat
import pytest

from conftest import ROOT
from course.grading.batch import selftest as st

A = st.ASSIGNMENT
COURSE_ID = "backprop-zh"
NOW_STAMP = "2024-06-01 12:00:00.000000 UTC"
XFAIL = dict(strict=True, raises=AssertionError)


class _NoTransport:
    """收提交（scan）用不到工人：任何派发都是测试的错误。"""

    restarts = 0

    def submit(self, job):
        raise AssertionError("scan 不应派发任务")

    def poll(self, timeout):
        return []

    def pending(self):
        return 0

    def close(self):
        pass


def _env(**extra):
    env = dict(os.environ, LANG="C.UTF-8", PYTHONUNBUFFERED="1")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.pop("COURSE_DB_URL", None)
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """一门小课（selftest 的 ps1），交换目录在临时文件夹里，每份作业最多评 2 次。"""
    saved = os.environ.pop("COURSE_DB_URL", None)
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    base = str(tmp_path_factory.mktemp("redteam-service"))
    root = os.path.join(base, "course")
    exchange = os.path.join(base, "exchange")
    os.makedirs(os.path.join(exchange, COURSE_ID, "inbound"))
    st.build_course(root, str(ROOT / "nbgrader_config.py"),
                    "c.Execute.timeout = 20\nc.Exchange.root = %r\nc.GradeService.max_attempts = 2\n" % exchange)
    yield {"base": base, "root": root, "exchange": exchange, "inbound": os.path.join(exchange, COURSE_ID, "inbound"),
           "release": st.release_notebook(root)}
    if saved is not None:
        os.environ["COURSE_DB_URL"] = saved


def _service(course, transport=None):
    from course.grading.service.service import GradingService

    return GradingService(course["root"], transport or _NoTransport(), echo=lambda *a: None)


def _drop(course, folder_name, nb=None, stamp=None, secret="s3cret", extra=None):
    """像 nbgrader submit 那样在 inbound/ 里放一份提交（学生直接写交换目录也能做到）。返回文件夹路径。"""
    path = os.path.join(course["inbound"], folder_name)
    os.makedirs(path)
    nbformat.write(nb if nb is not None else copy.deepcopy(course["release"]), os.path.join(path, st.NOTEBOOK + ".ipynb"))
    with open(os.path.join(path, "timestamp.txt"), "w") as f:
        f.write(stamp or folder_name.split("+")[2])
    if secret is not None:
        with open(os.path.join(path, "submission_secret.txt"), "w") as f:
            f.write(secret)
    for rel, data in (extra or {}).items():
        with open(os.path.join(path, rel), "w") as f:
            f.write(data)
    return path


def _rows(svc, student):
    return [r for r in svc.state.jobs() if r["student"] == student]


# ---- 1. 冒充别的学生 ---------------------------------------------------------------------------------
@pytest.mark.xfail(reason="漏洞/hole: 服务只按 inbound 文件夹名里的学号认人（service.py _candidates，"
                          "name.rsplit('+', 3)），不核对文件夹的属主；交换目录 inbound/ 对所有学生可写，"
                          "mallory 以 victim 的名义交两次，victim 自己的提交就超出评分次数 / the service trusts the "
                          "student id in the inbound folder name and never checks the folder's owner", **XFAIL)
def test_a_folder_named_for_another_student_is_not_graded_as_theirs(course):
    import pwd

    me = os.stat(course["inbound"]).st_uid  # mallory（跑测试的用户）；victim 不是她
    assert pwd.getpwuid(me).pw_name != "victim"
    # mallory 以 victim 的名义交两份空白 notebook（max_attempts = 2：victim 自己再交就超出次数了）
    _drop(course, "victim+ps1+2024-06-01 10:00:00.000000 UTC+m1")
    _drop(course, "victim+ps1+2024-06-01 10:00:01.000000 UTC+m2")
    svc = _service(course)
    try:
        svc.scan()
        rows = _rows(svc, "victim")
        # 防线：属主不是 victim 的文件夹不算 victim 的提交（nbgrader CollectApp.check_owner 核对的就是这个）
        assert not [r for r in rows if r["status"] in ("queued", "running", "done")], \
            [(r["key"], r["status"]) for r in rows]
    finally:
        svc.state.close()


@pytest.mark.xfail(reason="漏洞/hole: 学号不在成绩库里也收（service.py scan 只查 safe_student_id，apply.write_gradebook "
                          "update_or_create_student 新建学生）：一名学生用换着花样的学号（马甲）交，评分次数的限制就"
                          "不存在了，隐藏测试成了神谕 / unknown student ids are accepted and created: sock-puppet ids "
                          "evade c.GradeService.max_attempts", **XFAIL)
def test_sock_puppet_ids_do_not_multiply_the_attempt_limit(course):
    for i in range(4):  # 每个马甲各交 1 次；max_attempts = 2
        _drop(course, "mallory-alt%d+ps1+2024-06-01 10:00:0%d.000000 UTC+x" % (i, i))
    svc = _service(course)
    try:
        svc.scan()
        graded = [r for r in svc.state.jobs("queued") if r["student"].startswith("mallory-alt")]
        assert len(graded) <= 2, [r["student"] for r in graded]
    finally:
        svc.state.close()


# ---- 2. 提交时间由学生写 --------------------------------------------------------------------------------
@pytest.mark.xfail(reason="漏洞/hole: 提交的先后按学生自己写的 timestamp.txt（service.py _order）排：写成 2099 年的"
                          "提交永远是“最新”的，以后的提交都当作较早的、不计分也不发反馈，submitted/ 也不再更新"
                          "（_collect）；冒充别人时能把对方的成绩永久锁死 / order_ts comes from the student's "
                          "timestamp.txt, a future date pins that submission as the latest forever", **XFAIL)
def test_a_timestamp_from_the_future_does_not_pin_the_latest_submission(course):
    _drop(course, "fiona+ps1+2099-01-01 00:00:00.000000 UTC+f1")
    svc = _service(course)
    try:
        svc.scan()
        (row,) = _rows(svc, "fiona")
        assert row["order_ts"] <= row["discovered"] + 60, (row["order_ts"], row["discovered"])
    finally:
        svc.state.close()


# ---- 3. 名字里的花样 ---------------------------------------------------------------------------------------
ODD = ["..", ".hidden", "-rf", "a*", "b?", "c[1]", "d,e", "tab\tx", "new\nline"]


def test_odd_student_ids_in_inbound_names_are_refused_and_nothing_lands_outside_submitted(course, monkeypatch):
    from course.grading.service import service as service_mod

    for i, sid in enumerate(ODD):
        _drop(course, "%s+ps1+2024-06-01 09:00:0%d.000000 UTC+o" % (sid, i))
    svc = _service(course)
    try:
        svc.scan()
        assert not [r for r in svc.state.jobs() if r["student"] in ODD]
    finally:
        svc.state.close()
    outside = os.path.join(course["root"], A)  # submitted/../ps1
    assert not os.path.exists(outside)
    # 对照：拿掉学号检查，“..” 的提交在 submitted/ 外面建了文件夹（课程根目录下的 ps1/），通配符学号进了队列
    monkeypatch.setattr(service_mod, "safe_student_id", lambda name: True)
    svc = _service(course)
    try:
        svc.scan()
        assert {r["student"] for r in svc.state.jobs()} >= {"..", "a*", "c[1]"}
        assert os.path.isdir(outside)  # 建在 submitted/ 外面（里面的文件 safe_copy 还挡得住，文件夹挡不住）
    finally:
        svc.state.close()
        shutil.rmtree(outside, ignore_errors=True)
    _forget(course, ODD)


def _forget(course, students):
    """把这些学号的提交和记录清掉（后面的测试用同一门课）。"""
    import sqlite3

    db = sqlite3.connect(os.path.join(course["root"], ".grade-service", "state.db"))
    try:
        for sid in students:
            db.execute("DELETE FROM jobs WHERE student = ?", (sid,))
        db.commit()
    finally:
        db.close()
    for path in glob.glob(os.path.join(course["inbound"], "*")):
        if os.path.basename(path).rsplit("+", 3)[0] in students:
            shutil.rmtree(path)


# ---- 4. 符号链接、FIFO、成千上万个文件 ------------------------------------------------------------------------
def test_a_symlink_in_the_submission_does_not_copy_the_instructors_hidden_tests(course, monkeypatch):
    from course.grading.service import service as service_mod

    source = os.path.join(course["root"], "source", A, st.NOTEBOOK + ".ipynb")
    folder = _drop(course, "sam+ps1+2024-06-01 09:30:00.000000 UTC+s")
    os.symlink(source, os.path.join(folder, "answers.ipynb"))
    os.symlink(os.path.dirname(source), os.path.join(folder, "src"))

    def leaked(svc):
        (row,) = _rows(svc, "sam")
        text = ""
        for path in glob.glob(os.path.join(row["archive"], "**", "*"), recursive=True):
            if os.path.isfile(path):
                text += open(path, encoding="utf-8", errors="replace").read()
        return "BEGIN HIDDEN TESTS" in text

    svc = _service(course)
    try:
        svc.scan()
        assert not leaked(svc)
    finally:
        svc.state.close()
    _forget(course, ["sam"])
    folder = _drop(course, "sam+ps1+2024-06-01 09:30:00.000000 UTC+s")
    os.symlink(source, os.path.join(folder, "answers.ipynb"))

    def naive(src, dest, *a, **k):  # 对照：跟随符号链接的复制
        shutil.copytree(src, dest, symlinks=False)
        return []

    monkeypatch.setattr(service_mod, "copy_submission", naive)
    svc = _service(course)
    try:
        svc.scan()
        assert leaked(svc)
    finally:
        svc.state.close()
    _forget(course, ["sam"])


def _scan_in_thread(svc, seconds):
    t = threading.Thread(target=svc.scan, daemon=True)
    t.start()
    t.join(seconds)
    return t


def test_a_fifo_for_submission_secret_does_not_hang_the_service(course, monkeypatch):
    from course.grading.service import service as service_mod

    folder = _drop(course, "fifo+ps1+2024-06-01 09:40:00.000000 UTC+q", secret=None)
    fifo = os.path.join(folder, "submission_secret.txt")
    os.mkfifo(fifo)
    svc = _service(course)
    try:
        t = _scan_in_thread(svc, 20)
        assert not t.is_alive(), "scan 卡在 FIFO 上"
    finally:
        svc.state.close()

    def naive(path, limit=4096):  # 对照：直接 open，不查文件类型
        try:
            with open(path, "rb") as f:
                return f.read(limit).decode("utf-8", "replace").strip()
        except OSError:
            return None

    monkeypatch.setattr(service_mod, "_read_small", naive)
    svc2 = _service(course)
    t = _scan_in_thread(svc2, 3)
    try:
        assert t.is_alive(), "对照：直接 open FIFO 应当卡住"
    finally:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # 放开卡住的读者
        os.close(fd)
        t.join(20)
        svc2.state.close()
    _forget(course, ["fifo"])


def test_thousands_of_files_are_capped_when_the_submission_is_received(course, monkeypatch):
    from course.grading.service import service as service_mod

    def flood():
        folder = _drop(course, "flood+ps1+2024-06-01 09:50:00.000000 UTC+w")
        for i in range(3000):
            open(os.path.join(folder, "f%05d.txt" % i), "w").close()

    def archived(svc):
        (row,) = _rows(svc, "flood")
        return sum(len(files) for _, _, files in os.walk(row["archive"]))

    flood()
    svc = _service(course)
    try:
        svc.scan()
        assert archived(svc) <= 300
    finally:
        svc.state.close()
    _forget(course, ["flood"])
    flood()
    monkeypatch.setattr(service_mod, "copy_submission",
                        lambda src, dest, *a, **k: shutil.copytree(src, dest) and [])  # 对照：不设上限
    svc = _service(course)
    try:
        svc.scan()
        assert archived(svc) > 3000
    finally:
        svc.state.close()
    _forget(course, ["flood"])


# ---- 5. 结果：路径和分数 -------------------------------------------------------------------------------------
def test_result_file_names_cannot_write_outside_the_students_autograded_folder(course, monkeypatch):
    from course.grading.service import apply, bundle

    autograded = os.path.join(course["base"], "ag")
    victim = os.path.join(autograded, "victim", A)
    os.makedirs(victim)
    with open(os.path.join(victim, "layers.ipynb"), "w") as f:
        f.write("victim")
    payload = {"../../victim/%s/pwned.txt" % A: base64.b64encode(b"x").decode()}
    with pytest.raises(bundle.BundleError):
        apply.write_autograded(autograded, "mallory", A, payload)
    assert not os.path.exists(os.path.join(victim, "pwned.txt"))
    # 对照：不查相对路径
    monkeypatch.setattr(bundle, "_check_rel", lambda rel: rel.split("/"))
    apply.write_autograded(autograded, "mallory", A, payload)
    assert os.path.exists(os.path.join(victim, "pwned.txt"))


def _forged_result(score):
    grades = [{"name": name, "auto_score": score, "max_score": 1e6, "needs_manual_grade": False, "cell_type": "code"}
              for name in st.POINTS]
    return {"graded": True, "timestamp": None, "files": {}, "reports": [], "log": "", "seconds": {},
            "notebooks": [{"name": st.NOTEBOOK, "late_submission_penalty": None, "grades": grades, "comments": []}]}


@pytest.mark.xfail(reason="漏洞/hole: apply.write_gradebook 照抄结果里的 auto_score，不按成绩库里的满分截断，满分也取"
                          "结果里的 max_score：一份伪造（或被攻破的工人送回）的结果能给出 1000 分 / write_gradebook "
                          "stores auto_score unbounded by the gradebook's max_score", **XFAIL)
def test_a_result_cannot_score_above_the_cells_maximum(course):
    from course.grading.service import apply

    url = "sqlite:///" + os.path.join(course["root"], "gradebook.db")
    score, maximum = apply.write_gradebook(url, COURSE_ID, A, "greedy", _forged_result(1000))
    got = st.scores(course["root"], "greedy")
    assert all(got[k] <= v for k, v in st.POINTS.items()), got
    assert maximum == sum(st.POINTS.values()), maximum


# ---- 6. Redis：伪造结果、伪造任务 -------------------------------------------------------------------------------
def _celery():
    pytest.importorskip("celery")
    pytest.importorskip("redis")
    from redis_helpers import redis_server

    return redis_server


@pytest.mark.xfail(reason="漏洞/hole: 任务 id 可以算出来（service.job_id_for = sha256(课程, 学号, 作业, 提交时间)，学生都知道），"
                          "服务收 Redis 里 celery-task-meta-<id> 的任何结果（celery_app._collect/_outcome），不验签名："
                          "连得上 Redis 的学生（单机部署、Redis 没有密码时每个本机用户都连得上）给空白 notebook 写进满分 / "
                          "predictable job ids + unauthenticated results in Redis: a student who reaches Redis "
                          "writes their own grade", **XFAIL)
def test_a_result_forged_in_redis_is_not_recorded(course, monkeypatch):
    from course.grading.service import apply
    from course.grading.service.service import job_id_for

    redis_server = _celery()
    import redis as redis_lib

    from course.grading.service.celery_app import CeleryTransport

    monkeypatch.setattr(apply, "release_feedback", lambda *a, **k: (True, ""))
    stamp = "2024-06-01 08:00:00.000000 UTC"
    _drop(course, "forger+ps1+%s+r" % stamp)  # 空白 notebook：老实评是 0 分
    with redis_server() as server:
        transport = CeleryTransport(server.url)  # 没有工人：任务只会停在队列里
        svc = _service(course, transport)
        try:
            svc.scan()
            svc.dispatch()
            # 学生一侧：算出自己的任务 id，直接写结果（不需要任何秘密）
            job_id = job_id_for(COURSE_ID, "forger", A, "ts:" + stamp)
            outcome = {"ok": True, "result": dict(_forged_result(5), job_id=job_id)}
            meta = {"status": "SUCCESS", "result": outcome, "traceback": None, "children": [], "task_id": job_id,
                    "date_done": "2024-06-01T08:00:01"}
            redis_lib.Redis.from_url(server.url).set("celery-task-meta-" + job_id, json.dumps(meta))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not svc.collect_results(0.5):
                pass
            svc._finish_feedback(wait=True)
        finally:
            svc._pool.shutdown(wait=True)
            svc.state.close()
            transport.close()
    assert sum(st.scores(course["root"], "forger").values()) == 0, st.scores(course["root"], "forger")


@pytest.mark.xfail(reason="漏洞/hole: 工人执行任何连得上 Redis 的人发来的任务；作业包里的 nbgrader_config.py 在沙箱外、"
                          "以工人的身份当 Python 运行（jobs._prepare 在包的文件夹里运行 nbgrader generate_assignment）："
                          "Redis = 工人机器上的任意代码（读所有作业包的隐藏测试、伪造任何学生的结果） / a task from "
                          "anyone who reaches Redis runs its bundle's nbgrader_config.py unsandboxed on the worker",
                   **XFAIL)
def test_a_job_forged_in_redis_cannot_run_code_on_the_worker(course, tmp_path):
    redis_server = _celery()
    from course.grading.service.celery_app import QUEUE, TASK_NAME, make_app

    mark = str(tmp_path / "pwned-by-forged-job")
    config = "open(%r, 'w').write('code ran on the worker, outside the sandbox')\n" % mark
    job = {"id": "forged-job-1", "student": "mallory", "assignment": "x1", "key": "", "order": 0,
           "bundle": {"hash": "f0rged1", "assignment": "x1", "course_id": COURSE_ID, "duedate": None,
                      "files": {"nbgrader_config.py": base64.b64encode(config.encode()).decode()}},
           "submission": {}}
    with redis_server() as server:
        log = open(tmp_path / "worker.log", "w")
        worker = subprocess.Popen(
            [sys.executable, "-m", "course", "grade-worker", "--broker", server.url, "--concurrency", "1",
             "--cache", str(tmp_path / "cache")], env=_env(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        try:
            app = make_app(server.url)
            res = app.send_task(TASK_NAME, args=[job], task_id=job["id"], queue=QUEUE)  # 学生一侧：一个 Redis 客户端就够
            deadline = time.monotonic() + 180
            while not res.ready():
                if time.monotonic() > deadline or worker.poll() is not None:
                    raise RuntimeError("工人没有处理任务：%s" % (tmp_path / "worker.log").read_text()[-2000:])
                time.sleep(0.5)
            app.close()
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
            log.close()
    assert not os.path.exists(mark), open(mark).read()


# ---- 7. 评分内核里的学生代码：工人的缓存、别的任务、服务的记录、进程的环境、网络 ---------------------------------------
PROBE = r'''
import json as _j, os as _os, glob as _g, socket as _s
_res = {}
def _try(name, fn):
    try:
        _res[name] = 'OK ' + str(fn())[:60]
    except BaseException as e:
        _res[name] = 'FAIL ' + type(e).__name__
def _hidden():
    _t = open(_g.glob(CACHE + '/bundles/*/source/ps1/layers.ipynb')[0]).read()
    assert 'BEGIN HIDDEN TESTS' in _t
    return len(_t)
def _jobs():
    _t = open(_g.glob(CACHE + '/jobs/other-*/submitted/alice/ps1/layers.ipynb')[0]).read()
    assert 'ALICE' in _t
    return _t
def _proc():
    for _p in _g.glob('/proc/[0-9]*/environ'):
        try:
            if MARK.encode() in open(_p, 'rb').read():
                return _p
        except OSError:
            pass
    raise LookupError
_try('bundle_hidden_tests', _hidden)
_try('template_gradebook', lambda: open(_g.glob(CACHE + '/bundles/*/gradebook.db')[0], 'rb').read(16))
_try('other_jobs', _jobs)
_try('state_db', lambda: open(COURSE + '/.grade-service/state.db', 'rb').read(16))
_try('archive', lambda: _os.listdir(COURSE + '/.grade-service/submissions'))
_try('course_source', lambda: open(COURSE + '/source/ps1/layers.ipynb').read(16))
_try('service_env', _proc)
_try('redis_port', lambda: _s.create_connection(('127.0.0.1', PORT), timeout=3).close())
_try('write_cache', lambda: open(CACHE + '/bundles/pwned.txt', 'w').write('x'))
print('PROBE ' + _j.dumps(_res, sort_keys=True))
'''


def _probe_run(course, student, cache, port, mark, **env):
    code = "CACHE, COURSE, PORT, MARK = %r, %r, %d, %r\n" % (cache, course["root"], port, mark) + PROBE
    nb = st.answer(copy.deepcopy(course["release"]), prefix={"mul_forward": code})
    _drop(course, "%s+ps1+2024-06-01 07:00:00.000000 UTC+p" % student, nb)
    res = subprocess.run([sys.executable, "-m", "course", "grade-service", "--once", "--course", course["root"],
                          "--cache", cache], env=_env(COURSE_REDTEAM_SECRET=mark, **env), capture_output=True,
                         text=True, timeout=900)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    nb, _ = st.autograded(course["root"], student)
    line = [x for x in st.outputs_text(st.find_cell(nb, "mul_forward")).splitlines() if x.startswith("PROBE ")]
    assert line, st.outputs_text(st.find_cell(nb, "mul_forward"))[-2000:]
    return json.loads(line[0][6:])


def _forget_all(course):
    """前面的测试留下的提交全部清掉：--once 只评这个测试自己的提交。"""
    import sqlite3

    path = os.path.join(course["root"], ".grade-service", "state.db")
    db = sqlite3.connect(path) if os.path.exists(path) else None
    try:
        db and db.execute("DELETE FROM jobs")
        db and db.execute("DELETE FROM latest")
        db and db.commit()
    finally:
        db and db.close()
    for path in glob.glob(os.path.join(course["inbound"], "*")):
        shutil.rmtree(path)
    shutil.rmtree(os.path.join(course["root"], "submitted"), ignore_errors=True)


def test_student_code_in_the_grading_kernel_reaches_nothing_of_the_worker_or_the_service(course):
    _forget_all(course)
    # 工人的缓存放在默认的位置（~/.cache 下），不在沙箱本来就盖住的 /tmp 里
    cache = tempfile.mkdtemp(prefix="course-grading-redteam-", dir=os.path.expanduser("~/.cache"))
    listener = socket.socket()  # 冒充 127.0.0.1 上的 Redis
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    mark = "redis://:hunter2-%d@127.0.0.1:%d/0" % (os.getpid(), port)
    other = os.path.join(cache, "jobs", "other-abc123", "submitted", "alice", A)  # 同时在评的另一份提交
    os.makedirs(other)
    with open(os.path.join(other, st.NOTEBOOK + ".ipynb"), "w") as f:
        f.write("ALICE'S WORK")
    try:
        sandboxed = _probe_run(course, "probe-on", cache, port, mark)
        assert all(v.startswith("FAIL") for v in sandboxed.values()), sandboxed
        # 对照：沙箱关掉（COURSE_GRADING_SANDBOX=off），同样的代码读到作业包里的隐藏测试、工人的临时课程、
        # 服务进程的环境变量（Redis 的密码），连得上 Redis 的端口，写得进工人的缓存
        open_run = _probe_run(course, "probe-off", cache, port, mark, COURSE_GRADING_SANDBOX="off")
        for key in ("bundle_hidden_tests", "template_gradebook", "other_jobs", "state_db", "archive", "service_env",
                    "redis_port", "write_cache", "course_source"):
            assert open_run[key].startswith("OK"), (key, open_run)
    finally:
        listener.close()
        from course.grading.service.jobs import _rmtree

        _rmtree(cache)
