"""`python -m course grade-demo` 的参数和入口（course/__main__.py 只负责把子命令交给这里）。"""
import argparse
import os
import sys

from ..tools.cliargs import positive_int
from .notebooks import DemoError
from ..grading.batch.parallel import default_jobs
from .students import PERSONAS

__all__ = ["add_arguments", "run", "positive_int", "students_arg"]


def students_arg(text):
    """“12” 或 “zhao_lei,li_wei”。"""
    from .students import roster

    text = text.strip()
    if text.isdigit():
        return positive_int(text)
    ids = [t.strip() for t in text.split(",") if t.strip()]
    try:
        roster(ids)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not ids:
        raise argparse.ArgumentTypeError("应当是人数或学号列表，收到的是 %r" % text)
    return ids


def add_arguments(p):
    p.add_argument("--students", type=students_arg, default=len(PERSONAS),
                   help="学生人数（默认 %(default)s：演示班级的全部学生；更多时按同样的十二种情况循环），"
                        "或用逗号分开的学号，如 zhao_lei,li_wei")
    p.add_argument("--jobs", type=positive_int, default=default_jobs(),
                   help="同时运行的 nbgrader 进程数（默认是 CPU 核数 %(default)s）")
    p.add_argument("--out", default=None, help="输出文件夹（默认是课程文件夹里的 demo-run/，已被 git 忽略）")
    p.add_argument("--course", default=".", help="课程根目录（默认当前文件夹）")
    p.add_argument("--db-url", default=None,
                   help="成绩库（默认是输出文件夹里的 sqlite 文件；也可以是一个空的 PostgreSQL 数据库，"
                        "例如 postgresql://用户@/库名?host=/套接字目录）。不读 COURSE_DB_URL，免得写进真正的成绩库")
    p.add_argument("--timeout", type=positive_int, default=60, help="每个单元最多运行的秒数（默认 %(default)s）")
    p.add_argument("--assignments", nargs="+", metavar="作业", default=None,
                   help="只用这几份作业（写编号即可，如 01 02；默认全部）")


def run(args):
    from .pipeline import Pipeline

    # nbgrader 新建成绩库时要调用同一个环境里的 alembic
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    course = os.path.abspath(args.course)
    out = os.path.abspath(args.out) if args.out else os.path.join(course, "demo-run")
    try:
        pipeline = Pipeline(course, out, students=args.students, jobs=args.jobs, db_url=args.db_url,
                            timeout=args.timeout, assignments=args.assignments, echo=_echo)
        return 0 if pipeline.run() else 1
    except DemoError as exc:
        print("演示没有完成：%s" % exc, file=sys.stderr)
        return 2


def _echo(text):
    print(text, flush=True)
