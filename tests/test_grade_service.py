"""交上来就评分（issue 25）：python -m course grade-service --once，本机工人进程（不要服务器）。

一门小课（course.grading.batch.selftest 的 ps1），学生经由 nbgrader 的交换目录提交（course.demo.exchange 在进程里
做 nbgrader fetch_assignment / submit 做的事）：alice 全对、bob 的 notebook 是坏的 JSON、mallory 改写检查函数
并且答错、carol 是教师手工放进 submitted/ 的、erin 在服务开始前交了两次。对照组：同一时刻的课程文件夹拷一份，用 nbgrader collect + autograde
批量评分；服务评出的成绩库和它逐个单元相同。然后：学生用 nbgrader fetch_feedback 取回有分数的反馈；--once 再跑
一遍什么都不重评；alice 再交一次（答错一题）：作为新的一次评分、计分的是它（和对照组再批量评一次相同）；
第三次超出 c.GradeService.max_attempts = 2：不评分，学生取回的是中文说明，成绩不变，提交留着；
评分时把工人进程 kill -9：任务交给新工人，每份提交恰好评一次。
"""
import copy
import glob
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

import nbformat
import pytest

from conftest import ROOT
from course.grading.batch import selftest as st

A = st.ASSIGNMENT
ROSTER = ["alice", "bob", "carol", "dave", "erin", "frank", "mallory"]


def dump(db_url, students=None):
    """成绩库里 ps1 的一切：提交时间、迟交扣分、每个单元的分数和评语。"""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(db_url, "backprop-zh") as gb:
        for sub in gb.find_assignment(A).submissions:
            sid = sub.student.id
            if students is not None and sid not in students:
                continue
            out[sid] = (str(sub.timestamp), sub.late_submission_penalty, sub.max_score)
            for nb in sub.notebooks:
                out[(sid, nb.name)] = (nb.late_submission_penalty, nb.max_score)
                for g in nb.grades:
                    out[(sid, nb.name, g.name)] = (g.auto_score, g.manual_score, g.needs_manual_grade, g.max_score,
                                                   g.failed_tests)
                for c in nb.comments:
                    out[(sid, nb.name, "comment", c.name)] = (c.auto_comment, c.manual_comment)
    return out


def _url(root):
    return "sqlite:///" + os.path.join(root, "gradebook.db")


def _env():
    env = dict(os.environ, LANG="C.UTF-8", PYTHONUNBUFFERED="1")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.pop("COURSE_DB_URL", None)
    return env


