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
from course.tools.procs import stop_group

A = st.ASSIGNMENT
COURSE_ID = "backprop-zh"
NOW_STAMP = "2024-06-01 12:00:00.000000 UTC"
KEY = "5eb3c0ffee" * 7  # 服务和工人共有的签名密钥（测试用）
# 教师导入的学生名单（服务只收成绩库里有的学生）；mallory 的马甲不在里面
ROSTER = ["victim", "nobody", "fiona", "sam", "fifo", "flood", "forger", "probe-on", "probe-on2", "probe-on3",
          "probe-off", "probe-off2", "flooder", "alice",
          "bob"]


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
    roster = os.path.join(base, "roster.csv")
    with open(roster, "w") as f:
        f.write("id\n" + "\n".join(ROSTER) + "\n")
    res = st.run_nbgrader(root, "db", "student", "import", roster, env={"COURSE_DB_URL": "sqlite:///" + os.path.join(
        root, "gradebook.db")})
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
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


def _scanned(course, look):
    """新起一个服务（不派任务）扫一遍交换目录，返回 look(服务)。"""
    svc = _service(course)
    try:
        svc.scan()
        return look(svc)
    finally:
        svc.state.close()


def _rows(svc, student):
    return [r for r in svc.state.jobs() if r["student"] == student]


def _forget_rows(course, students):
    """只清掉这些学号在服务里的记录（提交文件夹留着）：对照组再扫一遍时它们算新提交。"""
    import sqlite3

    db = sqlite3.connect(os.path.join(course["root"], ".grade-service", "state.db"))
    try:
        db.executemany("DELETE FROM jobs WHERE student = ?", [(sid,) for sid in students])
        db.commit()
    finally:
        db.close()


def _chown_tree(path, uid, gid):
    for dirpath, _, names in os.walk(path):
        os.chown(dirpath, uid, gid)
        for name in names:
            os.chown(os.path.join(dirpath, name), uid, gid)


# ---- 1. 冒充别的学生 ---------------------------------------------------------------------------------
def test_a_folder_named_for_another_student_is_not_graded_as_theirs(course):
    """mallory（这里是 unix 账户 nobody）在 inbound 里以 victim 的名义交两份：属主不是 victim，不收，也不占 victim
    的评分次数；属主是学生本人的（nobody 交自己的）照收。对照：c.GradeService.check_owner = False 时照单全收。"""
    import pwd

    if os.geteuid() != 0:
        pytest.skip("要以 root 运行：把 mallory 的文件夹交给另一个 unix 账户（chown）")
    mallory = pwd.getpwnam("nobody")
    assert mallory.pw_name != "victim" and mallory.pw_uid != os.geteuid()
    forged = [_drop(course, "victim+ps1+2024-06-01 10:00:00.000000 UTC+m1"),
              _drop(course, "victim+ps1+2024-06-01 10:00:01.000000 UTC+m2")]
    honest = _drop(course, "nobody+ps1+2024-06-01 10:00:02.000000 UTC+n1")  # nobody 交自己的
    for path in forged + [honest]:
        _chown_tree(path, mallory.pw_uid, mallory.pw_gid)
    svc = _service(course)
    try:
        assert svc.policy.check_owner is True  # 默认开
        svc.scan()
        rows = _rows(svc, "victim")
        # 防线：属主不是 victim 的文件夹不算 victim 的提交（nbgrader CollectApp.check_owner 核对的就是这个）
        assert not [r for r in rows if r["status"] in ("queued", "running", "done")], \
            [(r["key"], r["status"]) for r in rows]
        assert [r["status"] for r in rows] == ["refused", "refused"], rows
        assert all("属主是 nobody，不是 victim" in r["error"] for r in rows), rows
        assert svc.state.attempts_since("victim", A, 0) == 0  # 没有占 victim 的评分次数
        assert [r["status"] for r in _rows(svc, "nobody")] == ["queued"]  # 自己交的照收
        assert all(os.path.isdir(p) for p in forged)  # 不收的提交原样留着，教师看得到
    finally:
        svc.state.close()
    status = subprocess.run([sys.executable, "-m", "course", "grade-status", "--course", course["root"]],
                            env=_env(), capture_output=True, text=True, timeout=120)
    assert "不收 2 份" in status.stdout and "不是 victim" in status.stdout, status.stdout
    # 对照：不查属主，两份冒名的提交都排上了队，victim 自己再交就超出次数了
    _forget_rows(course, ["victim", "nobody"])
    svc = _service(course)
    svc.policy.check_owner = False
    try:
        svc.scan()
        assert [r["status"] for r in _rows(svc, "victim")] == ["queued", "queued"]
    finally:
        svc.state.close()
    _forget(course, ["victim", "nobody"])


