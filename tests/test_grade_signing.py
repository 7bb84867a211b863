"""评分任务和结果的签名（course/grading/service/signing.py）：改一个字节、换一个密钥、把旧结果搬到新任务上，
签名都对不上；密钥从权限 600 的文件或环境变量读，不合格时是中文说明（SystemExit），不是回溯。"""
import copy
import os

import pytest

from course.grading.service import signing

KEY = b"k" * 64
JOB = {"id": "abc123", "student": "alice", "assignment": "ps1", "key": "ts:x", "order": 1.5,
       "bundle": {"hash": "h1", "files": {"nbgrader_config.py": "Yz0x"}}, "submission": {"a.ipynb": "e30="}}


def test_a_signed_job_verifies_and_any_change_breaks_it():
    job = signing.sign_job(KEY, JOB)
    assert signing.verify_job(KEY, job) and "sig" not in JOB  # 原来的 dict 不变
    assert signing.verify_job(KEY, copy.deepcopy(job))
    for change in (lambda j: j.update(student="bob"), lambda j: j["bundle"]["files"].update({"x": "eA=="}),
                   lambda j: j.update(nonce="0" * 32), lambda j: j.update(order=2.5)):
        forged = copy.deepcopy(job)
        change(forged)
        assert not signing.verify_job(KEY, forged)
    assert not signing.verify_job(b"o" * 64, job)  # 别的密钥
    assert not signing.verify_job(KEY, JOB)  # 没有签名
    assert not signing.verify_job(KEY, dict(JOB, sig="0" * 64, nonce="n"))
    assert not signing.verify_job(KEY, "not a dict")
    # 每次签名的 nonce 都不同
    assert signing.sign_job(KEY, JOB)["nonce"] != job["nonce"]


def test_a_result_is_bound_to_its_job_and_nonce():
    job = signing.sign_job(KEY, JOB)
    outcome = signing.sign_result(KEY, job, {"ok": True, "result": {"graded": True, "notebooks": [{"grades": [1]}]}})
    assert signing.verify_result(KEY, job, outcome)
    again = signing.sign_job(KEY, JOB)  # 同一份提交重新派发：新的 nonce
    assert not signing.verify_result(KEY, again, outcome)  # 旧结果搬不到新任务上
    assert not signing.verify_result(KEY, dict(job, id="other"), outcome)
    forged = copy.deepcopy(outcome)
    forged["result"]["notebooks"][0]["grades"] = [2]
    assert not signing.verify_result(KEY, job, forged)
    assert not signing.verify_result(KEY, job, {"ok": True, "result": {}})  # 没有签名
    assert not signing.verify_result(b"o" * 64, job, outcome)


def test_key_from_a_0600_file_or_the_environment(tmp_path):
    path = tmp_path / "grade.key"
    path.write_text("a" * 64 + "\n")
    path.chmod(0o600)
    assert signing.load_key(str(path), environ={}) == b"a" * 64
    assert signing.load_key(None, environ={signing.KEY_ENV: "b" * 40}) == b"b" * 40
    path.chmod(0o640)
    with pytest.raises(SystemExit, match="chmod 600"):
        signing.load_key(str(path), environ={})
    with pytest.raises(SystemExit, match="secrets.token_hex"):
        signing.load_key(None, environ={})
    with pytest.raises(SystemExit, match="太短"):
        signing.load_key(None, environ={signing.KEY_ENV: "short"})
    with pytest.raises(SystemExit, match="读不了密钥文件"):
        signing.load_key(str(tmp_path / "missing"), environ={})
    link = tmp_path / "link.key"
    os.symlink(path, link)
    with pytest.raises(SystemExit, match="读不了密钥文件"):  # 不跟随符号链接
        signing.load_key(str(link), environ={})


# ---- Redis 要有密码：任务里带着藏起来的测试 ----------------------------------------------------------------------
OPEN_URLS = ("redis://127.0.0.1:6379/0", "redis://localhost", "redis://grader@10.0.0.5:6379/0", "redis://:@h:6379/0",
             "rediss://10.0.0.5:6380/0", "unix:///run/redis/redis.sock")
CLOSED_URLS = ("redis://:s3cret@127.0.0.1:6379/0", "redis://grader:s3cret@10.0.0.5/0", "rediss://:s3cret@h:6380/0")


def test_a_broker_without_a_password_is_refused_with_why_and_how():
    for url in OPEN_URLS:
        with pytest.raises(SystemExit) as info:
            signing.check_broker_password(url)
        text = str(info.value.code)
        assert url in text and "没有密码" in text and "藏起来的测试" in text and "学生" in text, text
        assert "requirepass" in text and "redis://:密码@主机:6379/0" in text and "rediss://" in text, text
        assert "--allow-open-broker" in text, text
    for url in CLOSED_URLS + ("http://example.invalid/", "not a url", "redis://[::1", None):
        assert signing.check_broker_password(url) is None  # 有密码；不是 Redis 的地址交给 celery_app.check_broker


