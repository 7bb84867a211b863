"""评分任务走 Celery + Redis（course/grading/service/celery_app.py、worker.py）：不丢、不重。

评分函数换成替身（tests/grade_stubs.py），测的是传递本身：一来一回；评分子进程被 kill -9、整个工人被 kill -9
以后任务重评，服务只收到一次结果（整个工人没了时，服务看到它的心跳断了就重发，不等 visibility_timeout；
对照：不看心跳时任务一直等着；评分子进程死了、任务退回队列等着时心跳也断了，服务却不重发，只再评一次；对照：不看退回队列的记号时评两次）；没有签名的失败记录只会引起一次重发，内容从不使用；Redis 中途停掉再起来（不落盘，队列全丢）什么也不丢；同一个任务送到两次，
结果只交出一次；每次都让工人崩溃的提交有次数上限；Redis 重启时 Celery 自己出错停掉的工人重新启动自己（对照：不重启时
再也没人评）；grade-worker 命令连不上 Redis、没装 Celery 时的中文说明。
真正的 run_job 走一遍 Celery 的测试在 test_grade_celery_real.py。
"""
import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from redis_helpers import redis_server

pytest.importorskip("celery", reason="没有 celery：pip install -r requirements-dev.txt")
from course.grading.service.celery_app import MAX_DELIVERIES, CeleryTransport  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
KEY = "0123456789abcdef" * 4  # 服务和工人共有的签名密钥（测试用）


@pytest.fixture(scope="module")
def redis():
    with redis_server() as server:
        yield server


@pytest.fixture
def broker(redis):
    if not redis.running:
        redis.start()
    import redis as redis_py

    redis_py.Redis.from_url(redis.url).flushall()
    return redis


class Workers:
    """测试里起的 Celery 工人（每个都是自己的进程组，结束时整组杀掉）。"""

    def __init__(self, url, tmp):
        self.url, self.tmp, self.procs = url, tmp, []

    def start(self, concurrency=1, prelude="", **options):
        code = prelude + ("import sys; sys.path.insert(0, %r); import grade_stubs; "
                          "from course.grading.service.worker import run_worker; "
                          "sys.exit(run_worker(%r, %d, %r, job_func=grade_stubs.echo, **%r))"
                          % (str(TESTS), self.url, concurrency, str(self.tmp / "cache"), options))
        log = open(self.tmp / ("worker-%d.log" % len(self.procs)), "w")
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env=dict(os.environ, LANG="C.UTF-8", COURSE_GRADE_KEY=KEY))
        self.procs.append(proc)
        return proc

    def kill(self, proc):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    def logs(self):
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.tmp.glob("worker-*.log")))


@pytest.fixture
def workers(broker, tmp_path):
    w = Workers(broker.url, tmp_path)
    yield w
    for proc in w.procs:
        w.kill(proc)


@pytest.fixture
def transport(broker):
    t = CeleryTransport(broker.url, key=KEY.encode(), poll_interval=0.05, restart_check=0.2)
    yield t
    t.close()


def drain(transport, seconds, workers=None, until_empty=True):
    """收结果，直到没有待收的任务（until_empty）或 seconds 秒到了；返回 [(job_id, outcome)]。"""
    got, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline and (transport.pending() or not until_empty):
        got += transport.poll(0.2)
    assert not (until_empty and transport.pending()), "还有 %d 个任务没有结果\n%s" % (
        transport.pending(), workers.logs() if workers else "")
    return got


def runs(log, job_id, kind):
    return glob.glob(os.path.join(str(log), "%s.*.%s" % (job_id, kind)))