def test_a_folder_owned_by_the_services_own_account_is_accepted(course):
    """单账户的部署（本机测试用的 Hub：所有用户共用服务的 unix 账户）：属主分不出学生，照收——这种部署挡不住
    冒名（README 里写明了）。"""
    path = _drop(course, "victim+ps1+2024-06-01 10:01:00.000000 UTC+s1")
    assert os.lstat(path).st_uid == os.geteuid()
    svc = _service(course)
    try:
        svc.scan()
        assert [r["status"] for r in _rows(svc, "victim")] == ["queued"]
    finally:
        svc.state.close()
    _forget(course, ["victim"])


def test_sock_puppet_ids_do_not_multiply_the_attempt_limit(course):
    for i in range(4):  # 每个马甲各交 1 次；max_attempts = 2
        _drop(course, "mallory-alt%d+ps1+2024-06-01 10:00:0%d.000000 UTC+x" % (i, i))
    svc = _service(course)
    try:
        assert svc.policy.known_students_only is True  # 默认开
        svc.scan()
        graded = [r for r in svc.state.jobs("queued") if r["student"].startswith("mallory-alt")]
        assert len(graded) <= 2, [r["student"] for r in graded]
        refused = [r for r in svc.state.jobs("refused") if r["student"].startswith("mallory-alt")]
        assert len(refused) == 4 and all("不在成绩库的学生名单里" in r["error"] for r in refused), refused
    finally:
        svc.state.close()
    # 对照：不查名单，4 个马甲都排上了队（每个学号各有 2 次）
    puppets = ["mallory-alt%d" % i for i in range(4)]
    _forget_rows(course, puppets)
    svc = _service(course)
    svc.policy.known_students_only = False
    try:
        svc.scan()
        assert len([r for r in svc.state.jobs("queued") if r["student"] in puppets]) == 4
    finally:
        svc.state.close()
    _forget(course, puppets)


def test_a_refused_submission_is_received_once_the_instructor_adds_the_student(course):
    """学号不在名单上的提交不收；教师把这名学生补进成绩库以后，服务下次查看就收下同一份提交（学生不用重交），
    而且只收这一次。"""
    from nbgrader.api import Gradebook

    _drop(course, "latecomer+ps1+2024-06-01 11:00:00.000000 UTC+l")
    lines = []
    svc = _service(course)
    svc.echo = lines.append
    try:
        svc.scan()
        svc.scan()
        (row,) = _rows(svc, "latecomer")
        assert row["status"] == "refused" and "学生不用重交" in row["error"]
        assert len([x for x in lines if x.startswith("不收")]) == 1  # 再看一遍也只说一次
        with Gradebook("sqlite:///" + os.path.join(course["root"], "gradebook.db"), COURSE_ID) as gb:
            gb.add_student("latecomer")
        assert svc.scan() == 1
        (row,) = _rows(svc, "latecomer")
        assert row["status"] == "queued" and row["error"] is None
        assert any("现在可以收了" in x for x in lines)
        assert svc.scan() == 0 and len(_rows(svc, "latecomer")) == 1
    finally:
        svc.state.close()
        with Gradebook("sqlite:///" + os.path.join(course["root"], "gradebook.db"), COURSE_ID) as gb:
            gb.remove_student("latecomer")
    _forget(course, ["latecomer"])


class _Holding:
    """记下派发的任务，从不交回结果（看服务同时派出几个、先派谁）。"""

    restarts = 0

    def __init__(self):
        self.jobs = []

    def submit(self, job):
        self.jobs.append(job)

    def poll(self, timeout):
        return []

    def pending(self):
        return len(self.jobs)

    def close(self):
        pass


