"""部署和命令行的小工具（python -m course 的几个子命令用到，notebook 不用）。

    cliargs.py      命令行参数解析，出错时给一句中文
    binder_link.py  Binder 的链接和徽章
    jupyter_ui.py   本机 JupyterLab 的学生界面和教师界面
    student_env.py  给上课评分的学生建单独的 Python 环境；给一个班做 Binder 仓库
"""