def test_allow_open_broker_only_warns():
    said = []
    assert signing.check_broker_password(OPEN_URLS[0], allow_open=True, warn=said.append) is None
    assert len(said) == 1 and said[0].startswith("警告") and "受信任的机器" in said[0] and "藏起来的测试" in said[0]
    signing.check_broker_password(CLOSED_URLS[0], allow_open=True, warn=said.append)
    assert len(said) == 1  # 有密码时不警告


def test_redact_hides_the_password():
    assert signing.redact("redis://:s3cret@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert signing.redact("redis://grader:s3cret@h/0") == "redis://grader:***@h/0"
    assert signing.redact("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def _course(*args, **extra_env):
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "COURSE_GRADE_BROKER"}  # 只用测试给的地址
    env.update(LANG="C.UTF-8", COURSE_GRADE_KEY="0123456789abcdef" * 4, **extra_env)
    return subprocess.run([sys.executable, "-m", "course", *args], cwd=str(Path(__file__).resolve().parent.parent),
                          capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("command", [["grade-worker"], ["grade-service", "--once"]])
def test_both_commands_refuse_an_open_broker_unless_told(command):
    from redis_helpers import free_port

    url = "redis://127.0.0.1:%d/0" % free_port()  # 没有人在听：过了密码这一关就是“连不上 Redis”
    res = _course(*command, "--broker", url)
    assert res.returncode != 0 and "没有密码" in res.stderr and "requirepass" in res.stderr, res.stderr
    assert "连不上 Redis" not in res.stderr and "Traceback" not in res.stderr + res.stdout
    res = _course(*command, "--broker", url, "--allow-open-broker")
    assert res.returncode != 0 and "警告" in res.stderr and "requirepass" not in res.stderr, res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    try:
        import celery  # noqa: F401
    except ImportError:
        return
    assert "连不上 Redis" in res.stderr, res.stderr  # 过了密码这一关


def test_without_the_password_a_local_client_cannot_read_the_queued_hidden_tests():
    """对照：没有密码的 Redis，任何本机客户端都读得到队列里的任务（连同藏起来的测试）；有密码时读不到。"""
    pytest.importorskip("celery")
    redis_py = pytest.importorskip("redis")
    from redis_helpers import redis_server

    from course.grading.service.celery_app import QUEUE, CeleryTransport

    job = {"id": "j1", "bundle": {"files": {"source/01/01.ipynb": "HIDDEN-TEST-assert-grad-ok"}}}
    for password in (False, True):
        with redis_server(password=password) as server:
            transport = CeleryTransport(server.url, key=KEY)
            try:
                transport.submit(job)  # 没有工人：任务停在队列里
                student = redis_py.Redis(host="127.0.0.1", port=server.port)  # 学生的内核：不知道密码
                if not password:
                    queued = b"".join(student.lrange(QUEUE, 0, -1))
                    import base64
                    import json

                    body = base64.b64decode(json.loads(queued)["body"])
                    assert b"HIDDEN-TEST-assert-grad-ok" in body  # 攻击成功：这就是要防的
                    continue
                with pytest.raises(redis_py.exceptions.AuthenticationError):
                    student.keys()
                with pytest.raises(redis_py.exceptions.AuthenticationError):
                    student.lrange(QUEUE, 0, -1)
                owner = redis_py.Redis(host="127.0.0.1", port=server.port, password=server.password)
                assert owner.llen(QUEUE) == 1  # 有密码的服务和工人照常用
            finally:
                transport.close()


@pytest.mark.parametrize("command", [["grade-worker"], ["grade-service", "--once"]])
def test_the_broker_address_can_come_from_the_environment_not_the_command_line(command):
    """COURSE_GRADE_BROKER 代替 --broker：密码不出现在命令行上（ps 谁都能看），检查照样做。"""
    from redis_helpers import free_port

    url = "redis://127.0.0.1:%d/0" % free_port()
    res = _course(*command, COURSE_GRADE_BROKER=url)  # 环境变量里的地址没有密码：和写在 --broker 上一样被拒
    assert res.returncode != 0 and "没有密码" in res.stderr and "Traceback" not in res.stderr, res.stderr
    if command[0] == "grade-worker":  # 对照：两处都没有地址时，说清楚要什么
        res = _course(*command)
        assert res.returncode != 0 and "COURSE_GRADE_BROKER" in res.stderr and "Traceback" not in res.stderr, res.stderr
