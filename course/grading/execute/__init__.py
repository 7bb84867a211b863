"""运行一份提交：nbgrader 按名字加载的 robust.RobustExecute（代替 nbgrader 的 Execute），和它的合作者。

导入本包不会导入任何子模块。

    robust.py          RobustExecute：逐个单元运行，一份坏提交只影响它自己的分数；nbclient 的钩子只转交给
                       下面的合作者。每份 notebook 一套新的合作者，各自拥有自己的状态（文件开头写着）：
                       CellWatch（本文件）一次单元运行超时了吗、要求退出了吗
    kernel_control.py  KernelChoice 选内核（沙箱或只有资源上限）、大声警告；KernelLink 问当前内核是否还有回应、
                       静默执行、中断
    recovery.py        Recovery：测试前复原评分环境、内核出事后重启并重放，重启次数有上限
    output_limits.py   OutputBudget：输出上限
    boundary.py        JudgeSession：测试单元交给沙箱里的评判进程运行，收回纯数据的判决
    judge.py           评判进程本身
    mistakes.py        没通过的检查给出的诊断，记成纯数据
"""
