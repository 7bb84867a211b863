# 课程的 Jupyter Server 配置：requirements.txt 里的 `./jupyter-config` 把它装进虚拟环境的 etc/jupyter/。
# 本机的 `jupyter lab` 默认是学生界面（和 Binder 一样，没有 nbgrader 的教师工具，保留 Validate）；
# 教师用 `COURSE_UI=instructor jupyter lab` 取回这些工具。说明见 course/tools/jupyter_ui.py。
try:
    from course.tools.jupyter_ui import configure
except ImportError:  # 课程包被卸载了：什么也不改
    pass
else:
    configure(get_config())  # noqa: F821  (Jupyter 读配置文件时提供 get_config)