def test_one_students_flood_neither_delays_others_nor_is_read_into_memory_at_once(course, monkeypatch):
    """flooder 先交 6 份（次数限制这里放开），随后 alice 和 bob 各交 1 份。同时只派 in_flight = 2 份，按学生轮流：
    alice 不用等 flooder 的 6 份评完；其余的留在队列里，存档到派发时才读。对照：按发现的先后派（不轮流），
    头两份都是 flooder 的；不设上限时 8 份存档一下全读进内存、全交出去。"""
    from course.grading.service import service as service_mod

    reads = []
    real_read = service_mod.read_folder
    monkeypatch.setattr(service_mod, "read_folder", lambda path, **k: reads.append(path) or real_read(path, **k))

    def dispatched(in_flight):
        _forget_all(course)
        reads.clear()
        transport = _Holding()
        svc = _service(course, transport)
        svc.in_flight = in_flight
        svc.policy.max_attempts = 0
        try:
            for i in range(6):
                _drop(course, "flooder+ps1+2024-06-01 11:00:0%d.000000 UTC+f%d" % (i, i))
            svc.scan()  # flooder 的 6 份先到
            _drop(course, "alice+ps1+2024-06-01 11:00:30.000000 UTC+a")
            _drop(course, "bob+ps1+2024-06-01 11:00:40.000000 UTC+b")
            svc.scan()
            svc.dispatch()
            return [j["student"] for j in transport.jobs]
        finally:
            svc.state.close()

    assert dispatched(2) == ["flooder", "alice"]  # 第二份就轮到别的学生
    assert len(reads) == 2  # 只读了派出去的两份存档
    # 对照 1：不轮流（按发现的先后），头两份都是 flooder 的
    with monkeypatch.context() as m:
        m.setattr(service_mod, "fair_order", lambda rows, last: sorted(rows, key=lambda r: (r["discovered"], r["id"])))
        assert dispatched(2) == ["flooder", "flooder"]
    # 对照 2：不设上限，排队的 8 份存档一下全读进来、全交出去
    assert len(dispatched(10 ** 6)) == 8 and len(reads) == 8
    _forget_all(course)


def test_fair_order_takes_turns_by_student_and_least_recently_served_first():
    from course.grading.service.admission import fair_order

    rows = [{"id": "m%d" % i, "student": "m", "discovered": i} for i in range(4)] + \
        [{"id": "a0", "student": "a", "discovered": 10}, {"id": "b0", "student": "b", "discovered": 11},
         {"id": "a1", "student": "a", "discovered": 12}]
    assert [r["id"] for r in fair_order(rows, {})] == ["m0", "a0", "b0", "m1", "a1", "m2", "m3"]
    # m 刚派过一份：这次先轮到 a 和 b
    assert [r["id"] for r in fair_order(rows, {"m": 5})] == ["a0", "b0", "m0", "a1", "m1", "m2", "m3"]


# ---- 2. 提交时间由学生写 --------------------------------------------------------------------------------
def test_a_timestamp_from_the_future_does_not_pin_the_latest_submission(course, monkeypatch):
    """先后按 min(学生写的时间, 服务发现它的时间) 排。对照：只信 timestamp.txt 时，2099 年的提交排在一切之后。"""
    from course.grading.service import service as service_mod

    _drop(course, "fiona+ps1+2099-01-01 00:00:00.000000 UTC+f1")
    svc = _service(course)
    try:
        svc.scan()
        (row,) = _rows(svc, "fiona")
        assert row["order_ts"] <= row["discovered"] + 60, (row["order_ts"], row["discovered"])
    finally:
        svc.state.close()
    _forget_rows(course, ["fiona"])

    def trusting(stamp, now):  # 对照：照抄学生写的时间
        from nbgrader.utils import parse_utc

        return parse_utc(stamp).timestamp() if stamp else now

    monkeypatch.setattr(service_mod, "order_for", trusting)
    svc = _service(course)
    try:
        svc.scan()
        (row,) = _rows(svc, "fiona")
        assert row["order_ts"] > row["discovered"] + 365 * 24 * 3600
    finally:
        svc.state.close()
    _forget(course, ["fiona"])


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
    svc.policy.known_students_only = False  # 名单也挡得住这些学号：对照里一起拿掉
    try:
        svc.scan()
        assert {r["student"] for r in svc.state.jobs("queued")} >= {"..", "a*", "c[1]"}
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
    for sid in students:  # 服务收下时放进 submitted/ 的那一份
        if sid not in ("..", ".hidden") and "/" not in sid:
            shutil.rmtree(os.path.join(course["root"], "submitted", sid), ignore_errors=True)


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

    assert not _scanned(course, leaked)
    _forget(course, ["sam"])
    folder = _drop(course, "sam+ps1+2024-06-01 09:30:00.000000 UTC+s")
    os.symlink(source, os.path.join(folder, "answers.ipynb"))

    def naive(src, dest, *a, **k):  # 对照：跟随符号链接的复制
        shutil.copytree(src, dest, symlinks=False)
        return []

    monkeypatch.setattr(service_mod, "copy_submission", naive)
    assert _scanned(course, leaked)
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


