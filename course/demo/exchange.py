"""交换目录上的操作：发布、收作业、发反馈（教师），获取、提交、取回反馈（学生）。

`nbgrader release_assignment`、`collect`、`release_feedback`、`fetch_assignment`、`submit`、`fetch_feedback`
这几个命令做的事就是：读课程的 nbgrader_config.py，从交换目录工厂（ExchangeFactory，课程可以把它换成
别的交换服务）取出对应的类，交给它 CourseDirectory 和 Authenticator，调用 start()。这里在同一个 Python
进程里做同样的事，因为这些操作只是复制文件，而每启动一个 nbgrader 进程就要三四秒（几十名学生、每人
几份作业，加起来就是好几分钟）。学生的学号用 CourseDirectory.student_id 指定（即命令行的 --student），
每人有自己的家目录和 nbgrader 缓存：演示里所有学生都是同一个 unix 用户。
"""
import glob
import logging
import os
from contextlib import contextmanager

__all__ = ["load_course_config", "Exchange", "temporary_environ"]


@contextmanager
def temporary_environ(env):
    """在 with 块里设这些环境变量，出来时恢复原样（没有的删掉）。"""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def load_course_config(course, env=None):
    """读 course/nbgrader_config.py（读的时候环境变量按 env 设置，例如 COURSE_DB_URL）。"""
    from traitlets.config.loader import PyFileConfigLoader

    with temporary_environ(env or {}):
        return PyFileConfigLoader("nbgrader_config.py", path=course).load_config()


class Exchange:
    """course：课程文件夹（工作副本）；env：读配置时的环境变量；log：nbgrader 的日志写到哪里。"""

    def __init__(self, course, env=None, log=None):
        self.course = course
        self.config = load_course_config(course, env)
        self.log = log or logging.getLogger("course.demo.exchange")

    @property
    def course_id(self):
        return self.config.CourseDirectory.course_id

    def _run(self, kind, assignment, student=None, home=None, **traits):
        import copy

        from nbgrader.auth import Authenticator
        from nbgrader.coursedir import CourseDirectory
        from nbgrader.exchange import ExchangeFactory

        cfg = copy.deepcopy(self.config)
        if student is not None:
            cfg.CourseDirectory.student_id = student
            cfg.Exchange.assignment_dir = home
            cfg.Exchange.cache = os.path.join(home, ".nbgrader-cache")
        for key, value in traits.items():
            setattr(cfg["Exchange" + kind], key, value)
        coursedir = CourseDirectory(config=cfg)
        coursedir.assignment_id = assignment
        cls = getattr(ExchangeFactory(config=cfg), kind)
        app = cls(coursedir=coursedir, authenticator=Authenticator(config=cfg), config=cfg, log=self.log)
        app.start()
        return app

    # ---- 教师
    def release_assignment(self, assignment):
        self._run("ReleaseAssignment", assignment)

    def collect(self, assignment, check_owner=True):
        self._run("Collect", assignment, check_owner=check_owner)

    def release_feedback(self, assignment):
        self._run("ReleaseFeedback", assignment)

    # ---- 学生（home 是这名学生的家目录）
    def folder(self, home, assignment):
        """fetch 之后作业所在的文件夹。"""
        return os.path.join(home, self.course_id, assignment)

    def fetch(self, student, home, assignment):
        """获取作业，返回文件夹里的 notebook 路径。"""
        os.makedirs(home, exist_ok=True)
        self._run("FetchAssignment", assignment, student, home)
        return sorted(glob.glob(os.path.join(self.folder(home, assignment), "*.ipynb")))

    def submit(self, student, home, assignment):
        self._run("Submit", assignment, student, home)

    def fetch_feedback(self, student, home, assignment):
        """取回反馈，返回拿到的 HTML 文件。"""
        self._run("FetchFeedback", assignment, student, home)
        return sorted(glob.glob(os.path.join(self.folder(home, assignment), "feedback", "*", "*.html")))
