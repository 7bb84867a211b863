"""交上来就评分经由 Celery（grade-service --broker + grade-worker），用真正的 run_job：成绩和本机工人评的一样。

同一个班（tests/test_grade_service.py 的小课程：alice 全对、bob 的 notebook 是坏的 JSON、mallory 改写检查函数），
交换目录里同样的提交拷成两份课程文件夹：一份用本机工人（grade-service --once），一份经由 Redis 交给另一个进程里的
Celery 工人（python -m course grade-worker）；Celery 那边评分中途把正在评分的工人子进程 kill -9，又把 Redis 停掉
再起来（不落盘：队列全丢）。两份成绩库逐个单元相同，每份提交在服务里恰好记一次，反馈都发布了。
"""
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from redis_helpers import redis_server

pytest.importorskip("celery", reason="没有 celery：pip install -r requirements-dev.txt")
from test_grade_service import Class, _env, _rows, _service, _url, dump  # noqa: E402

import copy  # noqa: E402

from course.grading.batch import selftest as st  # noqa: E402


def _children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out


def _busy_pool_child(worker_pid):
    """正在评分的工人子进程（它底下有 nbgrader 进程）；没有时 None。"""
    for child in _children(worker_pid):
        if _children(child):
            return child
    return None


def _copy_class(src, dest):
    shutil.copytree(src, dest, symlinks=True)
    config = os.path.join(dest, "course", "nbgrader_config.py")
    with open(config, encoding="utf-8") as f:
        text = f.read()
    with open(config, "w", encoding="utf-8") as f:
        f.write(text.replace(src, dest))  # 交换目录的路径换成这一份的
    return os.path.join(dest, "course")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    base = tmp_path_factory.mktemp("celery-real")
    embedded = Class(str(base / "a"))
    rel = st.release_notebook(embedded.root)
    embedded.submit("alice", st.answer(copy.deepcopy(rel)))
    embedded.submit("bob", raw='{"cells": [ 这不是 JSON')
    embedded.submit("mallory", st.answer(copy.deepcopy(rel), {"square_grad": "    return 3 * x"}, prefix={
        "mul_forward": "import course.checks._core as _c\n_c.expect_close = lambda got, *a, **k: got\n"}))
    celery_root = _copy_class(str(base / "a"), str(base / "b"))
    local = _service(embedded.root, embedded.cache, "--workers", "1")
    assert local.returncode == 0, local.stdout[-3000:] + local.stderr[-3000:]

    # 服务和工人共有的签名密钥：工人从文件读（权限 600），服务从环境变量读
    key = "fedcba9876543210" * 4
    key_file = base / "grade.key"
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    with redis_server() as redis:
        log = open(base / "worker.log", "w")
        worker = subprocess.Popen(
            [sys.executable, "-m", "course", "grade-worker", "--broker", redis.url, "--concurrency", "2",
             "--cache", str(base / "celery-cache"), "--key-file", str(key_file)], env=_env(), stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        service = subprocess.Popen(
            [sys.executable, "-m", "course", "grade-service", "--once", "--course", celery_root, "--broker", redis.url],
            env=dict(_env(), COURSE_GRADE_KEY=key), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        chaos, killed_at = [], None
        try:
            deadline = time.monotonic() + 300
            while service.poll() is None and time.monotonic() < deadline and len(chaos) < 2:
                if not chaos:
                    child = _busy_pool_child(worker.pid)
                    if child is not None:
                        os.kill(child, signal.SIGKILL)  # 评分中途工人子进程死掉，结果没有送回
                        chaos.append("killed")
                        killed_at = time.monotonic()
                elif time.monotonic() - killed_at > 2.0:
                    redis.stop()  # Redis 掉线，回来时是空的：队列、没确认的任务、还没收的结果都没了
                    time.sleep(1.5)
                    redis.start()
                    chaos.append("broker restarted")
                time.sleep(0.05)
            out = service.communicate(timeout=600)[0]
        finally:
            if service.poll() is None:
                service.kill()
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            log.close()
    return {"embedded": embedded.root, "celery": celery_root, "out": out, "code": service.returncode,
            "chaos": chaos, "worker_log": (base / "worker.log").read_text(errors="replace")}


def test_celery_grades_equal_embedded_grades_cell_by_cell_despite_a_killed_worker_and_a_broker_restart(graded):
    assert graded["code"] == 0, graded["out"][-3000:] + graded["worker_log"][-3000:]
    assert "Traceback" not in graded["out"], graded["out"][-3000:]
    assert graded["chaos"] == ["killed", "broker restarted"], graded["chaos"]  # 两件事都在评分中途发生了
    want, got = dump(_url(graded["embedded"])), dump(_url(graded["celery"]))
    assert {k for k in want if isinstance(k, str)} == {"alice", "bob", "mallory"}
    assert got == want
    assert got[("alice", st.NOTEBOOK, "test_square_grad")][0] == 5
    assert got[("mallory", st.NOTEBOOK, "test_square_grad")][0] == 0


def test_every_submission_is_recorded_once_and_its_feedback_released(graded):
    rows = _rows(graded["celery"])
    assert sorted(r["student"] for r in rows) == ["alice", "bob", "mallory"]
    assert all(r["status"] == "done" and r["applied"] == 1 and r["dispatches"] == 1 and r["released"]
               for r in rows), rows
    assert graded["out"].count("alice 的 ps1 评好了") == 1, graded["out"]
    feedback = [os.listdir(os.path.join(os.path.dirname(graded[k]), "exchange", "backprop-zh", "feedback"))
                for k in ("celery", "embedded")]
    assert feedback[0] and sorted(feedback[0]) == sorted(feedback[1])  # 同样的提交，同样的反馈文件
    report = os.path.join(graded["celery"], "autograded", ".grading-reports", st.ASSIGNMENT, "bob", st.NOTEBOOK + ".json")
    assert "unreadable" in open(report, encoding="utf-8").read()
