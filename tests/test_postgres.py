"""成绩库放在 PostgreSQL 上：同一个（缩小的）演示班级，分别用 sqlite 和 PostgreSQL 做成绩库走完整个流程，
每名学生每个测试单元的得分都相同，也与 tests/test_demo_class.py 里的预期相同。

测试自己在临时文件夹里建一个只监听 Unix 套接字的 PostgreSQL 服务器（initdb + pg_ctl，以 root 运行时
换成 postgres 用户）。需要 Debian 的 postgresql 软件包和 Python 的 psycopg2（requirements-dev.txt）；
没有 PostgreSQL 时，以 root 运行会先试着 apt-get install postgresql，装不上、启动不了才跳过。
"""
import csv
import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile

import pytest

from conftest import ROOT
from test_demo_class import EXPECTED, assignments, failing

STUDENTS = ["zhao_lei", "li_wei", "chen_jing", "wei_ning"]  # 全对、常见错误、删改测试单元、改了文件名
LESSONS = ["01", "02"]


def _find_bin():
    found = shutil.which("pg_ctl")
    if found and os.path.exists(os.path.join(os.path.dirname(found), "initdb")):
        return os.path.dirname(os.path.realpath(found))
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True):
        return os.path.dirname(candidate)
    return None


def _install():
    """以 root 运行且有 apt-get 时装上 Debian 的 postgresql（.ci/run 通常已经装好）。"""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"]
    try:
        if subprocess.run(cmd, env=env, capture_output=True, timeout=600).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
            subprocess.run(cmd, env=env, capture_output=True, timeout=600)
    except (OSError, subprocess.SubprocessError):
        pass


@pytest.fixture(scope="module")
def postgres_url():
    pytest.importorskip("psycopg2", reason="没有 psycopg2：pip install -r requirements-dev.txt")
    bindir = _find_bin()
    if bindir is None:
        _install()
        bindir = _find_bin()
    if bindir is None:
        pytest.skip("没有 PostgreSQL 服务器：apt-get install postgresql（Debian 的软件包）")
    prefix = []
    tmp = tempfile.mkdtemp(prefix="cpg-", dir="/tmp")  # 套接字路径不能太长
    if os.geteuid() == 0:  # PostgreSQL 不肯以 root 运行
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(tmp)
            pytest.skip("以 root 运行，但没有 postgres 用户（Debian 的 postgresql 软件包会建这个用户）")
        os.chown(tmp, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = os.path.join(tmp, "data"), "5439"

    def pg(*args, timeout=120):
        return subprocess.run(prefix + list(args), capture_output=True, text=True, timeout=timeout, cwd=tmp)

    res = pg(os.path.join(bindir, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
             "--no-sync", "--no-instructions")
    if res.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.skip("initdb 失败：%s" % (res.stderr or res.stdout)[-500:])
    opts = "-c listen_addresses='' -k %s -p %s -c fsync=off" % (tmp, port)
    res = pg(os.path.join(bindir, "pg_ctl"), "-D", data, "-o", opts, "-l", os.path.join(tmp, "server.log"), "-w",
             "start")
    if res.returncode != 0:
        log = open(os.path.join(tmp, "server.log"), encoding="utf-8", errors="replace").read()[-800:] \
            if os.path.exists(os.path.join(tmp, "server.log")) else ""
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.skip("PostgreSQL 启动失败：%s %s" % (res.stderr[-500:], log))
    try:
        res = pg(os.path.join(bindir, "createdb"), "-h", tmp, "-p", port, "-U", "postgres", "backprop_zh")
        assert res.returncode == 0, res.stderr
        yield "postgresql+psycopg2://postgres@/backprop_zh?host=%s&port=%s" % (tmp, port)
    finally:
        pg(os.path.join(bindir, "pg_ctl"), "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(tmp, ignore_errors=True)


def _start(out, *args):
    env = dict(os.environ, LANG="C.UTF-8", PYTHONUNBUFFERED="1")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.pop("COURSE_DB_URL", None)
    return subprocess.Popen([sys.executable, "-m", "course", "grade-demo", "--out", str(out), "--students",
                             ",".join(STUDENTS), "--assignments", *LESSONS, "--timeout", "30", *args],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def both(postgres_url, tmp_path_factory):
    base = tmp_path_factory.mktemp("pg")
    # 两次运行同时进行：sqlite 用一个进程评分，PostgreSQL 用两个（几个进程同时写服务器上的成绩库）
    runs = {"sqlite": _start(base / "sqlite", "--jobs", "1"),
            "postgres": _start(base / "postgres", "--jobs", "2", "--db-url", postgres_url)}
    out = {}
    for name, proc in runs.items():
        stdout, stderr = proc.communicate(timeout=1500)
        out[name] = {"returncode": proc.returncode, "stdout": stdout, "stderr": stderr, "dir": base / name}
    return out, postgres_url


def _scores(url):
    from course.demo.pipeline import read_scores

    return {a: e["cell_scores"] for a, e in read_scores(url).items()}


def test_both_runs_succeed(both):
    runs, _ = both
    for name, run in runs.items():
        assert run["returncode"] == 0, (name, run["stdout"][-3000:], run["stderr"][-3000:])
        assert "成绩库一致" in run["stdout"], name


def test_postgres_really_holds_the_gradebook(both):
    runs, url = both
    assert not (runs["postgres"]["dir"] / "course" / "gradebook.db").exists()
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            n = conn.execute(text("SELECT COUNT(*) FROM submitted_assignment")).scalar()
    finally:
        engine.dispose()
    assert n == sum(1 for s in STUDENTS for k in LESSONS if k in EXPECTED[s])


def test_same_scores_on_postgres_as_on_sqlite(both):
    runs, url = both
    lite = _scores("sqlite:///%s" % (runs["sqlite"]["dir"] / "course" / "gradebook.db"))
    assert _scores(url) == lite
    for lesson in LESSONS:
        assignment = assignments()[lesson]
        for student in STUDENTS:
            fails = failing(student, lesson)
            if fails is None:
                assert student not in lite[assignment]
            else:
                got = {g for g, s in lite[assignment][student].items() if s == 0}
                assert got == fails, (student, assignment)


def test_same_grades_csv(both):
    runs, _ = both

    def table(name):
        with open(runs[name]["dir"] / "grades.csv", encoding="utf-8") as f:
            return sorted((r["assignment"], r["student_id"], r["score"], r["max_score"]) for r in csv.DictReader(f))

    assert table("postgres") == table("sqlite")
    assert len(table("postgres")) == len(STUDENTS) * len(LESSONS)
