"""多人课程的 JupyterHub 配置示例：教师组、学生组、共享的交换目录、作为 Hub 服务运行的 formgrader。

这是单台服务器上的部署（每个用户一个 unix 账户，LocalProcessSpawner）。把整个 hub/ 文件夹复制到
所有用户都能读的地方（学生的服务器要读 singleuser/ 和 student/ 里的配置），再以 root 启动：

    jupyterhub -f /etc/jupyterhub/backprop-zh/jupyterhub_config.py

在 Kubernetes 上（Zero to JupyterHub）思路相同，做法见 README 的“多人课程：JupyterHub”一节。
tests/test_jupyterhub.py 用同一个文件在本机起一个 Hub，只是换成测试用的 spawner 和共享密码登录。

环境变量（括号里是默认值）：
  COURSE_HUB_INSTRUCTORS     教师的用户名，逗号或空格分隔；他们进入 formgrade-backprop-zh 组
  COURSE_HUB_STUDENTS        学生的用户名；他们进入 nbgrader-backprop-zh 组
  COURSE_HUB_ADMINS          JupyterHub 管理员（空）；教师不必是管理员
  COURSE_EXCHANGE_DIR        共享交换目录（/srv/nbgrader/exchange），所有人都要能读写
  COURSE_HUB_COURSE_DIR      教师的课程文件夹：本仓库的一份克隆（/srv/nbgrader/backprop-zh）
  COURSE_HUB_STUDENT_ENV     学生服务器的 Python 环境（/srv/nbgrader/student-env），由
                             `python -m course student-env DIR` 建好：里面的课程包是学生版，没有答案
  COURSE_DB_URL              成绩库（默认是课程文件夹里的 sqlite 文件 gradebook.db）
  COURSE_HUB_GRADER_USER     运行 formgrader 的 unix 账户（grader-backprop-zh）
  COURSE_HUB_STATE_DIR       Hub 自己的数据库、cookie 密钥和代理的 pid 文件（/srv/jupyterhub）
  COURSE_HUB_IP / COURSE_HUB_PORT    对外地址（所有网卡 / 8000）；正式使用时前面放一个 HTTPS 反向代理
  COURSE_HUB_API_PORT        Hub 内部 API 的端口（8081）
  COURSE_HUB_PROXY_API_PORT  代理的管理端口（8001）
  COURSE_HUB_FORMGRADER_PORT formgrader 服务的端口（9999）
  COURSE_HUB_PROXY           configurable-http-proxy 的路径（默认在 PATH 里找）
  COURSE_HUB_ADMIN_TOKEN     可选：给自动化脚本（同步选课名单、测试）用的服务令牌
  COURSE_HUB_GRADE_ON_SUBMIT 交上来就评分（1）：Hub 管理的 grade-service 服务，学生一提交就评分、发布反馈；0 关掉
  COURSE_HUB_BROKER          可选：Redis 的地址，必须带密码（redis://:密码@主机:6379/0，redis.conf 里设 requirepass；
                             没有密码时评分服务不启动：学生的内核连得上本机的 Redis，会读到任务里藏起来的测试）；
                             设了时评分任务交给各台机器上的 grade-worker，不设时在这台机器上用本机的工人进程评分
  COURSE_HUB_GRADE_KEY_FILE  用 COURSE_HUB_BROKER 时必须有：服务和工人共有的签名密钥文件（权限 600，
                             grade-service 的账户读得到；建法见 README 的“多台机器”）
  COURSE_HUB_GRADE_ASSIGNMENTS 可选：只有这些作业交上来就评分（逗号或空格分隔；默认全部）。其余作业照旧
                             由教师在 formgrader 里收、评分
只用于本机测试（不要在真实部署里设置）：
  COURSE_HUB_TEST_HOMES      设置后所有用户共用当前的 unix 账户，各自的家目录在这个文件夹下
  COURSE_HUB_TEST_PASSWORD   设置后所有用户都用这个共享密码登录
"""
import os
import re
import sys
from pathlib import Path

c = get_config()  # noqa: F821  (JupyterHub 加载配置时提供 get_config)

HERE = Path(__file__).resolve().parent
COURSE_ID = "backprop-zh"
# nbgrader 认组名：formgrade-<课程> 是教师，nbgrader-<课程> 是学生
INSTRUCTOR_GROUP = "formgrade-" + COURSE_ID
STUDENT_GROUP = "nbgrader-" + COURSE_ID


def _env(name, default=""):
    return os.environ.get(name, "").strip() or default


def _names(name):
    return sorted({n for n in re.split(r"[,\s]+", _env(name)) if n})


