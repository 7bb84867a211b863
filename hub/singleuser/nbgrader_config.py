"""学生和教师个人服务器上的 nbgrader 配置（JupyterHub 通过 JUPYTER_CONFIG_PATH 指向这里）。

个人服务器只做学生的事：查看、获取、提交作业，获取反馈。评分在 formgrader 服务里进行，
那里用的是课程文件夹里的 nbgrader_config.py。
"""
import os

from nbgrader.auth import JupyterHubAuthPlugin

c = get_config()  # noqa: F821  (nbgrader 加载配置时提供 get_config)

c.CourseDirectory.course_id = "backprop-zh"
c.Exchange.root = os.environ.get("COURSE_EXCHANGE_DIR", "/srv/nbgrader/exchange")
c.Exchange.path_includes_course = True
# 向 Hub 查询用户所在的组：只有 nbgrader-backprop-zh（学生）或 formgrade-backprop-zh（教师）的成员
# 才能看到、获取、提交这门课的作业
c.Authenticator.plugin_class = JupyterHubAuthPlugin
# nbgrader 默认用 unix 用户名当学号；几个 Hub 用户共用一个 unix 账户时（容器、测试）会混在一起，
# 所以明确用 Hub 的用户名
if os.environ.get("JUPYTERHUB_USER"):
    c.CourseDirectory.student_id = os.environ["JUPYTERHUB_USER"]