def test_submitting_over_and_over_past_the_limit_does_not_fill_the_services_disk(course, monkeypatch):
    """超出评分次数以后不停地交（每份带 1 MB 的附带文件）：每份都收下、记下、给学生放说明页，全文都还在 inbound/；
    服务另存全文的只有前 OVER_LIMIT_KEEP 份，其余只存两个小文件。对照：不设上限时另存的全文随份数一起长。"""
    from course.grading.service import service as service_mod

    big = {"data.bin": "x" * 2 ** 20}

    def flood(n, start):
        for i in range(n):
            _drop(course, "fiona+ps1+2024-06-02 %02d:00:00.000000 UTC+o%d" % (start + i, i), extra=big)

    def archived(svc):
        rows = [r for r in _rows(svc, "fiona") if r["status"] == "over-limit"]
        size = sum(os.path.getsize(os.path.join(d, f)) for r in rows for d, _, fs in os.walk(r["archive"]) for f in fs)
        return rows, size

    _forget(course, ["fiona"])
    flood(12, 0)  # 前 2 份排队（max_attempts = 2），其余 10 份超出次数
    rows, size = _scanned(course, archived)
    assert len(rows) == 10 and all(r["released"] for r in rows)  # 每一份都给学生放了说明页
    assert size < (service_mod.OVER_LIMIT_KEEP + 0.5) * 2 ** 20, size
    light = [r for r in rows if not os.path.exists(os.path.join(r["archive"], "data.bin"))]
    assert len(light) == 10 - service_mod.OVER_LIMIT_KEEP
    assert all("全文留在" in r["error"] and os.path.isdir(r["error"].rsplit("全文留在 ", 1)[1]) for r in light)
    assert len(glob.glob(os.path.join(course["inbound"], "fiona+*"))) == 12  # 什么都没丢
    _forget(course, ["fiona"])
    monkeypatch.setattr(service_mod, "OVER_LIMIT_KEEP", 10 ** 9)  # 对照：每份超出次数的提交都另存全文
    flood(12, 0)
    rows, size = _scanned(course, archived)
    assert len(rows) == 10 and size > 10 * 2 ** 20
    _forget(course, ["fiona"])


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


def _recorded(course, student):
    """成绩库里这名学生 ps1 的分数；没有提交记录时 None。"""
    from nbgrader.api import MissingEntry

    try:
        return st.scores(course["root"], student)
    except MissingEntry:
        return None


def _forged_result(score):
    grades = [{"name": name, "auto_score": score, "max_score": 1e6, "needs_manual_grade": False, "cell_type": "code"}
              for name in st.POINTS]
    return {"graded": True, "timestamp": None, "files": {}, "reports": [], "log": "", "seconds": {},
            "notebooks": [{"name": st.NOTEBOOK, "late_submission_penalty": None, "grades": grades, "comments": []}]}


def test_a_result_cannot_score_above_the_cells_maximum(course, monkeypatch):
    """满分取成绩库里的；超出 [0, 满分] 的截断、不是数的记 0，都标成要人工评并告诉教师。对照：不检查时 1000 分
    照写进成绩库。"""
    from nbgrader.api import Gradebook

    from course.grading.service import apply

    url = "sqlite:///" + os.path.join(course["root"], "gradebook.db")
    notes = []
    score, maximum, _ = apply.write_gradebook(url, COURSE_ID, A, "greedy", _forged_result(1000), notes=notes)
    got = st.scores(course["root"], "greedy")
    assert all(got[k] <= v for k, v in st.POINTS.items()), got
    assert maximum == sum(st.POINTS.values()), maximum
    assert score == maximum and len(notes) == len(st.POINTS) and "超出 0 到" in notes[0], notes
    with Gradebook(url, COURSE_ID) as gb:
        assert all(g.needs_manual_grade for g in gb.find_submission_notebook(st.NOTEBOOK, A, "greedy").grades)
    notes = []
    apply.write_gradebook(url, COURSE_ID, A, "greedy", _forged_result(float("nan")), notes=notes)
    assert st.scores(course["root"], "greedy") == {k: 0.0 for k in st.POINTS} and "NaN" in notes[0], notes
    apply.write_gradebook(url, COURSE_ID, A, "greedy", _forged_result(-5), notes=notes)
    assert st.scores(course["root"], "greedy") == {k: 0.0 for k in st.POINTS}
    # 对照：不检查分数
    monkeypatch.setattr(apply, "_bounded", lambda value, top: (value, None))
    apply.write_gradebook(url, COURSE_ID, A, "greedy", _forged_result(1000))
    assert all(v == 1000 for v in st.scores(course["root"], "greedy").values())


