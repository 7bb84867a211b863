"""教师运行的评分命令。

导入本包不会导入任何子模块。

    autograde.py    python -m course autograde <作业|all> [--jobs N]：按学生分批并行评分，进度条和中文总结
    parallel.py     分批、同时运行几个 nbgrader 进程
    progress.py     进度条
    dbsafe.py       几个 nbgrader 进程同时写 sqlite 成绩库时的保护，评分后的一致性检查
    nbgrader_cli.py python -m course.grading.batch.nbgrader_cli …：装上 dbsafe 的 nbgrader
    selftest.py     python -m course grading-selftest：评分流程的自检
    class_data.py, class_report.py   python -m course class-report：班级报告
"""
