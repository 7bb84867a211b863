"""`python -m course.grading.service.feedback 作业 学号`：为一名学生生成并发布反馈，一个进程做两条 nbgrader 命令。

做的事就是 `nbgrader generate_feedback 作业 --student 学号 --force` 再 `nbgrader release_feedback 作业 --student 学号`
（同样的应用、同样的课程配置：FeedbackExporter、ReleaseFeedback），只是 nbgrader 只导入一次，
每份提交的反馈少等三四秒。评分服务（apply.release_feedback）在课程文件夹里启动它。退出码：0 成功，1 失败。

通常反馈由工人在评分之后就地生成（jobs.run_job，私有课程里的 `nbgrader generate_feedback`），服务只需放进
feedback/ 再发布：release 在服务 fork 出的子进程里运行 release_feedback（apply.publish_feedback）。
"""
import sys

from ..batch import dbsafe


def _run(cls, assignment, student, extra=()):
    """nbgrader 的一个应用（同 `nbgrader 命令 作业 --student 学号`），返回是否成功。"""
    app = cls()
    try:
        app.initialize([assignment, "--CourseDirectory.student_id=%s" % student, *extra])
        app.start()
    except SystemExit as exc:
        if exc.code not in (0, None):
            return False
    return True


def release(assignment, student):
    """只发布（反馈已经在 feedback/<学号>/<作业>/ 里，工人生成的）：`nbgrader release_feedback 作业 --student 学号`。
    评分服务在课程文件夹里 fork 一个子进程调用它（forkrun.run）。返回退出码。"""
    dbsafe.install()
    from nbgrader.apps import ReleaseFeedbackApp

    return 0 if _run(ReleaseFeedbackApp, assignment, student) else 1


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("用法：python -m course.grading.service.feedback 作业 学号", file=sys.stderr)
        return 2
    assignment, student = argv
    dbsafe.install()
    from nbgrader.apps import GenerateFeedbackApp, ReleaseFeedbackApp

    for cls, extra in ((GenerateFeedbackApp, ["--force"]), (ReleaseFeedbackApp, [])):
        if not _run(cls, assignment, student, extra):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