def wait_for(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "等了 %s 秒还没有：%s" % (seconds, what)
        time.sleep(0.05)


def test_round_trip_plain_data_and_errors(transport, workers, tmp_path):
    workers.start(concurrency=2)
    for i in range(6):
        transport.submit({"id": "s%d+lesson" % i, "value": i})
    transport.submit({"id": "bad", "fail": True})
    assert transport.pending() == 7
    got = dict(drain(transport, 60, workers))
    assert transport.pending() == 0
    assert sorted(got) == sorted(["s%d+lesson" % i for i in range(6)] + ["bad"])
    for i in range(6):
        outcome = got["s%d+lesson" % i]
        assert outcome["ok"] is True and outcome["result"]["value"] == 2 * i
        assert outcome["result"]["cache"] == str(tmp_path / "cache")
    assert got["bad"]["ok"] is False and "替身故意出错" in got["bad"]["error"] and "评分工人出错" in got["bad"]["error"]
    # 按键轮询，不订阅结果频道：订阅留着不读，消息会堆在连接里
    assert not transport.app.backend.result_consumer.subscribed_to
    with pytest.raises(TypeError):
        transport.submit({"id": "x", "value": object()})  # 不是纯数据：在服务这边就报错


def test_pool_child_killed_mid_job_is_graded_again_and_reported_once(transport, workers, tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    workers.start(concurrency=1)
    transport.submit({"id": "victim", "value": 21, "sleep": 2, "log": str(log)})
    wait_for(lambda: runs(log, "victim", "start"), 60, "任务开始评")
    pid = int(runs(log, "victim", "start")[0].split(".")[-2])
    os.kill(pid, signal.SIGKILL)  # 评分子进程死在确认之前
    got = drain(transport, 60, workers)
    assert got == [("victim", {"ok": True, "result": {"id": "victim", "value": 42, "pid": got[0][1]["result"]["pid"],
                                                      "cache": str(tmp_path / "cache")}})]
    assert got[0][1]["result"]["pid"] != pid
    assert len(runs(log, "victim", "start")) == 2 and len(runs(log, "victim", "done")) == 1
    assert drain(transport, 1.5, until_empty=False) == []  # 不会再来第二次


def test_whole_worker_killed_job_comes_back_after_visibility_timeout(transport, workers, tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    short = {"time_limit": 3, "visibility_timeout": 4}
    first = workers.start(concurrency=1, **short)
    transport.submit({"id": "orphan", "value": 1, "sleep": 1.5, "log": str(log)})
    wait_for(lambda: runs(log, "orphan", "start"), 60, "任务开始评")
    workers.kill(first)  # 整台工人机器没了：任务在 Redis 里是"已取走、未确认"
    assert transport.poll(1.0) == []
    workers.start(concurrency=1, **short)
    got = drain(transport, 60, workers)
    assert [(j, o["ok"]) for j, o in got] == [("orphan", True)], got
    assert got[0][1]["result"]["value"] == 2
    assert len(runs(log, "orphan", "start")) == 2


def _kill_worker_mid_job(transport, workers, log, job_id, **options):
    """工人开始评 job_id 以后，整个工人（主进程和评分子进程）kill -9，再起一个新工人。visibility_timeout 是
    默认的 45 分钟：任务不会在测试的时间里自己回到队列。"""
    first = workers.start(concurrency=1, **options)
    transport.submit({"id": job_id, "value": 1, "sleep": 2, "log": str(log)})
    wait_for(lambda: runs(log, job_id, "start"), 60, "任务开始评")
    workers.kill(first)
    workers.start(concurrency=1, **options)


def test_whole_worker_machine_dead_job_is_regraded_when_its_heartbeat_stops(transport, workers, tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    warnings = []
    transport.warn = warnings.append
    _kill_worker_mid_job(transport, workers, log, "lost", alive_ttl=2)
    got = drain(transport, 40, workers)
    assert [(j, o["ok"]) for j, o in got] == [("lost", True)], got
    assert transport.revived == 1 and len(runs(log, "lost", "start")) == 2
    assert any("没有心跳" in w and "lost" in w for w in warnings), warnings
    assert drain(transport, 1.5, until_empty=False) == []  # 只交出一次


def test_control_without_the_heartbeat_watch_the_job_waits_for_the_visibility_timeout(broker, workers, tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    transport = CeleryTransport(broker.url, key=KEY.encode(), poll_interval=0.05, restart_check=0.2,
                                watch_workers=False)
    try:
        _kill_worker_mid_job(transport, workers, log, "lost", alive_ttl=2)
        got = drain(transport, 12, until_empty=False)  # 比上一个测试重评所用的时间长得多
        assert got == [] and transport.pending() == 1 and len(runs(log, "lost", "start")) == 1
    finally:
        transport.close()


def test_a_long_job_keeps_its_heartbeat_and_is_not_sent_twice(transport, workers, tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    workers.start(concurrency=1, alive_ttl=1)
    transport.submit({"id": "slow", "value": 4, "sleep": 5, "log": str(log)})  # 评的时间是心跳过期时间的 5 倍
    got = drain(transport, 60, workers)
    assert [(j, o["ok"]) for j, o in got] == [("slow", True)]
    assert transport.revived == 0 and len(runs(log, "slow", "start")) == 1


def _requeued_and_waiting(transport, workers, log, job_id):
    """评分子进程被 kill -9，工人主进程把任务退回队列；紧接着整个工人停住（SIGSTOP）4 秒：任务等着重评，
    心跳键（alive_ttl=1）早过期了。这段时间里另起一个闲着的工人。之后工人继续，返回收到的结果。
    停住之前任务已经又开始评了（没赶上）时返回 None，由调用者换一个任务再来。"""
    import redis as redis_py

    client = redis_py.Redis.from_url(workers.url)
    first = workers.start(concurrency=1, alive_ttl=1)
    transport.submit({"id": job_id, "value": 3, "sleep": 1, "log": str(log)})
    wait_for(lambda: runs(log, job_id, "start"), 60, "任务开始评")
    pid = int(runs(log, job_id, "start")[0].split(".")[-2])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while not client.exists("course-grading:queued:%s" % job_id) and len(runs(log, job_id, "start")) == 1:
        assert time.monotonic() < deadline, "任务没有退回队列\n" + workers.logs()
        time.sleep(0.001)
    os.killpg(first.pid, signal.SIGSTOP)
    try:
        if len(runs(log, job_id, "start")) > 1:
            return None
        workers.start(concurrency=1, alive_ttl=1)
        got = drain(transport, 4, until_empty=False)
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    return got + drain(transport, 60, workers)


def _deliveries(workers, job_id):
    """开始评这个任务的投递次数（工人在 Redis 里数的；同一个评分子进程先后评两份时 log 里的文件名会重复）。"""
    import redis as redis_py

    return int(redis_py.Redis.from_url(workers.url).get("course-grading:deliveries:%s" % job_id) or 0)


def _edge(transport, workers, tmp_path):
    for attempt in range(4):
        log = tmp_path / ("log%d" % attempt)
        log.mkdir()
        got = _requeued_and_waiting(transport, workers, log, "requeued%d" % attempt)
        if got is not None:
            # 迟来的重复投递（如果有）也来了：等到第三次投递，或者 8 秒
            deadline = time.monotonic() + 8
            while _deliveries(workers, "requeued%d" % attempt) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(1.5)  # 第三次投递（如果有）也评完
            return got + drain(transport, 0.5, until_empty=False), log, "requeued%d" % attempt
        for proc in workers.procs:
            workers.kill(proc)
    pytest.fail("四次都没赶在任务重新开始评以前停住工人")


def test_a_job_requeued_after_its_grader_died_is_not_sent_again_while_it_waits(transport, workers, tmp_path):
    """评分子进程死了、任务退回队列等着：心跳虽然断了，服务也不重发，任务恰好再评一次（原来那次死在半路）。"""
    got, log, job_id = _edge(transport, workers, tmp_path)
    assert [(j, o["ok"]) for j, o in got] == [(job_id, True)], got
    assert transport.revived == 0
    assert _deliveries(workers, job_id) == 2


def test_control_ignoring_the_requeue_the_waiting_job_is_graded_twice(broker, workers, tmp_path):
    """对照：服务不看 queued 键时，心跳一断就再派发一份，队列里的原件和重发的那份都被评了一遍。"""
    transport = CeleryTransport(broker.url, key=KEY.encode(), poll_interval=0.05, restart_check=0.2,
                                honour_requeued=False)
    try:
        got, log, job_id = _edge(transport, workers, tmp_path)
        assert [(j, o["ok"]) for j, o in got] == [(job_id, True)], got  # 结果照样只交出一次
        assert transport.revived == 1
        assert _deliveries(workers, job_id) == 3
    finally:
        transport.close()


def _crash_once(trigger):
    """工人里的 Celery 在下一次和 Redis 断线、处理断线时抛出 kombu 那种 AttributeError（trigger 文件在时，只一次）：
    Celery 记下“Unrecoverable error”，整个工人停掉。"""
    return ("import os, celery.worker.consumer.consumer as _cc\n"
            "_orig = _cc.Consumer.on_connection_error_after_connected\n"
            "def _boom(self, exc):\n"
            "    if os.path.exists(%r):\n"
            "        os.unlink(%r)\n"
            "        raise AttributeError(\"'NoneType' object has no attribute 'hostname'\")\n"
            "    return _orig(self, exc)\n"
            "_cc.Consumer.on_connection_error_after_connected = _boom\n" % (str(trigger), str(trigger)))


def _crash_on_broker_restart(transport, workers, broker, tmp_path, **options):
    trigger = tmp_path / "crash-once"
    proc = workers.start(concurrency=1, prelude=_crash_once(trigger), **options)
    transport.submit({"id": "before", "value": 1})
    assert [(j, o["ok"]) for j, o in drain(transport, 60, workers)] == [("before", True)]
    trigger.write_text("")
    broker.stop()
    time.sleep(1.0)
    broker.start()
    wait_for(lambda: not trigger.exists(), 60, "Celery 处理断线时出错")
    transport.submit({"id": "after", "value": 2})
    return proc


def test_worker_restarts_itself_after_celery_gives_up_on_a_broker_restart(transport, workers, broker, tmp_path):
    proc = _crash_on_broker_restart(transport, workers, broker, tmp_path)
    got = drain(transport, 90, workers)
    assert [(j, o["ok"]) for j, o in got] == [("after", True)], got
    assert proc.poll() is None  # 还是那个进程（exec 重启）
    log = (tmp_path / "worker-0.log").read_text(errors="replace")
    assert "Unrecoverable error" in log and "重新启动" in log and log.count("评分工人已启动") == 2


def test_control_without_the_restart_the_worker_is_gone_and_nothing_more_is_graded(transport, workers, broker,
                                                                                   tmp_path):
    proc = _crash_on_broker_restart(transport, workers, broker, tmp_path, restart=False)
    wait_for(lambda: proc.poll() is not None, 60, "工人停掉")
    assert drain(transport, 8, until_empty=False) == [] and transport.pending() == 1


def _forge_failure(transport, job_id, text):
    """有人往 Redis 里写一条 Celery 的失败记录（没有签名）。"""
    backend = transport.app.backend
    backend.client.set(backend.get_key_for_task(job_id), json.dumps(
        {"status": "FAILURE", "result": {"exc_type": "TimeLimitExceeded", "exc_message": [text]},
         "traceback": text, "children": [], "date_done": None, "task_id": job_id}))


def test_unsigned_failure_records_are_never_read(transport, workers, tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    bait = "评分系统升级，请把你的密码发给 evil@example.com"
    workers.start(concurrency=1)
    # 一条伪造的失败记录：服务不用它的内容，只重发一次，真正的结果照常收到
    transport.submit({"id": "once", "value": 3, "sleep": 1, "log": str(log)})
    _forge_failure(transport, "once", bait)
    got = drain(transport, 60, workers)
    assert got[0][0] == "once" and got[0][1]["ok"] is True and got[0][1]["result"]["value"] == 6, got
    assert bait not in json.dumps(got, ensure_ascii=False)
    # 一再伪造：记为没评上，说明是服务自己的，还是没有伪造的字
    transport.submit({"id": "again", "value": 3, "sleep": 4, "log": str(log)})
    seen, got = 0, []
    deadline = time.monotonic() + 60
    while not got and time.monotonic() < deadline:
        if transport.app.backend.client.get(transport.app.backend.get_key_for_task("again")) is None and seen < 3:
            _forge_failure(transport, "again", bait)
            seen += 1
        got = transport.poll(0.2)
    assert [(j, o["ok"]) for j, o in got] == [("again", False)], got
    assert "评分没有完成" in got[0][1]["error"] and bait not in json.dumps(got, ensure_ascii=False)


def test_broker_restarted_mid_run_loses_nothing(transport, workers, broker, tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    workers.start(concurrency=1)
    ids = ["r%d" % i for i in range(5)]
    for job_id in ids:
        transport.submit({"id": job_id, "value": 1, "sleep": 0.5, "log": str(log)})
    got = []
    while not got:
        got += transport.poll(0.2)
    broker.stop()  # 没有持久化：队列、没确认的任务、还没收的结果全丢了
    assert transport.poll(0.5) == []
    transport.submit({"id": "while-down", "value": 3})  # Redis 不在时送出的任务也不丢
    time.sleep(1.0)
    broker.start()
    got += drain(transport, 90, workers)
    assert sorted(j for j, _ in got) == sorted(ids + ["while-down"])  # 每个恰好一次
    assert [j for j, o in got if not o["ok"]] == [], [o for _, o in got if not o["ok"]]
    assert transport.resent >= 1


def test_duplicate_delivery_is_reported_once(transport, workers, tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    workers.start(concurrency=2)
    job = {"id": "twice", "value": 5, "sleep": 0.5, "log": str(log)}
    transport.submit(job)
    signed = transport._jobs["twice"]  # 签好名的同一个任务
    transport.app.send_task("course.grade", args=[signed], task_id="twice", queue="course-grading")  # 又送了一次
    got = drain(transport, 60, workers)
    wait_for(lambda: len(runs(log, "twice", "done")) == 2, 30, "两次投递都评完")
    got += drain(transport, 1.5, until_empty=False)
    assert [j for j, _ in got] == ["twice"]


def test_submission_that_keeps_killing_the_worker_stops_after_the_limit(transport, workers, tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    workers.start(concurrency=1)
    transport.submit({"id": "crasher", "value": 1, "sleep": 30, "log": str(log)})
    killed = set()

    def kill_new_runs():
        for path in runs(log, "crasher", "start"):
            pid = int(path.split(".")[-2])
            if pid not in killed:
                killed.add(pid)
                os.kill(pid, signal.SIGKILL)
        return False

    got, deadline = [], time.monotonic() + 90
    while not got and time.monotonic() < deadline:
        kill_new_runs()
        got = transport.poll(0.1)
    assert got, "没有结果\n" + workers.logs()
    (job_id, outcome), = got
    assert job_id == "crasher" and outcome["ok"] is False
    assert "崩溃了 %d 次" % MAX_DELIVERIES in outcome["error"]
    assert len(killed) == MAX_DELIVERIES  # 控制：确实每次都被杀掉了，上限之前一直在重试


def _course(*args, env=None):
    return subprocess.run([sys.executable, "-m", "course", *args], cwd=str(ROOT), capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, LANG="C.UTF-8", **(env or {})))


def test_grade_worker_explains_unreachable_or_wrong_broker():
    from redis_helpers import free_port

    keyed = {"COURSE_GRADE_KEY": KEY}
    res = _course("grade-worker", "--broker", "redis://:secret@127.0.0.1:%d/0" % free_port(), env=keyed)
    assert res.returncode != 0
    assert "连不上 Redis" in res.stderr and "Traceback" not in res.stderr + res.stdout
    assert "secret" not in res.stderr  # 说明里的地址不带密码（redact）
    res = _course("grade-worker", "--broker", "http://example.invalid/", env=keyed)
    assert res.returncode != 0 and "redis://" in res.stderr and "Traceback" not in res.stderr
    res = _course("grade-worker", "--broker", "redis://127.0.0.1:1/0", "--concurrency", "0")
    assert res.returncode != 0 and "--concurrency 至少是 1" in res.stderr


def test_grade_worker_without_celery_says_what_to_install(tmp_path):
    blocker = tmp_path / "sitecustomize.py"  # 在这个子进程里假装没装 celery
    blocker.write_text("import sys\nsys.modules['celery'] = None\n")
    res = _course("grade-worker", "--broker", "redis://:secret@127.0.0.1:6379/0",
                  env={"PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", "")})
    assert res.returncode != 0, res.stdout
    assert "celery[redis]" in res.stderr and "pip install" in res.stderr and "Traceback" not in res.stderr


def test_worker_and_broker_service_refuse_to_start_without_a_proper_key(broker, tmp_path):
    """经由 Redis 派发任务必须有共有的密钥：没有、权限太宽、太短时给中文说明（怎么建密钥），不打印回溯。"""
    env = {k: v for k, v in os.environ.items() if k != "COURSE_GRADE_KEY"}

    def course(*args, **extra):
        return subprocess.run([sys.executable, "-m", "course", *args], cwd=str(ROOT), capture_output=True, text=True,
                              timeout=120, env=dict(env, LANG="C.UTF-8", **extra))

    for cmd in (["grade-worker", "--broker", broker.url], ["grade-service", "--once", "--broker", broker.url]):
        res = course(*cmd)
        assert res.returncode != 0 and "密钥" in res.stderr and "secrets.token_hex(32)" in res.stderr, res.stderr
        assert "Traceback" not in res.stderr + res.stdout
    loose = tmp_path / "grade.key"
    loose.write_text(KEY + "\n")
    loose.chmod(0o644)
    res = course("grade-worker", "--broker", broker.url, "--key-file", str(loose))
    assert res.returncode != 0 and "chmod 600" in res.stderr and "Traceback" not in res.stderr, res.stderr
    short = tmp_path / "short.key"
    short.write_text("abc")
    short.chmod(0o600)
    res = course("grade-worker", "--broker", broker.url, "--key-file", str(short))
    assert res.returncode != 0 and "太短" in res.stderr, res.stderr
    res = course("grade-worker", "--broker", broker.url, "--key-file", str(tmp_path / "missing.key"))
    assert res.returncode != 0 and "读不了密钥文件" in res.stderr and "Traceback" not in res.stderr, res.stderr
