"""评分内核的沙箱：学生代码在里面运行，没有网络，看不到答案、成绩库和别人的作业。

导入本包不会导入任何子模块。

    bubblewrap.py  GradingSandbox：bubblewrap 沙箱和资源上限
    kernels.py     评分内核的 KernelManager
    landlock.py    Landlock 文件访问规则
    cgroup.py      整组进程的内存上限
    answers.py     评分内核看不到的课程模块（按文件夹和模块算出）
"""
