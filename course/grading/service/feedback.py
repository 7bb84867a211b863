"""`python -m course.grading.service.feedback 作业 学号`：为一名学生生成并发布反馈，一个进程做两条 nbgrader 命令。

做的事就是 `nbgrader generate_feedback 作业 --student 学号 --force` 再 `nbgrader release_feedback 作业 --student 学号`
（同样的应用、同样的课程配置：FeedbackExporter、ReleaseFeedback），只是 nbgrader 只导入一次，
每份提交的反馈少等三四秒。评分服务（apply.release_feedback）在课程文件夹里启动它。退出码：0 成功，1 失败。
"""
import sys

from ..batch import dbsafe


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("用法：python -m course.grading.service.feedback 作业 学号", file=sys.stderr)
        return 2
    assignment, student = argv
    dbsafe.install()
    from nbgrader.apps import GenerateFeedbackApp, ReleaseFeedbackApp

    for cls, extra in ((GenerateFeedbackApp, ["--force"]), (ReleaseFeedbackApp, [])):
        app = cls()
        try:
            app.initialize([assignment, "--CourseDirectory.student_id=%s" % student, *extra])
            app.start()
        except SystemExit as exc:
            if exc.code not in (0, None):
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