instructors = _names("COURSE_HUB_INSTRUCTORS")
students = _names("COURSE_HUB_STUDENTS")
admins = _names("COURSE_HUB_ADMINS")
exchange_dir = _env("COURSE_EXCHANGE_DIR", "/srv/nbgrader/exchange")
course_dir = _env("COURSE_HUB_COURSE_DIR", "/srv/nbgrader/" + COURSE_ID)
state_dir = Path(_env("COURSE_HUB_STATE_DIR", "/srv/jupyterhub"))
test_homes = _env("COURSE_HUB_TEST_HOMES")
test_password = _env("COURSE_HUB_TEST_PASSWORD")
# 教师的服务器和 formgrader 用与 Hub 同一个 Python 环境（里面装着 requirements.txt 的全部内容，课程包是
# 指向教师课程文件夹的可编辑安装）；学生的服务器从单独的学生环境启动（课程包是学生版，见 course/tools/student_env.py）
singleuser = str(Path(sys.executable).with_name("jupyterhub-singleuser"))
student_env = Path(_env("COURSE_HUB_STUDENT_ENV", "/srv/nbgrader/student-env"))
student_python = student_env / "bin" / "python"
if not student_python.exists():
    # 不退回到 Hub 的环境：那样学生能读到课程文件夹里的答案。学生的服务器会启动失败，Hub 的日志里有这句话
    print("警告：学生环境 %s 不存在，学生的服务器启动不了。先运行 python -m course student-env %s"
          % (student_env, student_env), file=sys.stderr)

