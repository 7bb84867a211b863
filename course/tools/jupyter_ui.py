"""本机 JupyterLab 的两种界面：学生（默认）和教师。

学生在自己的电脑上运行 `jupyter lab`，看到的应当和 Binder 上一样：nbgrader 的教师工具（Formgrader、
Create Assignment、Course List、Assignment List 和 Nbgrader 菜单）不出现，对应的服务器接口也关掉，
只留下工具栏上的 Validate。教师要用这些工具时，启动前设环境变量 COURSE_UI=instructor：

    COURSE_UI=instructor jupyter lab            # Linux / macOS
    $env:COURSE_UI="instructor"; jupyter lab    # Windows PowerShell

requirements.txt 里的 `./jupyter-config` 把 jupyter-config/jupyter_server_config.py 装进虚拟环境的
etc/jupyter/（单独成包：可编辑安装不会安装这种文件），Jupyter Server 每次启动都会读它，它再调用这里的 configure()。在 JupyterHub 上
（有 JUPYTERHUB_* 环境变量时）什么也不改：那里的界面由 hub/ 里的配置按组决定，学生要用 Assignment List 收发作业。
"""
import os

__all__ = ["ENV", "TEACHER_PLUGINS", "TEACHER_SERVER_EXTENSIONS", "ui_mode", "chinese_validate", "configure"]

ENV = "COURSE_UI"

# 与 binder/postBuild 禁用的是同一组
TEACHER_PLUGINS = [
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:assignment-list",
    "@jupyter/nbgrader:menu",
]
TEACHER_SERVER_EXTENSIONS = [
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.assignment_list",
    "nbgrader.server_extensions.course_list",
]

_VALUES = {"student": "student", "instructor": "instructor", "teacher": "instructor"}


def ui_mode(environ=None):
    """"student"、"instructor" 或 "hub"（在 JupyterHub 里运行，不干预）。"""
    environ = os.environ if environ is None else environ
    raw = environ.get(ENV, "").strip().lower()
    if raw:
        if raw not in _VALUES:
            raise ValueError("环境变量 %s=%r 无效：应当是 student 或 instructor" % (ENV, environ[ENV]))
        return _VALUES[raw]
    if any(k in environ for k in ("JUPYTERHUB_API_TOKEN", "JUPYTERHUB_SERVICE_PREFIX")):
        return "hub"
    return "student"


def _hide_teacher_plugins(handler, page_config):
    """JupyterLab 生成页面配置的最后一步：把教师插件加进 disabledExtensions。"""
    disabled = list(page_config.get("disabledExtensions") or [])
    page_config["disabledExtensions"] = disabled + [p for p in TEACHER_PLUGINS if p not in disabled]
    return page_config


def chinese_validate(c):
    """Validate 对话框说中文（course/tools/validate_ui.py）：课程的服务器扩展接替 nbgrader 的 validate 接口，
    JupyterLab 加载课程的 custom.css。没装 nbgrader 时什么也不改。"""
    import importlib.util

    from .validate_ui import server_config

    if importlib.util.find_spec("nbgrader") is None:
        return False
    settings = server_config()
    c.ServerApp.jpserver_extensions.update(settings["ServerApp"]["jpserver_extensions"])
    c.LabApp.custom_css = settings["LabApp"]["custom_css"]
    return True


def configure(c, environ=None):
    """在 Jupyter Server 的配置对象 c 上设好学生界面（和中文的 Validate 对话框）；返回用的是哪种界面。"""
    chinese_validate(c)
    try:
        mode = ui_mode(environ)
    except ValueError as e:
        print("课程的 Jupyter 配置：%s；按学生界面启动。" % e)
        mode = "student"
    if mode != "student":
        return mode
    c.ServerApp.jpserver_extensions.update({name: False for name in TEACHER_SERVER_EXTENSIONS})
    c.ServerApp.tornado_settings.update({"page_config_hook": _hide_teacher_plugins})
    return mode