def _service(root, cache, *extra, wait=True):
    argv = [sys.executable, "-m", "course", "grade-service", "--once", "--course", root, "--cache", cache, *extra]
    if not wait:
        return subprocess.Popen(argv, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(argv, env=_env(), capture_output=True, text=True, timeout=900)


def _rows(root):
    db = sqlite3.connect(os.path.join(root, ".grade-service", "state.db"))
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM jobs ORDER BY discovered")]
    finally:
        db.close()


class Class:
    def __init__(self, base):
        from course.demo.exchange import Exchange

        self.base = base
        self.root = os.path.join(base, "course")
        self.exchange_dir = os.path.join(base, "exchange")
        os.makedirs(self.exchange_dir)
        st.build_course(self.root, str(ROOT / "nbgrader_config.py"),
                        "c.Execute.timeout = 20\nc.Exchange.root = %r\nc.GradeService.max_attempts = 2\n"
                        % self.exchange_dir)
        # 教师导入学生名单（服务只收成绩库里有的学生：c.GradeService.known_students_only）
        roster = os.path.join(base, "roster.csv")
        with open(roster, "w") as f:
            f.write("id\n" + "\n".join(ROSTER) + "\n")
        res = st.run_nbgrader(self.root, "db", "student", "import", roster, env={"COURSE_DB_URL": _url(self.root)})
        assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
        self.xchg = Exchange(self.root, env={"COURSE_DB_URL": _url(self.root)})
        self.xchg.release_assignment(A)
        self.cache = os.path.join(base, "worker-cache")

    def home(self, student):
        return os.path.join(self.base, "home", student)

    def submit(self, student, nb=None, raw=None):
        """学生取回作业、改好、经由交换目录提交（nbgrader fetch_assignment + submit）。"""
        home = self.home(student)
        if not os.path.isdir(self.xchg.folder(home, A)):
            self.xchg.fetch(student, home, A)
        path = os.path.join(self.xchg.folder(home, A), st.NOTEBOOK + ".ipynb")
        if raw is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(raw)
        else:
            nbformat.write(nb, path)
        time.sleep(1.1)  # nbgrader 的提交时间精确到微秒，但同一名学生两次提交的文件夹名要不同
        self.xchg.submit(student, home, A)

    def control(self, name):
        """对照组：课程文件夹此刻的拷贝，用 nbgrader collect --update 和 autograde 批量评分。"""
        folder = os.path.join(self.base, name)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(self.root, folder, symlinks=True,
                        ignore=shutil.ignore_patterns(".grade-service", "autograded", "feedback"))
        with open(os.path.join(folder, "nbgrader_config.py"), "a") as f:
            f.write("\nc.CourseDirectory.root = %r\nc.CourseDirectory.db_url = %r\n" % (folder, _url(folder)))
        for step in (["collect", A, "--update"], ["autograde", A]):
            res = st.run_nbgrader(folder, *step, env={"COURSE_DB_URL": _url(folder)})
            assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
        return folder


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    k = Class(str(tmp_path_factory.mktemp("grade-service")))
    rel = st.release_notebook(k.root)
    k.submit("alice", st.answer(copy.deepcopy(rel)))
    k.submit("bob", raw='{"cells": [ 这不是 JSON')
    hostile = st.answer(copy.deepcopy(rel), {"square_grad": "    return 3 * x"}, prefix={
        "mul_forward": "import course.checks._core as _c\n_c.expect_close = lambda got, *a, **k: got\n"})
    k.submit("mallory", hostile)
    st.submit(k.root, "carol", st.answer(copy.deepcopy(rel), {"mul_forward": "    return x + y"}))
    # erin 交了两次，服务还没开始评：两次同时在两个工人上评，计分的是后一次
    k.submit("erin", st.answer(copy.deepcopy(rel), {"square_grad": "    return x"}))
    k.submit("erin", st.answer(copy.deepcopy(rel)))
    k.first_control = k.control("control-1")
    k.first = _service(k.root, k.cache, "--workers", "2")
    return k


def test_every_submission_is_graded_like_batch_autograde_cell_by_cell(klass):
    out = klass.first.stdout + klass.first.stderr
    assert klass.first.returncode == 0, out[-4000:]
    assert "Traceback" not in out, out[-4000:]
    assert "SAWarning" not in out, out[-4000:]  # nbgrader 加提交时那条无害的警告已滤掉（nbgrader_patches.py）
    got, want = dump(_url(klass.root)), dump(_url(klass.first_control))
    assert {k for k in want if isinstance(k, str)} == {"alice", "bob", "mallory", "carol", "erin"}
    assert got == want
    assert got[("erin", st.NOTEBOOK, "test_square_grad")][0] == 5
    scores = {k[0]: v[0] for k, v in got.items() if isinstance(k, tuple) and len(k) == 3}
    assert got[("alice", st.NOTEBOOK, "test_square_grad")][0] == 5
    assert got[("mallory", st.NOTEBOOK, "test_square_grad")][0] == 0  # 改写检查函数没有用
    assert got[("bob", st.NOTEBOOK, "test_mul_forward")][0] == 0 and scores
    rows = _rows(klass.root)
    assert sorted(r["student"] for r in rows) == ["alice", "bob", "carol", "erin", "erin", "mallory"]
    assert all(r["status"] == "done" and r["applied"] == 1 and r["dispatches"] == 1 for r in rows), rows
    erin = sorted((r for r in rows if r["student"] == "erin"), key=lambda r: r["order_ts"])
    assert [r["score"] for r in erin] == [5, 10] and erin[1]["counted"] == 1
    # 评好的 notebook 和评分报告在课程文件夹里，和 nbgrader autograde 写的位置一样
    assert os.path.isfile(os.path.join(klass.root, "autograded", "alice", A, st.NOTEBOOK + ".ipynb"))
    reports = os.path.join(klass.root, "autograded", ".grading-reports", A)
    assert os.path.isfile(os.path.join(reports, "bob", st.NOTEBOOK + ".json"))
    assert "unreadable" in open(os.path.join(reports, "bob", st.NOTEBOOK + ".json"), encoding="utf-8").read()
    # 工人为下一份提交预先启动内核（execute/standby.py）：上面逐个单元相同的成绩里有在这样的内核里评的
    kernels = {}
    for path in glob.glob(os.path.join(reports, "*", st.NOTEBOOK + ".json")):
        with open(path, encoding="utf-8") as f:
            kernels[path.split(os.sep)[-2]] = json.load(f)["kernel"]
    assert "prestarted" in kernels.values() and set(kernels.values()) <= {"prestarted", "started", ""}, kernels
    assert kernels["bob"] == ""  # 坏的 JSON：没有运行，也就没有内核


def _fetch_feedback(klass, student):
    """学生自己运行 nbgrader fetch_feedback（家目录和缓存是这名学生的）。返回 {提交时间: HTML}。"""
    home = klass.home(student)
    res = st.run_nbgrader(klass.root, "fetch_feedback", A, "--student=%s" % student,
                          "--Exchange.assignment_dir=%s" % home, "--Exchange.cache=%s" % os.path.join(home, ".nbgrader-cache"))
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    out = {}
    for path in glob.glob(os.path.join(home, "backprop-zh", A, "feedback", "*", st.NOTEBOOK + ".html")):
        with open(path, encoding="utf-8") as f:
            out[os.path.basename(os.path.dirname(path))] = f.read()
    return out


def test_students_fetch_their_feedback_with_the_score(klass):
    pages = _fetch_feedback(klass, "alice")
    assert len(pages) == 1
    page = list(pages.values())[0]
    assert "得分：10" in page.replace(" ", "") or "10 / 10" in page, page[:3000]
    assert "BEGIN HIDDEN TESTS" not in page and "_rng" not in page  # 隐藏测试照旧隐去
    mallory = list(_fetch_feedback(klass, "mallory").values())
    assert len(mallory) == 1 and "得分" in mallory[0]
    status = subprocess.run([sys.executable, "-m", "course", "grade-status", "--course", klass.root],
                            env=_env(), capture_output=True, text=True, timeout=120)
    assert status.returncode == 0 and "评好了 6 份" in status.stdout and "从收到提交到反馈发布：中位数" in status.stdout


def test_the_feedback_generated_on_the_worker_is_what_batch_generate_feedback_gives(klass):
    """工人在私有课程里生成的反馈（服务只放好、发布）和在对照组里批量 `nbgrader generate_feedback` 的逐字相同。"""
    res = st.run_nbgrader(klass.first_control, "generate_feedback", A, env={"COURSE_DB_URL": _url(klass.first_control)})
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    compared = 0
    for student in ("alice", "mallory", "carol"):
        name = os.path.join(student, A, st.NOTEBOOK + ".html")
        with open(os.path.join(klass.root, "feedback", name), encoding="utf-8") as f:
            served = f.read()
        with open(os.path.join(klass.first_control, "feedback", name), encoding="utf-8") as f:
            batch = f.read()
        assert served == batch, student
        compared += 1
    assert compared == 3
    row = [r for r in _rows(klass.root) if r["student"] == "alice"][0]
    assert row["released"] and row["released"] - row["graded"] < 3  # 服务只发布，不再自己生成（以前要 4 秒多）


def test_a_forked_command_runs_in_its_folder_and_environment_and_its_process_group_dies_on_timeout(tmp_path):
    import threading

    from course.grading.service import forkrun

    pidfile = tmp_path / "grandchild.pid"

    def command():
        print("cwd=%s var=%s argv=%s" % (os.getcwd(), os.environ.get("FORKRUN_TEST"), sys.argv[1:]), flush=True)
        child = subprocess.Popen(["sleep", "60"])
        pidfile.write_text(str(child.pid))
        time.sleep(60)

    code, out = forkrun.run(str(tmp_path), ["x", "y"], {"FORKRUN_TEST": "是", "PATH": os.environ["PATH"]}, 30,
                            entry=lambda: print("cwd=%s var=%s" % (os.getcwd(), os.environ.get("FORKRUN_TEST"))))
    assert code == 0 and "cwd=%s var=是" % tmp_path in out, out
    assert os.environ.get("FORKRUN_TEST") is None and os.getcwd() != str(tmp_path)  # 工人自己的不变
    code, out = forkrun.run(str(tmp_path), [], {"PATH": os.environ["PATH"]}, 30, entry=lambda: 1 / 0)
    assert code == 1 and "ZeroDivisionError" in out

    alive = []

    def watch():  # 对照：时限到之前，命令起的孙进程确实在运行
        for _ in range(100):
            if pidfile.exists() and pidfile.read_text():
                alive.append(os.path.exists("/proc/%s" % pidfile.read_text()))
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    start = time.monotonic()
    code, out = forkrun.run(str(tmp_path), ["a"], {"FORKRUN_TEST": "1", "PATH": os.environ["PATH"]}, 3, entry=command)
    watcher.join()
    assert code == "timeout" and time.monotonic() - start < 20 and "argv=['a']" in out, out
    assert alive == [True]
    pid = int(pidfile.read_text())
    for _ in range(50):  # killpg 之后 sleep 成了孤儿，由 init 收尸：等它从进程表里消失
        if not os.path.exists("/proc/%d" % pid) or open("/proc/%d/stat" % pid).read().split()[2] == "Z":
            break
        time.sleep(0.1)
    assert not os.path.exists("/proc/%d" % pid) or open("/proc/%d/stat" % pid).read().split()[2] == "Z"


class _StandbyEvents:
    """forkrun 的待命子进程做了什么：准备（prepared 进程号）、收拾（closed 进程号）、运行命令（ran 进程号 目录 …），
    写进一个文件（子进程是 fork 出来的，只能这样告诉测试）。"""

    def __init__(self, path):
        self.path = path

    def note(self, text):
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(text + "\n")

    def prepare(self):
        events = self

        class Prepared:
            def close(self):
                events.note("closed %d" % os.getpid())

        self.note("prepared %d" % os.getpid())
        return Prepared()

    def command(self):
        self.note("ran %d %s %s %s" % (os.getpid(), os.getcwd(), os.environ.get("FORKRUN_TEST"), sys.argv[1:]))

    def __call__(self):
        return self.path.read_text(encoding="utf-8").split("\n")[:-1] if self.path.exists() else []

    def wait_for(self, prefix, count, seconds=4.0):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if sum(e.startswith(prefix) for e in self()) >= count:
                return True
            time.sleep(0.02)
        return False

    def newest(self, prefix):
        return int([e for e in self() if e.startswith(prefix)][-1].split()[1])


def test_a_standby_child_prepares_before_its_command_and_then_runs_it_like_a_forked_one(tmp_path, monkeypatch):
    """forkrun.Standby：待命的子进程先 prepare()，再运行交给它的命令（目录、环境变量、参数都是命令的）；
    同一个键的下一条命令交给它，同时又 fork 一个新的待命；换了键时旧键的待命子进程留着，回到旧键时照样接手
    （后 fork 的待命子进程不拿着它的管道，它马上读到命令）；超过 standby_limit() 份时最久没用的不运行任何命令，
    收拾好就走；待命子进程死了时命令照常 fork 运行。"""
    from course.grading.service import forkrun
    from course.grading.service.standbys import STANDBY_ENV

    monkeypatch.setenv(STANDBY_ENV, "2")
    events = _StandbyEvents(tmp_path / "events.txt")
    prepare, command, newest = events.prepare, events.command, events.newest

    def wait_for(prefix, count):
        assert events.wait_for(prefix, count), events()

    env = {"FORKRUN_TEST": "待命", "PATH": os.environ["PATH"]}
    work = tmp_path / "work"
    work.mkdir()
    try:
        code, out = forkrun.run(str(work), ["1"], env, 30, entry=command, standby=("k1", prepare))
        assert code == 0, out
        wait_for("prepared", 1)
        first = newest("prepared")
        ran = [e for e in events() if e.startswith("ran")]
        assert len(ran) == 1 and int(ran[0].split()[1]) != first  # 第一条没有待命的：照常 fork
        assert forkrun.run(str(work), ["2"], env, 30, entry=command, standby=("k1", prepare))[0] == 0
        ran = [e for e in events() if e.startswith("ran")]
        assert ran[-1] == "ran %d %s 待命 ['2']" % (first, work), events()  # 交给了先准备好的那个
        wait_for("prepared", 2)
        second = newest("prepared")
        assert second != first
        assert forkrun.run(str(work), ["3"], env, 30, entry=command, standby=("k2", prepare))[0] == 0
        wait_for("prepared", 3)
        third = newest("prepared")  # k2 的待命子进程，在 k1 的之后 fork
        assert "closed %d" % second not in events()  # 换了键：k1 的待命子进程留着
        # 回到 k1：交给留着的那个；它读到管道结尾不必等 k2 的待命子进程退出（否则这里超时）
        assert forkrun.run(str(work), ["4"], env, 10, entry=command, standby=("k1", prepare))[0] == 0
        assert [e for e in events() if e.startswith("ran")][-1] == "ran %d %s 待命 ['4']" % (second, work)
        wait_for("prepared", 4)
        fourth = newest("prepared")  # k1 的新待命子进程；现在 k2、k1 各一个，到了上限 2
        assert forkrun.run(str(work), ["5"], env, 30, entry=command, standby=("k3", prepare))[0] == 0
        assert "closed %d" % third in events()  # 最久没用的（k2）收拾好了，没有运行命令
        assert not any(e.startswith("ran %d" % third) for e in events())
        assert "closed %d" % fourth not in events()
        wait_for("prepared", 5)
        fifth = newest("prepared")
        os.kill(fifth, signal.SIGKILL)  # 待命子进程死了：命令照常 fork 运行
        time.sleep(0.2)
        code, out = forkrun.run(str(work), ["6"], env, 30, entry=command, standby=("k3", prepare))
        assert code == 0 and any(e.startswith("ran") and e.endswith("['6']") and " %d " % fifth not in e
                                 for e in events()), (out, events())
        monkeypatch.setenv(STANDBY_ENV, "0")  # 0：不再预先启动，留着的都收拾掉
        assert forkrun.run(str(work), ["7"], env, 30, entry=command, standby=("k1", prepare))[0] == 0
        assert "closed %d" % fourth not in events()  # k1 的那个接了命令 7
        assert not forkrun._standbys
    finally:
        forkrun.discard_standby()
    assert events()[-1].startswith(("closed", "ran"))


def test_a_standby_child_left_idle_closes_its_kernel_and_the_next_command_forks(tmp_path, monkeypatch):
    """待命的子进程闲置超过 IDLE_SECONDS 就收拾好（内核结束）、退出；那个键的下一条命令照常 fork 运行。
    对照：不限闲置时（IDLE_SECONDS = 0）同样等过之后它还在，命令交给它。"""
    from course.grading.service import forkrun, standbys

    env = {"FORKRUN_TEST": "闲置", "PATH": os.environ["PATH"]}
    for idle, expires in ((0.5, True), (0, False)):
        monkeypatch.setattr(standbys, "IDLE_SECONDS", idle)
        events = _StandbyEvents(tmp_path / ("events-%s.txt" % idle))
        try:
            assert forkrun.run(str(tmp_path), ["1"], env, 30, entry=events.command, standby=("k", events.prepare))[0] == 0
            assert events.wait_for("prepared", 1)
            standby = events.newest("prepared")
            assert events.wait_for("closed %d" % standby, 1, seconds=3.0) is expires, events()
            assert forkrun.run(str(tmp_path), ["2"], env, 30, entry=events.command, standby=("k", events.prepare))[0] == 0
            ran = [e for e in events() if e.startswith("ran") and e.endswith("['2']")]
            assert len(ran) == 1 and (" %d " % standby not in " " + ran[0][4:]) is expires, events()
        finally:
            forkrun.discard_standby()


def test_the_standby_count_is_checked_where_it_is_given(monkeypatch):
    from course.grading.service import standbys as forkrun

    assert [forkrun.parse_standby(v) for v in ("0", " 3 ", "64")] == [0, 3, 64]
    for bad in ("-1", "65", "x", "", "2.5"):
        with pytest.raises(ValueError, match="0 到 64 的整数"):
            forkrun.parse_standby(bad)
    monkeypatch.setenv(forkrun.STANDBY_ENV, "lots")
    assert forkrun.standby_limit() == forkrun.DEFAULT_STANDBY  # 工人里不出错；命令行入口先拒绝它
    res = subprocess.run([sys.executable, "-m", "course", "grade-service", "--once", "--course", "/nonexistent"],
                         env=dict(_env(), COURSE_GRADING_STANDBY="lots"), capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "0 到 64 的整数" in res.stderr and "Traceback" not in res.stderr, res.stderr
    res = subprocess.run([sys.executable, "-m", "course", "grade-worker", "--standby", "-3"],
                         env=_env(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "0 到 64 的整数" in res.stderr and "Traceback" not in res.stderr, res.stderr


def test_a_worker_starting_up_removes_the_empty_kernel_folders_of_standby_children_that_are_gone(tmp_path):
    from course.grading.service import jobs

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = tmp_path / "jobs" / (".standby-%d-abc" % gone.pid)
    mine = tmp_path / "jobs" / (".standby-%d-def" % os.getpid())  # 这个进程还在：它的文件夹可能正在用
    other = tmp_path / "jobs" / "job-123"  # 别的任务的文件夹不动
    from course.grading.sandbox.kernels import private_base

    # 内核的私有文件夹（连接文件在里面）：创建它的进程被强行结束时留下的也删掉
    private_gone = tempfile.mkdtemp(prefix="cgk-%d-" % gone.pid, dir=private_base())
    private_mine = tempfile.mkdtemp(prefix="cgk-%d-" % os.getpid(), dir=private_base())
    for folder in (stale, mine, other):
        folder.mkdir(parents=True)
    try:
        jobs.warm(str(tmp_path))
        assert not stale.exists() and mine.exists() and other.exists()
        assert not os.path.exists(private_gone) and os.path.isdir(private_mine)
    finally:
        shutil.rmtree(private_mine, ignore_errors=True)


def test_a_forked_command_dies_when_the_worker_is_interrupted_while_waiting(tmp_path):
    """等命令的时候工人被打断（Celery 的软时限就是在这时抛出异常）：命令连同它的进程组一起结束，
    不会在工人删掉它的文件夹以后还在跑。"""
    from course.grading.service import forkrun

    pidfile = tmp_path / "child.pid"

    def command():
        pidfile.write_text(str(os.getpid()))
        time.sleep(60)

    seen = []

    def interrupt(*_):
        seen.append(os.path.exists("/proc/%s" % pidfile.read_text()))  # 对照：打断时命令确实在运行
        raise TimeoutError("软时限")

    old = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.5)
    try:
        with pytest.raises(TimeoutError):
            forkrun.run(str(tmp_path), [], {"PATH": os.environ["PATH"]}, 60, entry=command)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert seen == [True]
    assert not os.path.exists("/proc/%s" % pidfile.read_text())


def test_the_warm_alembic_head_is_what_nbgrader_asks_alembic_for():
    import nbgrader.api

    from course.grading.service import forkrun

    original = nbgrader.api.get_alembic_version
    try:
        expected = original()  # nbgrader 自己的做法：启动 `alembic heads`
        assert forkrun._alembic_head() == expected
        assert nbgrader.api.get_alembic_version() == expected and nbgrader.api.get_alembic_version is not original
    finally:
        nbgrader.api.get_alembic_version = original


def test_running_once_again_grades_nothing_twice(klass):
    before = (_rows(klass.root), dump(_url(klass.root)))
    again = _service(klass.root, klass.cache)
    assert again.returncode == 0, again.stdout[-3000:]
    assert "收到" not in again.stdout and "评好了" not in again.stdout, again.stdout
    assert (_rows(klass.root), dump(_url(klass.root))) == before


@pytest.fixture(scope="module")
def resubmitted(klass):
    rel = st.release_notebook(klass.root)
    klass.submit("alice", st.answer(copy.deepcopy(rel), {"add_backward": "    return dout, 0 * dout"}))
    klass.second_control = klass.control("control-2")
    klass.second = _service(klass.root, klass.cache)
    return klass


def test_a_resubmission_is_a_new_attempt_and_counts(resubmitted):
    k = resubmitted
    assert k.second.returncode == 0, k.second.stdout[-3000:]
    got = dump(_url(k.root))
    assert got == dump(_url(k.second_control))
    assert got[("alice", st.NOTEBOOK, "test_add_backward")][0] == 0  # 第二次答错了这一题，计分的是第二次
    alice = [r for r in _rows(k.root) if r["student"] == "alice"]
    assert [r["status"] for r in alice] == ["done", "done"] and [r["score"] for r in alice] == [10, 7]
    assert len(_fetch_feedback(k, "alice")) == 2  # 每次提交各有一份反馈
    hist = subprocess.run([sys.executable, "-m", "course", "grade-status", "--history", "--course", k.root],
                          env=_env(), capture_output=True, text=True, timeout=120).stdout
    block = hist.split("alice / ps1", 1)[1].split("\n\n", 1)[0]
    assert block.count("评好了") >= 2 and "计分" in block, hist


def test_over_the_attempt_limit_the_student_gets_a_chinese_message_and_nothing_is_lost(resubmitted):
    k = resubmitted
    before = dump(_url(k.root))
    rel = st.release_notebook(k.root)
    k.submit("alice", st.answer(copy.deepcopy(rel)))  # 第三次：max_attempts = 2
    res = _service(k.root, k.cache)
    assert res.returncode == 0 and "评分次数已用完" in res.stdout, res.stdout[-3000:]
    assert dump(_url(k.root)) == before  # 计分的仍是第二次
    rows = [r for r in _rows(k.root) if r["student"] == "alice"]
    assert [r["status"] for r in rows] == ["done", "done", "over-limit"]
    kept = glob.glob(os.path.join(rows[-1]["archive"], st.NOTEBOOK + ".ipynb"))
    assert kept and nbformat.read(kept[0], as_version=4).cells  # 提交留着，老师可以另行评分
    pages = _fetch_feedback(k, "alice")
    assert len(pages) == 3
    newest = pages[max(pages)]
    assert "这一次没有评分" in newest and "最多评 2 次" in newest and "计分的仍是你上一次评好的提交" in newest


def test_a_worker_killed_mid_job_still_grades_every_submission_exactly_once(klass):
    rel = st.release_notebook(klass.root)
    klass.submit("dave", st.answer(copy.deepcopy(rel)))
    proc = _service(klass.root, klass.cache, "--workers", "1", wait=False)
    pid, deadline = None, time.time() + 300
    while pid is None and time.time() < deadline and proc.poll() is None:
        dave = [r for r in _rows(klass.root) if r["student"] == "dave"] if os.path.exists(
            os.path.join(klass.root, ".grade-service", "state.db")) else []
        if dave and dave[0]["status"] == "running" and (dave[0]["worker"] or "").startswith("pid "):
            pid = int(dave[0]["worker"].split()[1])
        time.sleep(0.2)
    assert pid is not None, proc.communicate()[0][-3000:]
    os.kill(pid, signal.SIGKILL)  # 工人死在评分中途，结果还没送回
    out = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, out[-3000:]
    dave = [r for r in _rows(klass.root) if r["student"] == "dave"]
    assert len(dave) == 1 and dave[0]["status"] == "done" and dave[0]["applied"] == 1
    assert dave[0]["dispatches"] == 1 and dave[0]["score"] == 10, dave  # 服务派发一次，工人一侧重评
    assert "工人进程意外退出" in out and out.count("dave 的 ps1 评好了") == 1, out
    assert st.scores(klass.root, "dave") == {k: float(v) for k, v in st.POINTS.items()}


def test_with_an_instructors_comment_in_the_gradebook_the_service_generates_the_feedback_itself(klass):
    """工人的私有成绩库里没有教师的人工评语：成绩库里有时，服务按课程的成绩库重新生成反馈，评语照样给学生。"""
    from nbgrader.api import Gradebook

    rel = st.release_notebook(klass.root)
    klass.submit("frank", st.answer(copy.deepcopy(rel)))
    res = _service(klass.root, klass.cache)
    assert res.returncode == 0, res.stdout[-3000:]
    page = os.path.join(klass.root, "feedback", "frank", A, st.NOTEBOOK + ".html")
    with open(page, encoding="utf-8") as f:
        assert "老师的评语：很好" not in f.read()  # 对照：工人生成的反馈里没有（它也不可能有）
    with Gradebook(_url(klass.root), "backprop-zh") as gb:
        comment = gb.find_submission(A, "frank").notebooks[0].comments[0]
        comment.manual_comment = "老师的评语：很好"
        gb.db.commit()
    klass.submit("frank", st.answer(copy.deepcopy(rel)))
    res = _service(klass.root, klass.cache)
    assert res.returncode == 0 and res.stdout.count("frank 的 %s 评好了" % A) == 1, res.stdout[-3000:]
    with open(page, encoding="utf-8") as f:
        assert "老师的评语：很好" in f.read()
    pages = _fetch_feedback(klass, "frank")
    assert len(pages) == 2 and "老师的评语：很好" in pages[max(pages)]


SLOW_JOB = '''
import os, time


def run(job, cache_dir):
    with open(os.path.join(cache_dir, "started-%d" % os.getpid()), "w") as f:
        f.write("1")
    time.sleep(120)
    return {}
'''

LOCAL_SERVICE = '''
import sys, time
from course.grading.service.local import LocalTransport

t = LocalTransport(workers=1, cache_dir=sys.argv[1], job_fn="slowjob:run", die_with_service=sys.argv[2] == "1")
t.submit({"id": "slow"})
t.poll(0.1)
print(t._workers[0].proc.pid, flush=True)
time.sleep(600)
'''


def _gone(pid):
    """进程已经不在（或者只剩一个没人收的僵尸）。"""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.parametrize("die_with_service", [True, False])
def test_local_workers_end_with_the_service_even_when_it_is_killed(tmp_path, die_with_service):
    """服务被 kill -9：本机工人不再把手上的任务评完（结果没人收，服务重启后会重新派发），马上跟着结束。
    对照（die_with_service=False）：工人还在评，要等它手上的任务做完。"""
    (tmp_path / "slowjob.py").write_text(SLOW_JOB)
    cache = tmp_path / "cache"
    cache.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    proc = subprocess.Popen([sys.executable, "-c", LOCAL_SERVICE, str(cache), "1" if die_with_service else "0"],
                            cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, text=True)
    worker = None
    try:
        worker = int(proc.stdout.readline())
        deadline = time.time() + 120
        while not list(cache.glob("started-*")) and time.time() < deadline:
            time.sleep(0.1)
        assert list(cache.glob("started-*")), "工人没有开始评分"
        proc.kill()
        proc.wait(10)
        deadline = time.time() + 10
        while not _gone(worker) and time.time() < deadline:
            time.sleep(0.1)
        assert _gone(worker) is die_with_service
    finally:
        proc.kill()
        if worker is not None and not _gone(worker):
            os.kill(worker, signal.SIGKILL)
