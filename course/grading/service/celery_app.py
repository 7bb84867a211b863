"""评分任务走 Celery（Redis 作消息队列和结果存放处）：服务一端的 CeleryTransport 和工人一端的任务 course.grade。

服务一端（python -m course grade-service --broker redis://…）：

    transport = CeleryTransport("redis://host:6379/0")    # 连不上时 SystemExit，中文说明
    transport.submit(job); transport.poll(1.0) -> [(job_id, outcome)]; transport.pending(); transport.close()

工人一端（python -m course grade-worker --broker URL，见 worker.py）在每台机器上跑，从 Redis 取任务，调用
jobs.run_job(job, cache_dir)，结果是纯数据，放回 Redis；工人不需要和服务共享文件系统，也从不碰成绩库。

不丢、不重：
- 晚确认（acks_late）：工人评完才确认；评分子进程被 kill -9 时任务退回队列（task_reject_on_worker_lost），
  另一个子进程重评。退回队列时工人主进程记下 queued 键：任务在队列里等多久都不算“工人没了”（见下），不会被
  服务再派发一份。
- 整台工人机器死掉（主进程也没了，没人退回任务）：评分时工人每隔几秒续一次“还在评”的心跳键（ALIVE_TTL 秒
  过期）；服务看到一个任务开始评了、心跳断了、又没有结果，就把它重新派发，不必等 Redis 在 visibility_timeout
  之后把没确认的任务放回队列。那份迟来的重复投递照常评完，结果只交出一次（见下）。
- 一个工人一次只拿一个任务（worker_prefetch_multiplier=1）；一份提交让工人崩溃 MAX_DELIVERIES 次以后不再
  重试，结果是 {"ok": False, "error": 中文说明}，而不是永远在工人之间转圈。
- Redis 掉线：服务这边不退出，连上以后补发没送出的任务；Redis 重启过（run_id 变了：没有持久化时队列和结果
  都丢了）就把所有还没收到结果的任务重发一遍。于是同一个 job_id 的结果可能来两次：transport 只交出第一次，
  服务按 job_id 只记一次（transport.py 的约定）。
- 最后一道保险：一个任务 stale_after 秒还没有结果（比如结果在网络断开时没存进去），重发一次。
- 结果都要有工人的签名（signing.py）。Celery 自己写下的失败记录（超过硬时限被杀、被撤销）没有签名：服务不用
  它的任何内容（那里面的字谁都能写），只当作“这次投递没有交回签名的结果”，重发一次；再来一次才记为没评上，
  说明文字是服务自己的。
"""
import json
import sys
import threading
import time

try:
    from celery import Celery
    from celery import states
    from celery.worker.request import Request
    from kombu.exceptions import OperationalError
    import redis
except ImportError as exc:  # 学生的精简环境里没有这些包：给一句中文说明
    raise ImportError("Celery 分布式评分需要 celery[redis]：pip install -r requirements-dev.txt，"
                      "或 pip install 'celery[redis]'（%s）" % exc) from exc

from . import signing
from .transport import Transport

__all__ = ["CeleryTransport", "make_app", "check_broker", "TASK_NAME", "QUEUE", "MAX_DELIVERIES", "ALIVE_TTL",
           "UNSIGNED_ENDINGS"]

