"""课程包的命令行工具（教师用）。

    python -m course autograde <作业|all>     给整个班级自动评分：几个 nbgrader 进程同时评，有进度条和中文总结
    python -m course sandbox-status          评分沙箱在本机能不能用、资源上限是多少
    python -m course grading-report [作业]    autograde 时记下的异常事件（超时、内核重启、可疑代码……）
    python -m course grading-selftest         在临时文件夹里用真正的 nbgrader 跑一遍评分自检
    python -m course class-report [作业|all]  班级报告：分数分布、通过率、全班最常见的错误、缺交、谁需要帮助（HTML + CSV）
    python -m course grade-service [--once]  交上来就评分：学生一提交就评分、记分、发布反馈（course/grading/service）
    python -m course grade-status            评分服务：排队中、评分中、评好了的提交和延迟（--history：每次提交）
    python -m course grade-demo               演示班级：在工作副本里走完 nbgrader 的整个流程（course/demo）
    python -m course binder-link [--write-readme]  Binder 链接和徽章（按 git 的 origin；维护者用）
    python -m course student-env DIR         给上课评分的学生建单独的环境（课程包是学生版，没有答案）
    python -m course class-binder DIR        给一个班用的 Binder 仓库（学生版的 notebook 和课程包）
    python -m course grade-worker --broker URL  Celery 评分工人（交上来就评分，多台机器；见 README）

都在课程根目录（nbgrader_config.py 所在的文件夹）运行，或用 --course 指定。
"""
import os
import sys
import tempfile

from .tools.cliargs import Parser


def _course_dir(path):
    path = os.path.abspath(path)
    if not os.path.isdir(path):
        raise SystemExit("课程文件夹不存在：%s" % path)
    return path


def _load_config(course):
    from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader

    try:
        return PyFileConfigLoader("nbgrader_config.py", path=course).load_config()
    except ConfigFileNotFound:
        return None


def cmd_sandbox_status(args):
    from .grading.sandbox.bubblewrap import describe

    active, text = describe(_load_config(_course_dir(args.course)))
    print(text)
    return 0 if active else 1


def cmd_grading_report(args):
    from .grading.files.events import collect, format_reports

    course = _course_dir(args.course)
    root = os.path.join(course, "autograded")
    reports = collect(root, args.assignment)
    if not reports:
        print("没有找到评分报告（%s 下的 .grading-reports/）：先运行 nbgrader autograde。" % root)
        return 1
    print(format_reports(reports, show_all=args.all))
    return 0


def cmd_grading_selftest(args):
    from .grading.batch.selftest import selftest

    config = os.path.join(_course_dir(args.course), "nbgrader_config.py")
    if not os.path.exists(config):
        raise SystemExit("找不到 %s：在课程根目录运行，或用 --course 指定。" % config)
    with tempfile.TemporaryDirectory(prefix="course-selftest-") as tmp:
        ok = selftest(tmp, config)
    print("自检通过：评分沙箱有效，参考答案满分。" if ok else "自检没有通过：见上面的结果。")
    return 0 if ok else 1


def main(argv=None):
    parser = Parser(prog="python -m course", description="《计算图与误差反向传播法》课程的教师工具")
    sub = parser.add_subparsers(dest="command", metavar="子命令")
    sub.required = True
    p = sub.add_parser("autograde", help="给整个班级自动评分（按学生分批并行，nbgrader autograde 的结果不变）")
    from .grading.batch import autograde as _autograde
    _autograde.add_arguments(p)
    p.set_defaults(func=_autograde.run)
    p = sub.add_parser("sandbox-status", help="评分沙箱在本机能不能用（能用时退出码 0）")
    p.add_argument("--course", default=".", help="课程根目录（默认当前文件夹）")
    p.set_defaults(func=cmd_sandbox_status)
    p = sub.add_parser("grading-report", help="列出 autograde 记下的异常事件")
    p.add_argument("assignment", nargs="?", help="只看这份作业（默认全部）")
    p.add_argument("--course", default=".", help="课程根目录（默认当前文件夹）")
    p.add_argument("--all", action="store_true", help="没有事件的提交也列出来")
    p.set_defaults(func=cmd_grading_report)
    p = sub.add_parser("grading-selftest", help="用一份小作业和一份越权提交，实际跑一遍 nbgrader 评分")
    p.add_argument("--course", default=".", help="课程根目录（用其中的 nbgrader_config.py）")
    p.set_defaults(func=cmd_grading_selftest)
    p = sub.add_parser("class-report", help="班级报告：分数分布、各测试通过率、全班最常见的错误（按检查的诊断）、缺交、"
                                            "评分事件、谁需要帮助；一页离线的中文 HTML 和几份 CSV")
    from .grading.batch import class_report as _class_report
    _class_report.add_arguments(p)
    p.set_defaults(func=_class_report.run)
    p = sub.add_parser("grade-service", help="交上来就评分：学生一提交就评分、记分、发布反馈（--once：评完等着的就退出）")
    from .grading.service import cli as _service_cli
    _service_cli.add_arguments(p)
    p.set_defaults(func=_service_cli.run)
    p = sub.add_parser("grade-status", help="评分服务的记录：排队中、评分中、评好了（延迟）、没评上、超出次数的提交")
    from .grading.service import status as _service_status
    _service_status.add_arguments(p)
    p.set_defaults(func=_service_status.run)
    p = sub.add_parser("grade-demo", help="演示班级：生成、发布、提交、收集、并行评分、反馈、导出成绩、写报告")
    from .demo import cli as _demo_cli
    _demo_cli.add_arguments(p)
    p.set_defaults(func=_demo_cli.run)
    p = sub.add_parser("binder-link", help="按 git 的 origin 打印 Binder 链接和徽章（--write-readme 写进 README）")
    p.add_argument("--write-readme", action="store_true", help="把徽章写进 README.md 的 binder-badge 注释之间")
    p.add_argument("--course", default=".", help="仓库根目录（默认当前文件夹）")
    from .tools import binder_link as _binder_link
    p.set_defaults(func=_binder_link.main)
    p = sub.add_parser("student-env", help="给上课评分的学生建单独的 Python 环境（课程包是学生版，JupyterHub 的学生服务器用它）")
    p.add_argument("dest", help="新环境的文件夹，例如 /srv/nbgrader/student-env")
    p.add_argument("--share-packages", action="store_true",
                   help="不重新下载：共用当前环境的第三方包，只有课程包是学生版（同一台机器上的 Hub）")
    from .tools import student_env as _student_env
    p.set_defaults(func=_student_env.main)
    p = sub.add_parser("class-binder", help="生成给一个班用的 Binder 仓库：学生版的 notebook 和课程包，没有答案")
    p.add_argument("dest", help="新仓库的文件夹（不存在或为空）")
    p.set_defaults(func=_student_env.binder_main)
    p = sub.add_parser("grade-worker", help="Celery 评分工人：从 Redis 取评分任务（grade-service --broker），可以在多台机器上运行")
    from .grading.service import worker as _worker
    _worker.add_arguments(p)
    p.set_defaults(func=_worker.run)
    for action in sub.choices.values():
        action.error = Parser.error.__get__(action)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
