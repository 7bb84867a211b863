"""python -m course grade-worker --broker URL [--concurrency N] [--cache DIR]：一台机器上的 Celery 评分工人。

URL 必须带 Redis 的密码（redis://:密码@主机:6379/0；任务里有藏起来的测试），--allow-open-broker 例外
（signing.check_broker_password，和 grade-service 同一处检查）。

工人从 Redis 取评分任务（celery_app.TASK_NAME），调用 jobs.run_job(job, cache_dir)，把纯数据的结果放回 Redis。
它不需要课程文件夹，不需要和服务共享文件系统，从不碰成绩库；作业包按内容的哈希缓存在 --cache 下。

工人是"热"的：主进程启动时导入 nbgrader 和课程包一次，再分出 N 个评分子进程（prefork），子进程直接继承，
每个任务不再付导入的时间；一个子进程一次只评一份提交（worker_prefetch_multiplier=1）。
任务和结果都带签名（signing.py）：工人只评服务用共有的密钥签过的任务（--key-file 或 COURSE_GRADE_KEY）。
Redis 中途掉线时工人不退出，一直重连；启动时连不上就给一句中文说明退出（不打印回溯）。
重连时 Celery/kombu 偶尔自己出错（“Unrecoverable error”，例如 Redis 重启那一刻确认消息时连接已经没了），
Celery 的工人这时会整个停掉：不是有人叫它停（SIGTERM、Ctrl-C）时，grade-worker 等一会儿用同一个进程号重新启动自己
（exec 同一条命令；接连出事时等得越来越久，最多 60 秒），没评完的任务由服务按心跳和 visibility_timeout 重发。
"""
import importlib
import os
import socket
import sys
import time

__all__ = ["add_arguments", "run", "run_worker", "default_cache_dir", "RESTARTS_ENV"]

RESTARTS_ENV = "COURSE_GRADE_WORKER_RESTARTS"  # exec 重启时带给新进程：接连重启了几次（决定等多久）


def default_cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "course-grading")


def add_arguments(parser):
    parser.add_argument("--broker", default=os.environ.get("COURSE_GRADE_BROKER") or None, metavar="URL",
                        help="Redis 的地址，带密码（和 grade-service --broker 的一样），如 redis://:密码@10.0.0.5:6379/0；"
                             "不写时读环境变量 COURSE_GRADE_BROKER（写在环境变量里，别的用户用 ps 看不到密码）")
    parser.add_argument("--concurrency", type=int, default=None, metavar="N",
                        help="同时评几份提交（默认：本机的 CPU 核数）")
    parser.add_argument("--cache", default=None, metavar="DIR",
                        help="作业包的缓存文件夹（默认 %s）" % default_cache_dir())
    parser.add_argument("--key-file", default=None, metavar="FILE",
                        help="和服务共有的密钥文件（权限 600；见 README 的“多台机器”）；不写时读环境变量 COURSE_GRADE_KEY")
    from .standbys import add_standby_argument

    add_standby_argument(parser)
    parser.add_argument("--loglevel", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="Celery 日志的详细程度（默认 WARNING）")
    from .signing import add_broker_arguments

    add_broker_arguments(parser)


def _load_celery():
    try:
        from . import celery_app
    except ImportError as exc:
        raise SystemExit(str(exc)) from None
    return celery_app


def _warm():
    """导入评分要用的一切（nbgrader、课程的评分插件、run_job）；返回 run_job。子进程从这里继承。"""
    for name in ("nbgrader.apps.autogradeapp", "nbgrader.converters.autograde", "nbclient", "jupyter_client"):
        importlib.import_module(name)
    from . import jobs

    jobs.warm()  # 其余要导入的、要预先建好的缓存都在主进程里做好：评分子进程（和它们 fork 出的命令）直接继承
    warm = getattr(jobs, "warm", None)  # 子进程里再调用一次（已经做过的不再做）
    return jobs.run_job, warm