TASK_NAME = "course.grade"
QUEUE = "course-grading"
MAX_DELIVERIES = 4             # 一份提交最多让工人崩溃几次（kill -9、内存耗尽……）
TIME_LIMIT = 30 * 60           # 一个任务最多评多久（秒）：超过时工人杀掉评分子进程，结果是出错
VISIBILITY_TIMEOUT = 45 * 60   # 没确认的任务多久以后回到队列：必须比 TIME_LIMIT 长，否则还在评的任务会被重发
STALE_AFTER = 3 * 60 * 60      # 服务这边多久没收到结果就重发
ALIVE_TTL = 30                 # 工人评分时的心跳键多久过期（秒）：断了这么久，服务就当这个工人死了，重新派发
UNSIGNED_ENDINGS = 2           # 一个任务收到几次没有签名的失败记录（超时被杀、撤销）以后记为没评上
CONNECTION_ERRORS = (OperationalError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


def check_broker(url, timeout=5.0):
    """能连上 url 这个 Redis 就返回；否则 SystemExit，中文说明怎么办（不打印回溯）。"""
    if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
        raise SystemExit("--broker 要写成 Redis 的地址，比如 redis://127.0.0.1:6379/0（现在是：%s）" % (signing.redact(url),))
    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        client.ping()
        client.close()
    except (redis.exceptions.RedisError, OSError, ValueError) as exc:
        raise SystemExit("连不上 Redis（%s）：%s\n先启动 Redis（Debian：apt-get install redis-server），"
                         "再检查地址、端口、密码和防火墙。" % (signing.redact(url), exc)) from None


def make_app(broker_url, time_limit=TIME_LIMIT, visibility_timeout=VISIBILITY_TIMEOUT):
    """按课程的设置建一个 Celery 应用（服务和工人用同一份设置）。"""
    if visibility_timeout <= time_limit:
        raise ValueError("visibility_timeout（%s 秒）必须比 time_limit（%s 秒）长" % (visibility_timeout, time_limit))
    app = Celery("course-grading", broker=broker_url, backend=broker_url, set_as_current=False)
    sockets = {"socket_timeout": 30, "socket_connect_timeout": 5, "socket_keepalive": True}
    app.conf.update(
        task_serializer="json", result_serializer="json", accept_content=["json"],
        task_default_queue=QUEUE,
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_time_limit=time_limit, task_soft_time_limit=time_limit - min(30, time_limit / 10),
        broker_transport_options=dict(sockets, visibility_timeout=visibility_timeout,
                                      unacked_restore_interval=min(10, max(1, visibility_timeout // 10)),
                                      unacked_restore_throttle=1),
        # 工人存结果时 Redis 不在：每隔几秒再试，约十分钟；之后服务那边的重发兜底
        result_backend_always_retry=True, result_backend_max_retries=120,
        result_backend_base_sleep_between_retries_ms=200, result_backend_max_sleep_between_retries_ms=5000,
        result_backend_transport_options={"retry_policy": {"max_retries": 120, "interval_start": 0,
                                                           "interval_step": 1, "interval_max": 5}},
        redis_socket_timeout=30, redis_socket_connect_timeout=5, redis_retry_on_timeout=True,
        redis_socket_keepalive=True,
        result_expires=24 * 3600, result_extended=False,
        broker_connection_retry_on_startup=True, broker_connection_max_retries=None,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_hijack_root_logger=False, worker_redirect_stdouts=False,
        worker_send_task_events=False, task_send_sent_event=False,
    )
    return app


def _delivery_key(job_id):
    return "course-grading:deliveries:%s" % job_id


def _started_key(job_id):
    return "course-grading:started:%s" % job_id


def _alive_key(job_id):
    return "course-grading:alive:%s" % job_id


def _queued_key(job_id):
    return "course-grading:queued:%s" % job_id


class _RequeueAwareRequest(Request):
    """工人主进程里的任务请求：评分子进程死在半路（kill -9、内存耗尽）、Celery 把任务退回队列时，记下 queued 键
    （VISIBILITY_TIMEOUT 秒过期）。任务这时在队列里等下一个空出来的子进程，心跳断了也不是工人没了：服务看到这个键
    就不重新派发（否则队列里的原件和重发的那份都会被评一遍）。再开始评时（_Heartbeat）删掉它。
    工人在任务重新开始评以前整个没了（主进程已经又取走了它）：这个键过期时 Redis 也正好把没确认的任务放回队列，
    慢了，但什么也不丢。"""

    def reject(self, requeue=False):
        super().reject(requeue=requeue)
        if requeue:
            try:
                self.task.backend.client.set(_queued_key(self.id), "1", ex=VISIBILITY_TIMEOUT)
            except CONNECTION_ERRORS + (redis.exceptions.RedisError,):
                pass  # 记不下：服务按心跳重发，最多评两次，结果照样只交出一次


class _Heartbeat:
    """评分期间每隔 ttl/5 秒把这个任务的心跳键续到 ttl 秒后过期；评完不删它（让它自己过期：结果存进 Redis
    以前心跳一直在，服务不会误以为工人死了）。Redis 不在时只是续不上，评分照常。"""

    def __init__(self, client, job_id, ttl):
        self.client, self.job_id, self.ttl = client, job_id, max(1, int(ttl))
        self._stop = threading.Event()
        self._thread = None

    def _beat(self):
        try:
            self.client.set(_alive_key(self.job_id), "1", ex=self.ttl)
        except CONNECTION_ERRORS + (redis.exceptions.RedisError,):
            pass

    def __enter__(self):
        try:
            self.client.set(_started_key(self.job_id), "1", ex=24 * 3600)
        except CONNECTION_ERRORS + (redis.exceptions.RedisError,):
            pass
        self._beat()
        try:  # 又有人在评了：从这里起心跳断了就真是工人没了
            self.client.delete(_queued_key(self.job_id))
        except CONNECTION_ERRORS + (redis.exceptions.RedisError,):
            pass
        self._thread = threading.Thread(target=self._run, name="course-grading-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.ttl / 5):
            self._beat()

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        return False


def register_task(app, job_func, cache_dir, max_deliveries=MAX_DELIVERIES, key=None, alive_ttl=ALIVE_TTL):
    """在 app 上登记任务 course.grade：先验任务的签名（signing.py；不对就不碰任务里的任何东西），
    再调用 job_func(job, cache_dir)（评分期间续心跳，alive_ttl 见 ALIVE_TTL），返回签了名的 outcome（纯数据）。"""
    if not key:
        raise ValueError("register_task 需要密钥（signing.load_key）")

    @app.task(name=TASK_NAME, bind=True, Request=_RequeueAwareRequest)
    def grade(self, job):
        if not signing.verify_job(key, job):
            job_id = str(job.get("id", ""))[:64] if isinstance(job, dict) else "?"
            print("评分工人拒绝了任务 %r：签名不对（有人伪造任务，或者服务和工人的密钥不一样），没有评分。" % job_id,
                  file=sys.stderr, flush=True)
            return {"ok": False, "error": "任务的签名不对，工人没有评分（服务和工人的密钥不一样？）"}
        return signing.sign_result(key, job, _grade(self, job))

    def _grade(self, job):
        job_id = str(job.get("id", "")) if isinstance(job, dict) else ""
        client = self.app.backend.client
        try:
            count = client.incr(_delivery_key(job_id))
            client.expire(_delivery_key(job_id), 24 * 3600)
        except CONNECTION_ERRORS + (redis.exceptions.RedisError,):
            count = 1  # 数不了就当第一次
        if count > max_deliveries:
            return {"ok": False, "error": "这份提交已经让评分工人中途崩溃了 %d 次（比如内存耗尽、进程被杀），"
                                          "不再自动重试；请教师检查后手动评分。" % (count - 1)}
        try:
            with _Heartbeat(client, job_id, alive_ttl):
                return {"ok": True, "result": job_func(job, cache_dir)}
        except Exception as exc:  # noqa: BLE001 - 任何错误都变成中文说明交回服务，工人继续接下一个任务
            return {"ok": False, "error": ("评分工人出错（%s）：%s" % (type(exc).__name__, exc))[:4000]}

    return grade


def _outcome(meta):
    """结果存放处的一条记录 -> outcome；还没结束时返回 None。"""
    status = meta.get("status")
    if status == states.SUCCESS:
        result = meta.get("result")
        if isinstance(result, dict) and "ok" in result:
            return dict(result)
        return {"ok": False, "error": "评分工人交回的结果格式不对：%r" % (result,)[:2000]}
    if status in states.READY_STATES:  # FAILURE、REVOKED：比如超过了 TIME_LIMIT。没有签名，内容不用
        return _UNSIGNED_ENDING
    return None


_FORGED = object()
_UNSIGNED_ENDING = object()
NOT_FINISHED = ("评分没有完成：评分工人 %d 次都没有交回签了名的结果（超过了评分时限被杀、任务被撤销，"
                "或者有人改了 Redis 里的记录）。请教师检查这份提交后手动评分。")


class CeleryTransport(Transport):
    """Transport 的 Celery 实现：submit 发到 Redis 的队列，poll 从结果存放处收结果（见模块说明）。"""

    def __init__(self, broker_url, key=None, poll_interval=0.1, stale_after=STALE_AFTER, restart_check=1.0,
                 warn=None, watch_workers=True, honour_requeued=True):
        self.key = key or signing.load_key()  # 没有密钥：SystemExit，中文说明
        self.warn = warn or (lambda text: print(text, file=sys.stderr, flush=True))
        self.refused = 0      # 收到的、签名不对的结果（没有用）
        check_broker(broker_url)
        self.app = make_app(broker_url)
        self.poll_interval, self.stale_after, self.restart_check = poll_interval, stale_after, restart_check
        self._jobs = {}       # job_id -> job（送出了、还没收到结果）
        self._sent_at = {}    # job_id -> 上次送出（或重发）的时刻；还没送出去的不在这里
        self._unsent = []     # 还要送出（或重发）的 job_id，按顺序
        self._run_id = None   # Redis 的 run_id：变了说明 Redis 重启过
        self._checked = 0.0
        self.resent = 0       # 重发了几次（基准和测试看这个数）
        self.revived = 0      # 其中因为评它的工人没了心跳而重发的次数
        self.watch_workers = watch_workers  # False：不看心跳（只靠 visibility_timeout；测试里作对照）
        self.honour_requeued = honour_requeued  # False：不管任务是不是退回了队列、正等着重评（测试里作对照）
        self._unsigned = {}   # job_id -> 收到的没有签名的失败记录的次数
        self._maintain(force=True)

    # ---- 约定的四个方法 ------------------------------------------------------------------
    def submit(self, job):
        job_id = str(job["id"])
        json.dumps(job)  # 不是纯数据时在服务这边就报错，而不是在队列里
        job = signing.sign_job(self.key, job)  # 每次派发一个新的 nonce：旧的结果对不上新的任务
        self._jobs[job_id] = job
        self._sent_at.pop(job_id, None)
        if job_id not in self._unsent:
            self._unsent.append(job_id)
        self._flush()

    def poll(self, timeout):
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            self._maintain()
            done = self._collect()
            left = deadline - time.monotonic()
            if done or left <= 0:
                return done
            time.sleep(min(self.poll_interval, left))

    def pending(self):
        return len(self._jobs)

    def close(self):
        try:
            self.app.close()
        except Exception:  # noqa: BLE001 - 断开时 Redis 已经不在也没关系
            pass

    # ---- 送出 ------------------------------------------------------------------------
    def _flush(self):
        while self._unsent:
            job_id = self._unsent[0]
            try:
                res = self.app.send_task(
                    TASK_NAME, args=[self._jobs[job_id]], task_id=job_id, queue=QUEUE, retry=True,
                    retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2})
                self._forget(res)
            except CONNECTION_ERRORS:
                return  # Redis 不在：下次 poll 再送
            self._unsent.pop(0)
            self._sent_at[job_id] = time.monotonic()

    def _forget(self, res):
        """send_task 为这个任务订阅了结果频道；我们按键轮询，不读频道，退订免得消息堆在连接里。"""
        try:
            self.app.backend.result_consumer.cancel_for(res.id)
        except Exception:  # noqa: BLE001
            pass

    # ---- 掉线、重启、超时 ----------------------------------------------------------------
    def _maintain(self, force=False):
        now = time.monotonic()
        if force or now - self._checked >= self.restart_check:
            self._checked = now
            try:
                run_id = self.app.backend.client.info("server").get("run_id")
            except CONNECTION_ERRORS + (redis.exceptions.RedisError,):
                return  # Redis 不在：任务留在手里，等它回来
            if self._run_id is not None and run_id != self._run_id:
                self._resend(list(self._jobs))  # Redis 重启过：队列和结果可能都没了
            self._run_id = run_id
            stale = [j for j, t in self._sent_at.items() if now - t > self.stale_after]
            self._resend(stale)
            if self.watch_workers:
                self._revive_orphans()
        self._flush()

    def _revive_orphans(self):
        """开始评了（started 键在）、心跳断了（alive 键过期）、也没有结果、又不是退回了队列正等着重评（queued 键）
        的任务：评它的工人没了，重新派发。"""
        ids = list(self._sent_at)
        if not ids:
            return
        backend = self.app.backend
        try:
            for start in range(0, len(ids), 300):
                chunk = ids[start:start + 300]
                keys = []
                for job_id in chunk:
                    keys += [_started_key(job_id), _alive_key(job_id), backend.get_key_for_task(job_id),
                             _queued_key(job_id)]
                values = backend.client.mget(keys)
                orphans = [job_id for i, job_id in enumerate(chunk)
                           if values[4 * i] is not None and values[4 * i + 1] is None and values[4 * i + 2] is None
                           and (values[4 * i + 3] is None or not self.honour_requeued)]
                if orphans:
                    backend.client.delete(*[_started_key(j) for j in orphans])
                    self._resend(orphans)
                    self.revived += len(orphans)
                    self.warn("评分工人没有心跳了（机器死机、断网或被停掉），%d 个正在评的任务重新派发：%s"
                              % (len(orphans), "、".join(orphans[:5]) + ("……" if len(orphans) > 5 else "")))
        except CONNECTION_ERRORS + (redis.exceptions.RedisError,):
            return

    def _resend(self, job_ids):
        for job_id in job_ids:
            if job_id in self._jobs and job_id not in self._unsent:
                self._unsent.append(job_id)
                self._sent_at.pop(job_id, None)
                self.resent += 1

    # ---- 收结果 ------------------------------------------------------------------------
    def _verified(self, job_id, outcome):
        """签名对的 outcome（去掉签名）；还没结束 None；签名不对 _FORGED；没有签名的失败记录 _UNSIGNED_ENDING。"""
        if outcome is None or job_id not in self._jobs:
            return None
        if outcome is _UNSIGNED_ENDING:
            return outcome
        if not signing.verify_result(self.key, self._jobs[job_id], outcome):
            return _FORGED
        return {k: v for k, v in outcome.items() if k != "sig"}

    def _collect(self):
        ids = [j for j in self._jobs if j in self._sent_at or j in self._unsent]
        if not ids:
            return []
        backend = self.app.backend
        done, forged, unsigned = [], [], []
        try:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                values = backend.mget([backend.get_key_for_task(j) for j in chunk])
                for job_id, value in zip(chunk, values):
                    if value is None:
                        continue
                    outcome = self._verified(job_id, _outcome(backend.decode_result(value)))
                    if outcome is None:
                        continue
                    if outcome is _FORGED:
                        forged.append(job_id)
                    elif outcome is _UNSIGNED_ENDING:
                        unsigned.append(job_id)
                    else:
                        done.append((job_id, outcome))
            if done or forged or unsigned:
                backend.client.delete(*[backend.get_key_for_task(j) for j in [j for j, _ in done] + forged + unsigned])
        except CONNECTION_ERRORS + (redis.exceptions.RedisError,):
            pass  # 已经读到的结果照样交出；删不掉的等过期
        for job_id in forged:  # 删掉伪造的那份，接着等真正的结果（被它盖掉的，stale_after 以后重发兜底）
            self.refused += 1
            self.warn("任务 %s 的结果签名不对，没有用它：有人在 Redis 里伪造结果，或者工人的密钥和服务的不一样。" % job_id)
        for job_id in unsigned:  # 内容不用；第一次重发，再来一次记为没评上（服务自己的说明）
            count = self._unsigned[job_id] = self._unsigned.get(job_id, 0) + 1
            if count < UNSIGNED_ENDINGS:
                self.warn("任务 %s 没有交回签了名的结果（超时被杀、被撤销，或记录被人改过），重新派发一次。" % job_id)
                self._resend([job_id])
            else:
                done.append((job_id, {"ok": False, "error": NOT_FINISHED % count}))
        for job_id, _ in done:
            self._unsigned.pop(job_id, None)
            self._jobs.pop(job_id, None)
            self._sent_at.pop(job_id, None)
            if job_id in self._unsent:
                self._unsent.remove(job_id)
        return done