# ---- Hub 与代理 ----------------------------------------------------------------------
c.JupyterHub.ip = _env("COURSE_HUB_IP", "")
c.JupyterHub.port = int(_env("COURSE_HUB_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(_env("COURSE_HUB_API_PORT", "8081"))
c.JupyterHub.db_url = "sqlite:///" + str(state_dir / "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = str(state_dir / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:%s" % _env("COURSE_HUB_PROXY_API_PORT", "8001")
c.ConfigurableHTTPProxy.pid_file = str(state_dir / "jupyterhub-proxy.pid")
c.ConfigurableHTTPProxy.command = [_env("COURSE_HUB_PROXY", "configurable-http-proxy")]
# Hub 退出时把代理和所有单用户服务器一起停掉
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True

# ---- 谁能登录 --------------------------------------------------------------------------
if test_password:
    # 测试用：任何列出的用户名加上同一个密码都能登录
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = test_password
else:
    # 真实部署换成学校的登录方式（LDAP、OAuth、LTI……），这里用服务器上的 unix 账户
    c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = set(instructors) | set(students)
c.Authenticator.admin_users = set(admins)

# ---- 组与权限 --------------------------------------------------------------------------
c.JupyterHub.load_groups = {
    INSTRUCTOR_GROUP: {"users": instructors},
    STUDENT_GROUP: {"users": students},
}
roles = [
    {
        # 教师能打开 formgrader 服务，也能在服务列表里看到它（JupyterLab 的 Courses 面板用）
        "name": INSTRUCTOR_GROUP,
        "groups": [INSTRUCTOR_GROUP],
        "scopes": [
            "access:services!service=" + COURSE_ID,
            "list:services",
            "read:services!service=" + COURSE_ID,
        ],
    },
]
services = []
# 单用户服务器自己的令牌：nbgrader 要用它向 Hub 查询“我在哪些组里”（JupyterHubAuthPlugin），
# 教师的服务器还要列出服务。Hub 只会给出用户本人拥有的那部分权限，学生拿不到服务列表
c.Spawner.server_token_scopes = [
    "users:activity!user",
    "read:users:name!user",
    "read:users:groups!user",
    "list:services",
    "read:services!service=" + COURSE_ID,
]

admin_token = _env("COURSE_HUB_ADMIN_TOKEN")
if admin_token:
    # 自动化脚本（同步选课名单、测试）用的服务：能管理用户、服务器、令牌和组
    services.append({"name": "course-admin", "api_token": admin_token})
    roles.append({
        "name": "course-admin",
        "services": ["course-admin"],
        "scopes": ["admin:users", "admin:servers", "tokens", "admin:groups"],
    })

# ---- 每个用户的单用户服务器 ----------------------------------------------------------
if test_homes:
    # 测试用：所有用户都是当前的 unix 账户，没有任何隔离，绝不能用于真实课程
    c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
    c.SimpleLocalProcessSpawner.home_dir_template = str(Path(test_homes) / "{username}")
else:
    # 每个用户以自己的 unix 账户运行，在自己的家目录里（Hub 要以 root 运行）
    c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
c.Spawner.cmd = [singleuser]
# 同一个 unix 账户是 root 时（比如容器里的测试），Jupyter Server 要明确允许才肯启动
as_root = bool(test_homes) and os.getuid() == 0
c.Spawner.args = ["--allow-root"] if as_root else []
c.Spawner.default_url = "/lab"
# 负载高的机器上启动慢一些，多等一会儿
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120

# 学生和教师个人服务器的 nbgrader 配置在 hub/singleuser/（课程 id、交换目录、按组授权），
# 学生再叠加 hub/student/（隐藏 Courses 面板）
c.Spawner.environment = {
    "COURSE_EXCHANGE_DIR": exchange_dir,
    "JUPYTER_CONFIG_PATH": str(HERE / "singleuser"),
    "LANG": "C.UTF-8",
}
c.Spawner.group_overrides = {
    "10-students": {
        "groups": [STUDENT_GROUP],
        "spawner_override": {
            "cmd": [str(student_python), "-m", "jupyterhub.singleuser"],
            "environment": {"JUPYTER_CONFIG_PATH": os.pathsep.join([str(HERE / "student"), str(HERE / "singleuser")])},
        },
    },
}

# ---- formgrader：Hub 管理的服务，只对教师组开放 ---------------------------------------
# 服务名必须等于课程 id，教师的 Courses 面板才能找到它；地址是 /services/backprop-zh/
formgrader_env = {
    "COURSE_EXCHANGE_DIR": exchange_dir,
    # 只放宽 iframe 限制到同源，JupyterLab 里的 Formgrader 面板才能显示
    "JUPYTER_CONFIG_PATH": str(HERE / "formgrader"),
    "JUPYTERHUB_DEFAULT_URL": "/lab",
    "LANG": "C.UTF-8",
}
if _env("COURSE_DB_URL"):
    formgrader_env["COURSE_DB_URL"] = _env("COURSE_DB_URL")
formgrader = {
    "name": COURSE_ID,
    "url": "http://127.0.0.1:%s" % _env("COURSE_HUB_FORMGRADER_PORT", "9999"),
    # 在课程文件夹里启动：nbgrader 从那里读 nbgrader_config.py，source/、submitted/ 等都在里面
    "command": [singleuser] + (["--allow-root"] if as_root else []),
    "cwd": course_dir,
    "environment": formgrader_env,
    "oauth_no_confirm": True,
}
if not test_homes:
    # 用单独的账户运行，教师们共用这一个 formgrader
    formgrader["user"] = _env("COURSE_HUB_GRADER_USER", "grader-" + COURSE_ID)
services.append(formgrader)

# ---- 交上来就评分：Hub 管理的后台服务（没有网页、不占端口），和 formgrader 同一个账户、同一个课程文件夹 --------
# Hub 启动它、它退出时重新启动它；它看交换目录的 inbound/，一有新提交就评分、记分、发布反馈（python -m course
# grade-service，见 README 的“交上来就评分”）。成绩库只有它和 formgrader 写（同一个 COURSE_DB_URL）
if _env("COURSE_HUB_GRADE_ON_SUBMIT", "1") != "0":
    grade_command = [sys.executable, "-m", "course", "grade-service", "--course", course_dir]
    if _env("COURSE_HUB_BROKER"):
        # 地址里有 Redis 的密码：放进服务的环境变量（COURSE_GRADE_BROKER），不上命令行，别的用户用 ps 看不到
        if _env("COURSE_HUB_GRADE_KEY_FILE"):  # 和各台机器上的 grade-worker 共有的签名密钥（权限 600）
            grade_command += ["--key-file", _env("COURSE_HUB_GRADE_KEY_FILE")]
    for name in _env("COURSE_HUB_GRADE_ASSIGNMENTS", "").replace(",", " ").split():
        grade_command += ["--assignment", name]
    if students:  # 服务只收成绩库里有的学生：启动时把学生组登记进去（名单改了，重启 Hub 或这个服务）
        grade_command += ["--add-students", ",".join(students)]
    grade_service = {
        "name": "grade-on-submit",
        "command": grade_command,
        "cwd": course_dir,
        "environment": {k: v for k, v in formgrader_env.items() if k in ("COURSE_EXCHANGE_DIR", "COURSE_DB_URL", "LANG")},
    }
    if _env("COURSE_HUB_BROKER"):
        grade_service["environment"]["COURSE_GRADE_BROKER"] = _env("COURSE_HUB_BROKER")
    if not test_homes:
        grade_service["user"] = formgrader["user"]
    services.append(grade_service)
c.JupyterHub.services = services
c.JupyterHub.load_roles = roles
