"""LocalTransport：本机 N 个工人进程（grade-service 不带 --broker 时的默认做法，不要任何服务器）。

每个工人是一个单独的 Python 进程（spawn），启动时导入 nbgrader 和课程包一次（jobs.warm），之后一个接一个地做任务
（每条 nbgrader 命令从工人 fork 出来，见 forkrun.py）：
服务经由各自的管道把任务交给空闲的工人，工人调用 jobs.run_job，把结果送回来。排队的任务留在服务这边，
不放进进程间共享的队列：工人被 kill -9 时不会带坏别人的队列，它手上的那个任务交给一个新工人重新评
（同一个任务连续 MAX_DEATHS 次让工人死掉，就不再重试，结果是 {"ok": False}）。结果按任务 id 去重由服务做。
"""
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
from collections import deque
from multiprocessing.connection import wait

from .transport import Transport

__all__ = ["LocalTransport", "MAX_DEATHS"]

MAX_DEATHS = 3


def _die_with_service(service):
    """服务进程没了（哪怕是被 kill -9），工人马上跟着结束，不再把手上的任务评完：结果已经没有人收，
    服务重启后按它的记录重新派发。工人 fork 出的命令和待命子进程又随工人结束（forkrun.py），沙箱内核随它们结束。
    PR_SET_PDEATHSIG 跟的是创建工人的那个线程，所以服务只在主线程里创建的工人才这样做（见 _Worker）。"""
    from ...tools.procs import die_with_parent

    if not die_with_parent(service):  # 服务在工人启动的这一会儿就已经没了
        os._exit(0)


def _worker_main(conn, cache_dir, job_fn, service=None):
    """工人进程：收任务、评分、送回结果；收到 None 就退出。service：服务的进程号（见 _die_with_service）。"""
    if service is not None:
        _die_with_service(service)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C 由服务处理，工人做完手上的任务再走
    module, _, name = job_fn.partition(":")
    fn = getattr(__import__(module, fromlist=[name]), name)
    warm = getattr(__import__(module, fromlist=["warm"]), "warm", None)
    if warm is not None:  # 先导入好 nbgrader 和课程的评分部分：每个任务从这里 fork，不再多等几秒
        try:
            warm(cache_dir)
        except Exception:
            pass
    while True:
        try:
            job = conn.recv()
        except EOFError:
            job = None
        if job is None:  # 退出时不必清理几千个模块（要零点几秒）：手上没有任务，也没有要写的东西
            from .forkrun import discard_standby

            discard_standby()  # 待命的子进程和它预先启动的内核
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            os._exit(0)
        try:
            outcome = {"ok": True, "result": fn(job, cache_dir)}
        except Exception as exc:  # 工人一端的意外：说清楚，不让工人进程死掉
            outcome = {"ok": False, "error": "工人评分时出错：%s: %s" % (type(exc).__name__, str(exc)[:2000])}
        try:
            conn.send((job.get("id"), outcome))
        except (OSError, ValueError):
            return


class _Worker:
    def __init__(self, ctx, cache_dir, job_fn, die_with_service=True):
        self.conn, child = ctx.Pipe()
        main = threading.current_thread() is threading.main_thread()
        service = os.getpid() if die_with_service and main else None
        self.proc = ctx.Process(target=_worker_main, args=(child, cache_dir, job_fn, service), daemon=True,
                                name="grade-worker")
        self.proc.start()
        child.close()
        self.job = None  # 手上的任务
        self.since = None


class LocalTransport(Transport):
    """workers 个本机工人进程；cache_dir 是工人缓存作业包和临时课程的地方（默认一个临时文件夹）。
    die_with_service：服务进程死掉时工人跟着结束（默认；False 只给测试作对照：工人会把手上的任务评完才发现）。"""

    def __init__(self, workers=1, cache_dir=None, job_fn="course.grading.service.jobs:run_job", die_with_service=True):
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError("工人进程数应当是正整数，收到的是 %r" % (workers,))
        self._own_cache = cache_dir is None
        self.cache_dir = cache_dir or tempfile.mkdtemp(prefix="grade-workers-")
        os.makedirs(self.cache_dir, exist_ok=True)
        self._ctx = multiprocessing.get_context("spawn")
        self._job_fn = job_fn
        self._die_with_service = die_with_service
        self._n = workers
        self._workers = []
        self._queue = deque()
        self._deaths = {}  # {job_id: 工人死在它手上的次数}
        self.restarts = 0
        self._start()  # 工人现在就开始导入（和服务自己的启动同时进行），第一份提交不用等

    def _start(self):
        while len(self._workers) < self._n:
            self._workers.append(_Worker(self._ctx, self.cache_dir, self._job_fn, self._die_with_service))

    def submit(self, job):
        self._queue.append(job)
        self._dispatch()

    def _dispatch(self):
        self._workers = [w for w in self._workers if w.job is not None or w.proc.is_alive()]
        self._start()
        for w in self._workers:
            if w.job is None and self._queue:
                job = self._queue.popleft()
                try:
                    w.conn.send(job)
                except (OSError, ValueError):  # 工人已经死了：任务放回队首，下次 poll 时换人
                    self._queue.appendleft(job)
                    continue
                w.job, w.since = job, time.time()

    def running(self):
        """{任务 id: (工人进程号, 开始的时间)}（grade-status 和测试用）。"""
        return {w.job["id"]: (w.proc.pid, w.since) for w in self._workers if w.job is not None}

    def _bury(self, w, out):
        """工人 w 死了：它手上的任务重新排队（或者放弃），换一个新工人。"""
        self._workers.remove(w)
        w.conn.close()
        self.restarts += 1
        job = w.job
        if job is not None:
            jid = job.get("id")
            self._deaths[jid] = self._deaths.get(jid, 0) + 1
            if self._deaths[jid] >= MAX_DEATHS:
                out.append((jid, {"ok": False, "error": "评这份提交的工人进程 %d 次意外退出（退出码 %s），不再重试"
                                  % (self._deaths[jid], w.proc.exitcode)}))
            else:
                self._queue.appendleft(job)

    def poll(self, timeout):
        self._dispatch()
        out = []
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            busy = [w for w in self._workers if w.job is not None]
            if not busy:
                if not self._queue:
                    time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
                    return out
            ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy],
                         timeout=max(0.0, deadline - time.monotonic()))
            for w in list(busy):
                if w.conn in ready:
                    try:
                        job_id, outcome = w.conn.recv()
                    except (EOFError, OSError):
                        w.proc.join(1)
                        self._bury(w, out)
                        continue
                    out.append((job_id, outcome))
                    self._deaths.pop(job_id, None)
                    w.job = None
                elif w.proc.sentinel in ready:
                    w.proc.join(1)
                    self._bury(w, out)
            self._dispatch()
            if out or time.monotonic() >= deadline:
                return out

    def pending(self):
        return len(self._queue) + sum(1 for w in self._workers if w.job is not None)

    def close(self):
        for w in self._workers:
            try:
                w.conn.send(None)
            except (OSError, ValueError):
                pass
        for w in self._workers:
            w.proc.join(5)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(5)
            w.conn.close()
        self._workers = []
        if self._own_cache:
            from .jobs import _rmtree

            _rmtree(self.cache_dir)
