"""评分：nbgrader 按名字加载的插件（本文件夹顶层）和它们的合作者（下面几个文件夹）。导入本包不会导入任何子模块。

课程对 nbgrader 0.9.6 的全部改动列在 nbgrader_patches.py 的说明里。内核与评判进程之间的协议在 course/boundary/。

顶层：nbgrader_config.py 按名字写着的
    sanitize.py         DeduplicateGradeIds、OverwriteCells、RestoreCellOrder：整理提交（重复的 grade_id、
                        被删或挪动的测试单元和只读单元）
    exporters.py        SafeNotebookExporter、FeedbackExporter：nbgrader 加载它们时装上 nbgrader_patches.py
    nbgrader_patches.py 只能改函数的几处补丁，写明对应的 nbgrader 版本
    submissions.py      expect_all_notebooks：读不了、找不到的提交按缺交处理
    collect.py          Collect：收作业不跟随链接、有个数上限
下面的文件夹：
    execute/   robust.RobustExecute（代替 nbgrader 的 Execute）和它的合作者，各自拥有自己的状态：内核选择与通道、
               复原与重放、输出上限、测试交给评判进程（boundary.py、judge.py）、没通过的检查（mistakes.py）
    sandbox/   评分内核的沙箱（bubblewrap、Landlock、cgroup、KernelManager）和每课盖住的课程模块（answers.py）
    feedback/  hidden.RedactHiddenOutputs、hidden.HideHiddenTests、html.SanitizeStudentHTML、release.ReleaseFeedback，
               和中文、离线的反馈模板
    files/     碰学生文件不跟随链接（safe.py）、读学生版（release.py）、每份提交的评分事件（events.py）
    batch/     教师运行的命令：autograde、grading-selftest、class-report，并行和 sqlite 的并发保护
"""
