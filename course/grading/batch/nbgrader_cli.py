"""`python -m course.grading.batch.nbgrader_cli 参数…` 就是 `nbgrader 参数…`，只是先装上 course.grading.batch.dbsafe：
几个这样的进程可以同时写同一个 sqlite 成绩库。并行评分（course.grading.batch.parallel）用它启动 nbgrader。"""
import sys

from . import dbsafe
from ..nbgrader_patches import quiet_add_submission_warning


def main():
    dbsafe.install()
    quiet_add_submission_warning()
    from nbgrader.apps.nbgraderapp import main as nbgrader_main

    sys.argv[0] = "nbgrader"
    return nbgrader_main()


if __name__ == "__main__":
    sys.exit(main())
