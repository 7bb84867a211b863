"""每个评分进程至多为几份作业包各留一个待命的子进程（forkrun.Standby：预先启动好沙箱内核，见 execute/standby.py）。

    python -m course grade-service --standby N     本机的工人
    python -m course grade-worker --standby N      Celery 工人的每个评分子进程
    COURSE_GRADING_STANDBY=N                       两者都读（命令行的 --standby 写进这个环境变量，工人进程继承它）

0 表示不预先启动内核（每份提交冷启动）。每个待命的子进程连同它的内核约占 100 MB 内存；闲置 IDLE_SECONDS 秒
（这份作业一直没有新提交）后它自己结束内核、退出，那份作业的下一份提交照常冷启动。
"""
import os

__all__ = ["STANDBY_ENV", "DEFAULT_STANDBY", "STANDBY_MAX", "IDLE_SECONDS", "parse_standby", "standby_limit",
           "add_standby_argument", "apply_standby"]

STANDBY_ENV = "COURSE_GRADING_STANDBY"
DEFAULT_STANDBY = 6  # 这门课有 6 课：全班同时交各课时，每课都有一个待命的内核
STANDBY_MAX = 64
IDLE_SECONDS = 900.0  # 待命的子进程等这么久还没有命令，就结束内核、退出


def parse_standby(text):
    """COURSE_GRADING_STANDBY / --standby 的值 → 整数（0 表示不预先启动内核）；不对时抛出 ValueError（中文说明）。"""
    try:
        value = int(str(text).strip())
    except ValueError:
        value = -1
    if not 0 <= value <= STANDBY_MAX:
        raise ValueError("待命内核的份数（%s / --standby）要写 0 到 %d 的整数（0 表示不预先启动内核），不是 %r"
                         % (STANDBY_ENV, STANDBY_MAX, text))
    return value


def add_standby_argument(parser):
    """grade-service 和 grade-worker 共有的 --standby 选项。"""
    import argparse

    def value(text):
        try:
            return parse_standby(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parser.add_argument("--standby", type=value, default=None, metavar="N",
                        help="每个评分进程至多为几份作业各预先启动一个沙箱内核（默认 %d，也可设环境变量 %s；0 表示不预先启动。"
                             "每个待命的内核约占 100 MB 内存，闲置 %d 分钟没有用上就自己结束）" % (DEFAULT_STANDBY, STANDBY_ENV, IDLE_SECONDS // 60))


def apply_standby(args):
    """命令行入口里、起工人之前调用：--standby 写进环境变量（工人进程和 Celery 的评分子进程继承它）；
    没写 --standby 而环境变量的值不对时退出并说明。"""
    if getattr(args, "standby", None) is not None:
        os.environ[STANDBY_ENV] = str(args.standby)
    elif os.environ.get(STANDBY_ENV, "").strip():
        try:
            parse_standby(os.environ[STANDBY_ENV])
        except ValueError as exc:
            raise SystemExit(str(exc)) from None


def standby_limit():
    """每个工人进程至多为几份作业包各留一个待命子进程。环境变量不对时用默认值（命令行入口已经检查过、说明过）。"""
    raw = os.environ.get(STANDBY_ENV, "")
    if not raw.strip():
        return DEFAULT_STANDBY
    try:
        return parse_standby(raw)
    except ValueError:
        return DEFAULT_STANDBY
