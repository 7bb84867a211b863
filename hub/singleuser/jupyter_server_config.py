# JupyterHub 上学生和教师的个人服务器：Validate 对话框说中文（课程的服务器扩展和 custom CSS，
# 见 course/tools/validate_ui.py）。学生环境里的学生版课程包也带着 course/tools（setup.py）。
try:
    from course.tools.jupyter_ui import chinese_validate
except ImportError:  # 课程包不在这个环境里：什么也不改
    pass
else:
    chinese_validate(get_config())  # noqa: F821  (Jupyter 读配置文件时提供 get_config)
