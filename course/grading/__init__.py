"""评分：nbgrader 加载的插件和教师运行的命令（导入本包不会导入任何子模块）。

课程对 nbgrader 0.9.6 的全部改动列在 nbgrader_patches.py 的说明里。内核与评判进程之间的协议在 course/boundary/。

nbgrader 按名字加载（见 nbgrader_config.py）：
    sanitize.DeduplicateGradeIds        复制粘贴出来的重复 grade_id 不让整份作业评分失败
    sanitize.OverwriteCells             nbgrader 的同名类：被删的测试单元补回（只读单元之后的也行），真改过的才报告
    sanitize.RestoreCellOrder           答案、测试、只读单元放回学生版里的顺序，删掉的只读单元补回
    execute.RobustExecute               代替 nbgrader 的 Execute：一份坏提交只影响它自己的分数，由
        kernel_control.py                 选内核（沙箱或只有资源上限）、问内核是否还有回应、换新内核
        recovery.py                       测试前复原评分环境、内核出事后重启并重放
        output_limits.py                  输出上限
    boundary.py, judge.py               测试单元交给沙箱里的评判进程运行，收回纯数据的判决（mistakes.py：没通过的检查）
    kernels.py, sandbox.py, landlock.py 评分内核的 KernelManager 和 bubblewrap 沙箱（cgroup.py：整组的内存上限）
    answers.py                          评分内核看不到的课程模块（参考答案、检查……）
    filesafe.py                         碰学生文件夹时不跟随链接、有个数和大小上限
    exporters.SafeNotebookExporter      读不了、找不到的提交按缺交处理（submissions.py，还有 expect_all_notebooks）
    exporters.FeedbackExporter          中文、离线的反馈 HTML（feedback_template.py、feedback_math.py、feedback_html.py）
    feedback.RedactHiddenOutputs, feedback.HideHiddenTests   反馈里不出现隐藏测试
    collect.Collect, feedback_release.ReleaseFeedback        收作业、发布反馈（交换目录）
    report.py                           每份提交的评分事件（超时、重启、可疑代码……）
    release.py                          找到并（每个进程每份一次）读入学生版 notebook：上面几项都以它为准

教师运行：
    autograde.py   python -m course autograde <作业|all> [--jobs N]：按学生分批并行评分，进度条和中文总结
    parallel.py    分批、同时运行几个 nbgrader 进程
    dbsafe.py      几个 nbgrader 进程同时写 sqlite 成绩库时的保护，评分后的一致性检查
    nbgrader_cli.py  python -m course.grading.nbgrader_cli …：装上 dbsafe 的 nbgrader
    selftest.py    python -m course grading-selftest：评分流程的自检
    class_report.py, class_data.py   python -m course class-report：班级报告
    cost_bench.py  列文件的基准测试
"""