# ---- 6. Redis：伪造结果、伪造任务 -------------------------------------------------------------------------------
def _celery():
    pytest.importorskip("celery")
    pytest.importorskip("redis")
    from redis_helpers import redis_server

    return redis_server


def test_a_result_forged_in_redis_is_not_recorded(course, monkeypatch):
    """连得上 Redis 的学生算出自己的任务 id，在结果存放处写一份满分：结果没有工人的签名（signing.py），服务不用它。
    对照：不验签名时，这份伪造的结果记进了成绩库。"""
    from course.grading.service import apply, signing
    from course.grading.service.service import job_id_for

    redis_server = _celery()
    import redis as redis_lib

    from course.grading.service.celery_app import CeleryTransport

    monkeypatch.setattr(apply, "release_feedback", lambda *a, **k: (True, ""))
    stamp = "2024-06-01 08:00:00.000000 UTC"
    _drop(course, "forger+ps1+%s+r" % stamp)  # 空白 notebook：老实评是 0 分

    def forge(server):
        warnings = []
        transport = CeleryTransport(server.url, key=KEY.encode(), warn=warnings.append)  # 没有工人：任务停在队列里
        svc = _service(course, transport)
        try:
            svc.scan()
            svc.dispatch()
            # 学生一侧：算出自己的任务 id，直接写结果（没有密钥）
            job_id = job_id_for(COURSE_ID, "forger", A, "ts:" + stamp)
            outcome = {"ok": True, "result": dict(_forged_result(5), job_id=job_id), "sig": "0" * 64}
            meta = {"status": "SUCCESS", "result": outcome, "traceback": None, "children": [], "task_id": job_id,
                    "date_done": "2024-06-01T08:00:01"}
            redis_lib.Redis.from_url(server.url).set("celery-task-meta-" + job_id, json.dumps(meta))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not svc.collect_results(0.5) and not transport.refused:
                pass
            svc._finish_feedback(wait=True)
            return transport.refused, warnings
        finally:
            svc._pool.shutdown(wait=True)
            svc.state.close()
            transport.close()

    with redis_server() as server:
        refused, warnings = forge(server)
        assert refused == 1 and "签名不对" in warnings[0], warnings
        assert _recorded(course, "forger") is None  # 成绩库里没有这份提交的任何分数
        # 对照：不验结果的签名，伪造的结果记进成绩库（每个单元截到满分：分数的防线另外管着）
        monkeypatch.setattr(signing, "verify_result", lambda key, job, outcome: True)
        forge(server)
    assert st.scores(course["root"], "forger") == {k: float(v) for k, v in st.POINTS.items()}


def test_a_job_forged_in_redis_cannot_run_code_on_the_worker(course, tmp_path):
    """一个 Redis 客户端就能往队列里放任务：工人先验签名（signing.py），不对就不碰任务（不展开作业包、不运行
    它的 nbgrader_config.py）。对照：同一个任务用密钥签过名（等于拿掉这道防线），包里的代码在工人上运行了。"""
    redis_server = _celery()
    from course.grading.service import signing
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
             "--cache", str(tmp_path / "cache")], env=_env(COURSE_GRADE_KEY=KEY), stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)

        def send(task):
            res = app.send_task(TASK_NAME, args=[task], task_id=task["id"], queue=QUEUE)
            deadline = time.monotonic() + 180
            while not res.ready():
                if time.monotonic() > deadline or worker.poll() is not None:
                    raise RuntimeError("工人没有处理任务：%s" % (tmp_path / "worker.log").read_text()[-2000:])
                time.sleep(0.5)
            return res.get(propagate=False)

        try:
            app = make_app(server.url)
            got = send(job)  # 学生一侧：一个 Redis 客户端就够，但没有密钥
            assert got["ok"] is False and "签名不对" in got["error"] and "sig" not in got, got
            assert not os.path.exists(mark), open(mark).read()
            assert not os.path.exists(tmp_path / "cache" / "bundles" / "f0rged1")  # 作业包没有展开
            signed = signing.sign_job(KEY.encode(), dict(job, id="forged-job-2"))  # 对照：有密钥的人发的
            send(signed)
            assert os.path.exists(mark)
            app.close()
        finally:
            stop_group(worker)
            log.close()


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
def _own_hidden():  # nbgrader 整理好、正要运行的这份 notebook（测试单元已换成含隐藏测试的原版）
    for _p in _g.glob('*.ipynb') + _g.glob('../*/*.ipynb') + _g.glob('../*/*/*.ipynb'):
        try:
            if 'BEGIN HIDDEN TESTS' in open(_p).read():
                return _p
        except OSError:
            pass
    raise LookupError
