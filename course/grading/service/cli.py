"""python -m course grade-service：交上来就评分（一台机器上一条命令）。

    python -m course grade-service                      一直运行：学生一交就评分、记分、发布反馈（Ctrl-C 停下）
    python -m course grade-service --once               评完现在等着的提交就退出（cron、测试）
    python -m course grade-service --workers 2          本机 2 个工人进程（默认：CPU 核数）
    python -m course grade-service --broker redis://:密码@主机:6379/0   任务经由 Celery 交给别的机器上的工人（grade-worker）
                      （地址必须带密码，见 signing.check_broker_password；--allow-open-broker 例外）
                      --key-file grade.key             和工人共有的密钥（权限 600；或环境变量 COURSE_GRADE_KEY）
    python -m course grade-service --assignment 02      只评这几份作业（可以写几次）

退出码：0 正常结束，1 有提交没评上，2 参数不对。
"""
import os
import sys

__all__ = ["add_arguments", "run", "BROKER_IN_FLIGHT"]

BROKER_IN_FLIGHT = 16  # 用 --broker 时默认同时交给工人的任务数（工人在别的机器上，服务不知道有几个）


def add_arguments(p):
    from ...tools.cliargs import positive_int
    from ..batch.parallel import default_jobs

    p.add_argument("--course", default=".", help="课程根目录（默认当前文件夹）")
    p.add_argument("--broker", default=os.environ.get("COURSE_GRADE_BROKER") or None,
                   help="Celery 的 broker，带密码，例如 redis://:密码@localhost:6379/0（不写时读环境变量 COURSE_GRADE_BROKER："
                        "写在环境变量里，别的用户用 ps 看不到密码；都没有时用本机的工人进程）")
    p.add_argument("--workers", type=positive_int, default=default_jobs(),
                   help="本机工人进程数（默认是 CPU 核数 %(default)s；用 --broker 时不起作用）")
    p.add_argument("--assignment", action="append", metavar="作业",
                   help="只评这份作业（作业名或编号；可以写几次，默认成绩库里的全部作业）")
    p.add_argument("--once", action="store_true", help="评完现在等着的提交就退出")
    p.add_argument("--in-flight", type=positive_int, default=None, metavar="N",
                   help="同时交给工人几份提交（默认：本机工人数加 1，工人交回结果时下一份已经在手边；用 --broker 时 %d），"
                        "其余的在服务这边排队、按学生轮流派发" % BROKER_IN_FLIGHT)
    p.add_argument("--add-students", metavar="学号,学号", default="",
                   help="开始前把这些学号登记进成绩库（同 nbgrader db student add，已有的不变）；"
                        "Hub 用它同步学生组。服务只收成绩库里有的学生")
    p.add_argument("--key-file", metavar="FILE",
                   help="用 --broker 时和工人共有的密钥文件（权限 600；不写时读环境变量 COURSE_GRADE_KEY）")
    p.add_argument("--cache", help="本机工人缓存作业包的文件夹（默认一个临时文件夹，结束时删掉）")
    from .standbys import add_standby_argument

    add_standby_argument(p)  # 只管本机的工人；用 --broker 时由 grade-worker --standby 设
    from .signing import add_broker_arguments

    add_broker_arguments(p)


def _transport(args):
    if args.broker:
        from .signing import check_broker_password

        check_broker_password(args.broker, args.allow_open_broker)
        try:
            from .celery_app import CeleryTransport
        except ImportError as exc:
            raise SystemExit("python -m course grade-service：用 --broker 需要 Celery 和 Redis 的 Python 包（%s）。"
                             "安装：pip install 'celery[redis]'，或者去掉 --broker，用本机的工人进程。" % exc)
        from .signing import load_key

        return CeleryTransport(args.broker, key=load_key(args.key_file))
    from .local import LocalTransport

    return LocalTransport(workers=args.workers, cache_dir=args.cache)


def _add_students(service, text):
    import re

    from .admission import register_students
    from .service import safe_student_id

    names = [n for n in re.split(r"[,\s]+", text or "") if n]
    if not names:
        return
    added, skipped = register_students(service.db_url, service.course_id, names, safe_student_id)
    if added:
        print("登记进成绩库的学生：%s" % "、".join(added), flush=True)
    if skipped:
        print("这些名字不能当学号，没有登记：%s" % "、".join(repr(n) for n in skipped), file=sys.stderr, flush=True)


def run(args):
    from ..batch.autograde import UsageError
    from ..nbgrader_patches import quiet_add_submission_warning
    from .standbys import apply_standby
    from .service import GradingService

    quiet_add_submission_warning()
    apply_standby(args)
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    transport = _transport(args)
    try:
        try:
            # 本机多派一份：工人交回结果的同时就拿到下一份（服务写成绩库、发布反馈的时候工人不闲着）
            in_flight = args.in_flight or (BROKER_IN_FLIGHT if args.broker else args.workers + 1)
            service = GradingService(args.course, transport, args.assignment,
                                     echo=lambda text: print(text, flush=True), in_flight=in_flight)
        except UsageError as exc:
            print("python -m course grade-service：%s" % exc, file=sys.stderr)
            return 2
        _add_students(service, args.add_students)
        from .signing import redact

        where = "经由 %s 交给工人" % redact(args.broker) if args.broker else "本机 %d 个工人进程" % args.workers
        print("评分服务：%s，作业 %s；%s" % (service.course, "、".join(sorted(service.assignments)) or "（没有）", where)
              + ("。评完现在等着的提交就退出。" if args.once else "。一直运行，Ctrl-C 停下。"), flush=True)
        try:
            used = service.run(once=args.once)
        except KeyboardInterrupt:
            print("评分服务停下了：还没评完的提交下次启动时接着评。", flush=True)
            return 0
        from .state import State

        state = State(service.state.path)
        try:
            failed = len(state.jobs("failed"))
        finally:
            state.close()
        print("这次用掉了 %d 份结果。详情：python -m course grade-status --course %s" % (used, args.course), flush=True)
        return 1 if failed else 0
    finally:
        transport.close()
