"""评分：nbgrader 加载的插件和教师运行的命令（导入本包不会导入任何子模块）。

nbgrader 按名字加载（见 nbgrader_config.py）：
    sanitize.DeduplicateGradeIds        复制粘贴出来的重复 grade_id 不让整份作业评分失败
    sanitize.RestoreCellOrder           答案、测试、只读单元放回学生版里的顺序，删掉的只读单元补回
    execute.RobustExecute               代替 nbgrader 的 Execute：一份坏提交只影响它自己的分数，由
        kernel_control.py                 选内核（沙箱或只有资源上限）、问内核是否还有回应、换新内核
        recovery.py                       测试前复原评分环境、内核出事后重启并重放
        output_limits.py                  输出上限
    kernels.py, sandbox.py              评分内核的 KernelManager 和 bubblewrap 沙箱
    submissions.SafeNotebookExporter    读不了、找不到的提交按缺交处理（还有 expect_all_notebooks）
    feedback.RedactHiddenOutputs, feedback.HideHiddenTests   反馈里不出现隐藏测试
    report.py                           每份提交的评分事件（超时、重启、可疑代码……）
    release.py                          找到并（每个进程每份一次）读入学生版 notebook：上面几项都以它为准

教师运行：
    autograde.py   python -m course autograde <作业|all> [--jobs N]：按学生分批并行评分，进度条和中文总结
    parallel.py    分批、同时运行几个 nbgrader 进程
    dbsafe.py      几个 nbgrader 进程同时写 sqlite 成绩库时的保护，评分后的一致性检查
    nbgrader_cli.py  python -m course.grading.nbgrader_cli …：装上 dbsafe 的 nbgrader
    selftest.py    python -m course grading-selftest：评分流程的自检
"""