_try('own_hidden_tests', _own_hidden)
import builtins as _b
def _leftover():  # 上一份提交留在内核里的东西（一个内核从不运行两份提交）
    _seen = [getattr(_b, '_redteam_mark', None), _os.path.exists('/tmp/redteam-mark')]
    _b._redteam_mark = True
    open('/tmp/redteam-mark', 'w').write('x')
    assert any(_seen)
    return _seen
_try('previous_submission', _leftover)
print('PROBE ' + _j.dumps(_res, sort_keys=True))
try:  # 在 notebook 的名字上放一个文件夹：评好的 notebook 照样写得进去（下面读得到这一行输出）
    _os.makedirs('layers.ipynb/x')
except OSError:
    pass
'''


def _probe_run(course, students, cache, port, mark, **env):
    """每名学生交一份带 PROBE 的 notebook，一次 grade-service --once（一个工人：第一份之后的都在工人预先启动的
    内核里评）。返回 {学生: (PROBE 的结果, 评分报告里的内核)}。"""
    code = "CACHE, COURSE, PORT, MARK = %r, %r, %d, %r\n" % (cache, course["root"], port, mark) + PROBE
    nb = st.answer(copy.deepcopy(course["release"]), prefix={"mul_forward": code})
    for student in students:
        _drop(course, "%s+ps1+2024-06-01 07:00:00.000000 UTC+p" % student, nb)
    res = subprocess.run([sys.executable, "-m", "course", "grade-service", "--once", "--course", course["root"],
                          "--cache", cache, "--workers", "1"], env=_env(COURSE_REDTEAM_SECRET=mark, **env),
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    out = {}
    for student in students:
        nb, _ = st.autograded(course["root"], student)
        line = [x for x in st.outputs_text(st.find_cell(nb, "mul_forward")).splitlines() if x.startswith("PROBE ")]
        assert line, st.outputs_text(st.find_cell(nb, "mul_forward"))[-2000:]
        report = os.path.join(course["root"], "autograded", ".grading-reports", A, student, st.NOTEBOOK + ".json")
        with open(report, encoding="utf-8") as f:
            out[student] = (json.loads(line[0][6:]), json.load(f)["kernel"])
    return out


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
        sandboxed = _probe_run(course, ["probe-on", "probe-on2", "probe-on3"], cache, port, mark)
        for student, (probe, _) in sandboxed.items():
            assert all(v.startswith("FAIL") for v in probe.values()), (student, probe)
        # 第一份之后的都在工人预先启动的内核里评（execute/standby.py）：同样什么都碰不到，也看不到上一份留下的东西
        assert sorted(kernel for _, kernel in sandboxed.values()) == ["prestarted", "prestarted", "started"], sandboxed
        # 对照：沙箱关掉（COURSE_GRADING_SANDBOX=off），同样的代码读到作业包里的隐藏测试、工人的临时课程、
        # 服务进程的环境变量（Redis 的密码）、工作文件夹里含隐藏测试的 notebook，连得上 Redis 的端口，写得进工人的缓存；
        # 上一份提交写下的 /tmp/redteam-mark 也看得到（没有沙箱就没有各自的 /tmp）
        if os.path.exists("/tmp/redteam-mark"):
            os.remove("/tmp/redteam-mark")
        open_run = _probe_run(course, ["probe-off", "probe-off2"], cache, port, mark, COURSE_GRADING_SANDBOX="off")
        for key in ("bundle_hidden_tests", "template_gradebook", "other_jobs", "state_db", "archive", "service_env",
                    "redis_port", "write_cache", "course_source", "own_hidden_tests"):
            assert all(probe[key].startswith("OK") for probe, _ in open_run.values()), (key, open_run)
        assert sorted(probe["previous_submission"][:2] for probe, _ in open_run.values()) == ["FA", "OK"], open_run
    finally:
        listener.close()
        if os.path.exists("/tmp/redteam-mark"):
            os.remove("/tmp/redteam-mark")
        from course.grading.service.jobs import _rmtree

        _rmtree(cache)