def run_worker(broker_url, concurrency=None, cache_dir=None, job_func=None, loglevel="WARNING",
               time_limit=None, visibility_timeout=None, key=None, key_file=None, alive_ttl=None, restart=True):
    """起一个 Celery 工人并一直运行（直到 SIGTERM / Ctrl-C）；返回退出码。Celery 因为无法恢复的错误自己停掉时，
    restart 为真就 exec 同一条命令重新启动（见模块说明；False 只在测试里作对照）。

    job_func 默认是 jobs.run_job；测试可以换成别的函数（子进程里同样可用的、模块顶层的函数）。
    key：和服务共有的密钥（bytes）；不给时从 key_file 或环境变量 COURSE_GRADE_KEY 读（signing.load_key）。
    只评签名对的任务。
    """
    from .signing import load_key

    celery_app = _load_celery()
    key = key or load_key(key_file)  # 没有密钥：SystemExit，中文说明
    celery_app.check_broker(broker_url)
    cache_dir = os.path.abspath(cache_dir or default_cache_dir())
    os.makedirs(cache_dir, exist_ok=True)
    concurrency = max(1, int(concurrency or os.cpu_count() or 1))
    warm = None
    if job_func is None:
        try:
            job_func, warm = _warm()
        except ImportError as exc:
            raise SystemExit("评分工人需要 nbgrader 和课程的评分部分：pip install -r requirements-dev.txt（%s）" % exc) \
                from None
    options = {}
    if time_limit is not None:
        options["time_limit"] = time_limit
    if visibility_timeout is not None:
        options["visibility_timeout"] = visibility_timeout
    app = celery_app.make_app(broker_url, **options)
    celery_app.register_task(app, job_func, cache_dir, key=key,
                             alive_ttl=celery_app.ALIVE_TTL if alive_ttl is None else alive_ttl)
    if warm is not None:
        from celery.signals import worker_process_init, worker_process_shutdown

        from .forkrun import discard_standby

        worker_process_init.connect(lambda **_: warm(cache_dir), weak=False)
        # 评分进程退出时结束它待命的子进程和预先启动的内核（否则只靠 PR_SET_PDEATHSIG，留下空的工作文件夹）
        worker_process_shutdown.connect(lambda **_: discard_standby(), weak=False)
    import warnings
    from celery.platforms import SecurityWarning

    # 以 root 运行时 Celery 警告 pickle 的风险：课程只收发 JSON（accept_content），学生的代码在沙箱里运行
    warnings.filterwarnings("ignore", category=SecurityWarning)
    hostname = "grade-%d@%s" % (os.getpid(), socket.gethostname())
    print("评分工人已启动：%s，%d 个评分进程，作业包缓存在 %s；Ctrl-C 停止。" % (hostname, concurrency, cache_dir),
          flush=True)
    worker = app.Worker(
        hostname=hostname, concurrency=concurrency, pool_cls="prefork", loglevel=loglevel,
        queues=[celery_app.QUEUE], without_gossip=True, without_mingle=True, without_heartbeat=True,
        optimization="fair", quiet=True, redirect_stdouts=False)
    from celery.signals import worker_shutting_down

    asked = []  # 有人叫工人停（SIGTERM、SIGINT、SIGQUIT）：Celery 先发这个信号
    worker_shutting_down.connect(lambda **kw: asked.append(kw.get("sig")), weak=False)
    started = time.monotonic()
    worker.start()
    if restart and not asked and worker.exitcode == 1:  # EX_FAILURE：Celery 记下“Unrecoverable error”以后的退出码
        _restart(time.monotonic() - started)
    return worker.exitcode or 0


def _restart(ran_for):
    """Celery 因为无法恢复的错误停掉了：等一会儿，exec 同一条命令（同一个进程号，监督它的程序看不出区别）。"""
    count = 0 if ran_for > 300 else int(os.environ.get(RESTARTS_ENV, "0") or 0)  # 好好运行了一阵：重新计数
    delay = min(60, 2 ** count)
    print("评分工人意外停止（Celery 报告了无法恢复的错误，见上面的日志），%d 秒后重新启动……" % delay,
          file=sys.stderr, flush=True)
    time.sleep(delay)
    os.environ[RESTARTS_ENV] = str(count + 1)
    sys.stdout.flush()
    os.execv(sys.executable, sys.orig_argv)


def run(args):
    from .signing import check_broker_password

    if not args.broker:
        raise SystemExit("grade-worker 要知道 Redis 的地址：--broker redis://:密码@主机:6379/0，"
                         "或者设环境变量 COURSE_GRADE_BROKER（密码不出现在命令行上）")
    if args.concurrency is not None and args.concurrency < 1:
        raise SystemExit("--concurrency 至少是 1（现在是 %d）" % args.concurrency)
    check_broker_password(args.broker, args.allow_open_broker)
    from .standbys import apply_standby

    apply_standby(args)
    return run_worker(args.broker, args.concurrency, args.cache, loglevel=args.loglevel, key_file=args.key_file)


if __name__ == "__main__":  # 测试直接用：python -m course.grading.service.worker --broker URL
    from ...tools.cliargs import Parser

    _parser = Parser(prog="python -m course grade-worker", description="Celery 评分工人")
    add_arguments(_parser)
    sys.exit(run(_parser.parse_args()))
