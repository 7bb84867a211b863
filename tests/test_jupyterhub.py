"""多人课程：在本机用 hub/jupyterhub_config.py 起一个 JupyterHub，一位教师和两名学生走完整个流程。

Hub 只监听 127.0.0.1，所有用户共用当前的 unix 账户（SimpleLocalProcessSpawner，各自的家目录在
临时文件夹里），用共享密码登录；代理 configurable-http-proxy 来自 npm（按 hub/package-lock.json
装进 ~/.cache/backprop-zh/ 并重复使用；没有 npm 时跳过）。

教师通过 formgrader 服务的 REST API 生成、发布、收集、评分、生成并发布反馈；学生通过自己服务器上
nbgrader 的 REST 端点（/user/<名字>/assignments/...）获取、提交作业和获取反馈。一名学生交参考答案，
另一名原样交回学生版：各自只能拿到自己的反馈，分数不同，也碰不到别人的服务器。
还有一名旁听生：他在 Hub 上有账户，但不在学生组里，看不到、也拿不到这门课的作业。
"""
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import ROOT, SOURCE, read_nb

requests = pytest.importorskip("requests")
psutil = pytest.importorskip("psutil")
pytest.importorskip("jupyterhub", reason="没有安装 jupyterhub：pip install -r requirements-dev.txt")

HUB_DIR = ROOT / "hub"
COURSE_ID = "backprop-zh"
ASSIGNMENT = "01-graph-chain-rule"
NOTEBOOK = "graph_chain_rule"
# 交上来就评分的作业：Hub 管理的 grade-service 只管它，第 01 课照旧由教师在 formgrader 里评
ON_SUBMIT, ON_SUBMIT_NOTEBOOK = "02-simple-layers", "simple_layers"
INSTRUCTOR = "laoshi"
GOOD, UNTOUCHED = "xiaoming", "xiaohong"  # 交参考答案的学生，原样交回学生版的学生
STUDENTS = (GOOD, UNTOUCHED)
AUDITOR = "pangting"  # 旁听生：管理员在 Hub 上给他建了账户，但他不在学生组里
EVERYONE = (INSTRUCTOR,) + STUDENTS + (AUDITOR,)
BIN = Path(sys.executable).parent


# ---- configurable-http-proxy：从 npm 装进缓存目录，按锁文件的内容区分版本 ----------------------
def _proxy_command():
    given = os.environ.get("COURSE_HUB_PROXY")
    if given:
        return given
    npm, node = shutil.which("npm"), shutil.which("node")
    if not npm or not node:
        pytest.skip("没有 node/npm：JupyterHub 的代理 configurable-http-proxy 来自 npm 仓库，"
                    "装上 Node.js 20 或更新的版本后再运行（或用 COURSE_HUB_PROXY 指定代理的路径）")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    major = re.match(r"v?(\d+)", version)
    if not major or int(major.group(1)) < 20:
        pytest.skip("configurable-http-proxy 需要 Node.js 20 或更新的版本，这里是 %s" % version)
    lock = (HUB_DIR / "package-lock.json").read_bytes()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "backprop-zh"
    target = cache / ("configurable-http-proxy-" + hashlib.sha256(lock).hexdigest()[:12])
    exe = target / "node_modules" / ".bin" / "configurable-http-proxy"
    if not exe.exists():
        cache.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="install-", dir=cache))
        shutil.copy(HUB_DIR / "package.json", work)
        shutil.copy(HUB_DIR / "package-lock.json", work)
        try:
            proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=work,
                                  capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            shutil.rmtree(work, ignore_errors=True)
            pytest.skip("npm ci configurable-http-proxy 超过 10 分钟没有完成（网络不通？）")
        if proc.returncode != 0:
            shutil.rmtree(work, ignore_errors=True)
            pytest.skip("npm 装不上 configurable-http-proxy（网络不通？）：\n" + proc.stderr[-2000:])
        try:
            work.rename(target)  # 同时运行的另一个测试可能已经装好了，那就用它的
        except OSError:
            shutil.rmtree(work, ignore_errors=True)
    return str(exe)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what, check, timeout, interval=0.5, log=None):
    """每隔 interval 秒调用 check()，直到它返回真值；超过 timeout 秒就失败（附上 Hub 日志的结尾）。"""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except requests.RequestException as e:
            result, last = None, e
        if result:
            return result
        time.sleep(interval)
    pytest.fail("等了 %d 秒，%s（最后的错误：%r）\n%s" % (timeout, what, last, log() if log else ""))


class Hub:
    """正在运行的 JupyterHub 和对它的 REST 调用。"""

    def __init__(self, tmp):
        self.tmp = tmp
        self.port = _free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.admin_token = secrets.token_hex(32)
        self.password = secrets.token_urlsafe(16)
        self.course = tmp / "course"
        self.exchange = tmp / "exchange"
        self.homes = tmp / "home"
        self.state = tmp / "state"
        self.student_env = tmp / "student-env"
        self.log_path = tmp / "jupyterhub.log"
        self.tokens = {}
        self.proc = None
        self.seen = {}  # pid -> psutil.Process：Hub 启动过的所有进程，结束时逐个停掉

    # -- 启动与停止 --
    def start(self, proxy):
        for d in (self.homes, self.state):
            d.mkdir()
        # 教师的课程文件夹：本仓库的一份（只带这一个作业的 source/）
        self.course.mkdir()
        shutil.copy(ROOT / "nbgrader_config.py", self.course)
        for assignment in (ASSIGNMENT, ON_SUBMIT):
            shutil.copytree(SOURCE / assignment, self.course / "source" / assignment)
        # 学生服务器的环境：课程包是学生版（共用本环境的第三方包，不重新下载）
        from course.tools import student_env
        student_env.build(self.student_env, share_packages=True, log=lambda *a: None)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("JUPYTERHUB_", "CONFIGPROXY_", "JUPYTER_", "COURSE_"))}
        env.update({
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PATH": os.pathsep.join([str(BIN), str(Path(proxy).parent), env.get("PATH", "")]),
            "COURSE_HUB_INSTRUCTORS": INSTRUCTOR,
            "COURSE_HUB_STUDENTS": ",".join(STUDENTS),
            "COURSE_EXCHANGE_DIR": str(self.exchange),
            "COURSE_HUB_COURSE_DIR": str(self.course),
            "COURSE_DB_URL": "sqlite:///" + str(self.course / "gradebook.db"),
            "COURSE_HUB_STATE_DIR": str(self.state),
            "COURSE_HUB_IP": "127.0.0.1",
            "COURSE_HUB_PORT": str(self.port),
            "COURSE_HUB_API_PORT": str(_free_port()),
            "COURSE_HUB_PROXY_API_PORT": str(_free_port()),
            "COURSE_HUB_FORMGRADER_PORT": str(_free_port()),
            "COURSE_HUB_PROXY": proxy,
            "COURSE_HUB_ADMIN_TOKEN": self.admin_token,
            "COURSE_HUB_TEST_HOMES": str(self.homes),
            "COURSE_HUB_TEST_PASSWORD": self.password,
            "COURSE_HUB_STUDENT_ENV": str(self.student_env),
            # 第 01 课测的是教师经由 formgrader 收作业、评分、发反馈；交上来就评分的服务只管第 02 课，不和它抢
            "COURSE_HUB_GRADE_ON_SUBMIT": "1",
            "COURSE_HUB_GRADE_ASSIGNMENTS": ON_SUBMIT,
        })
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "jupyterhub"), "-f", str(HUB_DIR / "jupyterhub_config.py")],
                cwd=self.state, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        self.remember()

        def up():
            if self.proc.poll() is not None:
                pytest.fail("JupyterHub 启动失败（exit %s）\n%s" % (self.proc.returncode, self.log()))
            return requests.get(self.base + "/hub/api", timeout=5).status_code == 200
        _wait("JupyterHub 还没有在 %s 上响应" % self.base, up, 120, interval=1, log=self.log)
        self.remember()

    def remember(self):
        """记下 Hub 和它此刻的所有子孙进程（单用户服务器、formgrader、代理、评分内核）。"""
        try:
            hub = psutil.Process(self.proc.pid)
            for p in [hub] + hub.children(recursive=True):
                self.seen.setdefault(p.pid, p)
        except psutil.NoSuchProcess:
            pass

    def stop(self):
        """先让 Hub 自己收尾（它会停掉服务器、服务和代理），再结束所有还活着的、由它启动的进程。"""
        if self.proc is None:
            return
        self.remember()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        alive = [p for p in self.seen.values() if p.is_running()]
        for p in alive:
            try:
                p.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(alive, timeout=15)
        for p in alive:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=10)

    def log(self, n=6000):
        try:
            return "---- jupyterhub.log（结尾）----\n" + self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    # -- REST --
    def request(self, method, path, token=None, timeout=60, **kw):
        headers = {"Authorization": "token " + token} if token else {}
        return requests.request(method, self.base + path, headers=headers, timeout=timeout,
                                allow_redirects=False, **kw)

    def api(self, method, path, ok=(200, 201), **kw):
        """以管理服务的身份调用 Hub 的 REST API。"""
        r = self.request(method, "/hub/api" + path, token=self.admin_token, **kw)
        assert r.status_code in ok, "%s /hub/api%s -> %d %s\n%s" % (method, path, r.status_code, r.text[:1000], self.log())
        return r.json() if r.content else None

    def as_user(self, name, method, path, ok=(200, 201), timeout=120, **kw):
        """以用户 name 的 API 令牌访问 path，返回 JSON。"""
        r = self.request(method, path, token=self.tokens[name], timeout=timeout, **kw)
        assert r.status_code in ok, "%s 的 %s %s -> %d %s\n%s" % (name, method, path, r.status_code, r.text[:2000], self.log())
        return r.json() if r.content else None

    def formgrader(self, method, path, **kw):
        """教师通过 Hub 调用 formgrader 服务的 API；nbgrader 的操作都返回 {"success": …}。"""
        out = self.as_user(INSTRUCTOR, method, "/services/%s/formgrader/api/%s" % (COURSE_ID, path), timeout=600, **kw)
        if isinstance(out, dict) and "success" in out:
            assert out["success"], "formgrader %s 失败：\n%s\n%s" % (path, out.get("error"), out.get("log"))
        return out

    def nbgrader(self, name, action, assignment=ASSIGNMENT, **kw):
        """学生 name 在自己的服务器上调用 nbgrader 的作业端点，返回作业列表。"""
        data = {"course_id": COURSE_ID, "assignment_id": assignment}
        if action == "list":
            out = self.as_user(name, "GET", "/user/%s/assignments" % name, params={"course_id": COURSE_ID}, **kw)
        else:
            out = self.as_user(name, "POST", "/user/%s/assignments/%s" % (name, action), data=data, **kw)
        assert out["success"], "%s 的 %s 失败：\n%s" % (name, action, out.get("value"))
        return [a for a in out["value"] if a["assignment_id"] == assignment]


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    proxy = _proxy_command()
    h = Hub(tmp_path_factory.mktemp("jupyterhub"))
    try:
        h.start(proxy)
        # 管理服务建一个不在任何组里的账户，为每个人建一个 API 令牌，并同时启动他们的单用户服务器
        # （Hub 对每个启动请求最多先等 10 秒再回答 202，一个一个发就白白多等）
        h.api("POST", "/users/" + AUDITOR)
        for name in EVERYONE:
            h.tokens[name] = h.api("POST", "/users/%s/tokens" % name, json={"note": "test", "expires_in": 3600})["token"]
        with ThreadPoolExecutor(len(EVERYONE)) as pool:
            list(pool.map(lambda name: h.api("POST", "/users/%s/server" % name, ok=(201, 202)), EVERYONE))
        for name in EVERYONE:
            _wait("%s 的服务器还没有就绪" % name,
                  lambda: (h.api("GET", "/users/%s" % name)["servers"].get("", {}).get("ready")), 180, log=h.log)
        # formgrader 服务由 Hub 启动，等它能通过代理访问
        _wait("formgrader 服务还没有就绪",
              lambda: h.request("GET", "/services/%s/formgrader/api/status" % COURSE_ID,
                                token=h.tokens[INSTRUCTOR], timeout=10).status_code == 200, 180, log=h.log)
        h.remember()
        yield h
    finally:
        h.stop()


def test_login_needs_the_password_and_an_allowed_name(hub):
    def login(name, password):
        s = requests.Session()
        s.get(hub.base + "/hub/login", timeout=30)
        return s.post(hub.base + "/hub/login", timeout=30, allow_redirects=False,
                      data={"username": name, "password": password, "_xsrf": s.cookies.get("_xsrf", "")})

    assert login(UNTOUCHED, hub.password + "x").status_code == 403
    assert login("stranger", hub.password).status_code == 403, "不在名单里的用户也登录进来了"
    ok = login(UNTOUCHED, hub.password)
    assert ok.status_code == 302 and "jupyterhub-session-id" in ok.cookies, (ok.status_code, ok.text[:500])


def test_groups_decide_who_reaches_what(hub):
    user = hub.api("GET", "/users/" + INSTRUCTOR)
    assert "formgrade-" + COURSE_ID in user["groups"]
    for s in STUDENTS:
        assert hub.api("GET", "/users/" + s)["groups"] == ["nbgrader-" + COURSE_ID]
    assert hub.api("GET", "/users/" + AUDITOR)["groups"] == []
    status = "/services/%s/formgrader/api/status" % COURSE_ID
    # formgrader 只对教师组开放；它的页面可以嵌进同源的 JupyterLab（Formgrader 面板）
    assert hub.request("GET", status, token=hub.tokens[INSTRUCTOR]).status_code == 200
    page = hub.request("GET", "/services/%s/formgrader/manage_assignments" % COURSE_ID, token=hub.tokens[INSTRUCTOR])
    csp = page.headers.get("Content-Security-Policy", "")
    assert page.status_code == 200 and "frame-ancestors 'self'" in csp, (page.status_code, csp)
    for s in STUDENTS:
        assert hub.request("GET", status, token=hub.tokens[s]).status_code == 403, "学生打开了 formgrader"
    # 谁也进不了别人的服务器（教师也不行：评分在 formgrader 里做）
    for me, other in [(GOOD, UNTOUCHED), (UNTOUCHED, GOOD), (INSTRUCTOR, GOOD)]:
        r = hub.request("GET", "/user/%s/assignments" % other, token=hub.tokens[me], params={"course_id": COURSE_ID})
        assert r.status_code == 403, "%s 访问 %s 的服务器得到 %d" % (me, other, r.status_code)
    # 个人服务器上没有 formgrader；学生的服务器上也没有 Courses 面板的后端
    for name in (INSTRUCTOR,) + STUDENTS:
        assert hub.request("GET", "/user/%s/formgrader" % name, token=hub.tokens[name]).status_code == 404
    assert hub.request("GET", "/user/%s/formgraders" % GOOD, token=hub.tokens[GOOD]).status_code == 404
    courses = hub.as_user(INSTRUCTOR, "GET", "/user/%s/formgraders" % INSTRUCTOR)
    assert courses["success"] and [c["course_id"] for c in courses["value"]] == [COURSE_ID], courses
    lab = hub.request("GET", "/user/%s/lab" % GOOD, token=hub.tokens[GOOD])
    assert lab.status_code == 200
    page = json.loads(re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', lab.text, re.S).group(1))
    for plugin in ("formgrader", "create-assignment", "course-list"):
        assert "@jupyter/nbgrader:" + plugin in page["disabledExtensions"], page["disabledExtensions"]
    # Validate 对话框说中文（hub/singleuser/jupyter_server_config.py）：学生（学生环境）和教师的服务器都加载课程的 custom.css
    for name in (GOOD, INSTRUCTOR):
        assert "custom/custom.css" in hub.request("GET", "/user/%s/lab" % name, token=hub.tokens[name]).text, name
        css = hub.request("GET", "/user/%s/custom/custom.css" % name, token=hub.tokens[name])
        text = css.content.decode("utf-8")  # 服务器只说 text/css，不说编码：文件开头的 @charset 告诉浏览器
        assert css.status_code == 200 and text.startswith('@charset "UTF-8";') and 'content: "检查结果"' in text, \
            (name, css.status_code, text[:300])


def _score(feedback_html):
    m = re.search(r"（得分：([\d.]+) / ([\d.]+)）", feedback_html)  # 课程的中文反馈模板（course/grading/feedback/templates/feedback_zh）
    assert m, "反馈里找不到总分：\n" + feedback_html[:2000]
    return float(m.group(1)), float(m.group(2))


def test_release_submit_collect_grade_and_return_feedback(hub):
    # 教师：从 source/ 生成学生版并发布到共享交换目录
    hub.formgrader("POST", "assignment/%s/assign" % ASSIGNMENT)
    hub.formgrader("POST", "assignment/%s/release" % ASSIGNMENT)

    # 不在学生组里的人看不到、也拿不到这门课的作业（nbgrader 向 Hub 查询组）
    assert hub.nbgrader(AUDITOR, "list") == []
    hub.nbgrader(AUDITOR, "fetch")
    assert not (hub.homes / AUDITOR / COURSE_ID).exists()

    # 学生：在自己的服务器上看到作业、获取它
    for s in STUDENTS:
        listed = hub.nbgrader(s, "list")
        assert [a["status"] for a in listed] == ["released"], listed
        fetched = hub.nbgrader(s, "fetch")
        assert "fetched" in [a["status"] for a in fetched], fetched
    rel_path = "%s/%s/%s.ipynb" % (COURSE_ID, ASSIGNMENT, NOTEBOOK)
    contents = "/user/%s/api/contents/" + rel_path
    released = hub.as_user(UNTOUCHED, "GET", contents % UNTOUCHED)["content"]
    assert "raise NotImplementedError" in json.dumps(released)
    # xiaoming 通过 Jupyter 的文件 API 存进参考答案，xiaohong 什么都不改
    solution = read_nb(SOURCE / ASSIGNMENT / (NOTEBOOK + ".ipynb"))
    hub.as_user(GOOD, "PUT", contents % GOOD, json={"type": "notebook", "format": "json", "content": solution})
    for s in STUDENTS:
        submitted = [a for a in hub.nbgrader(s, "submit") if a["status"] == "submitted"]
        assert len(submitted) == 1 and submitted[0]["student_id"] == s, submitted
        assert len(submitted[0]["submissions"]) == 1, submitted
    hub.remember()

    # 教师：收集、逐个自动评分、生成并发布反馈
    hub.formgrader("POST", "assignment/%s/collect" % ASSIGNMENT)
    subs = hub.formgrader("GET", "submissions/%s" % ASSIGNMENT)
    assert sorted(x["student"] for x in subs if x["submitted"]) == sorted(STUDENTS), subs
    for s in STUDENTS:
        hub.formgrader("POST", "submission/%s/%s/autograde" % (ASSIGNMENT, s))
        hub.remember()
    scores = {x["student"]: (x["score"], x["max_score"]) for x in hub.formgrader("GET", "submissions/%s" % ASSIGNMENT)}
    max_score = scores[GOOD][1]
    assert max_score > 0 and scores == {GOOD: (max_score, max_score), UNTOUCHED: (0, max_score)}, scores
    hub.formgrader("POST", "assignment/%s/generate_feedback" % ASSIGNMENT)
    hub.formgrader("POST", "assignment/%s/release_feedback" % ASSIGNMENT)
    assert len(list((hub.exchange / COURSE_ID / "feedback").glob("*.html"))) == 2

    # 学生：各自获取反馈，只拿到自己的那一份
    got = {}
    for s in STUDENTS:
        mine = [a for a in hub.nbgrader(s, "fetch_feedback") if a["status"] == "submitted"]
        assert len(mine) == 1 and mine[0]["student_id"] == s and len(mine[0]["submissions"]) == 1, mine
        sub = mine[0]["submissions"][0]
        assert sub["has_local_feedback"] and not sub["feedback_updated"], sub
        folder = hub.homes / s / COURSE_ID / ASSIGNMENT / "feedback"
        pages = sorted(p.relative_to(hub.homes / s).as_posix() for p in folder.glob("*/*.html"))
        assert pages == ["%s/%s/feedback/%s/%s.html" % (COURSE_ID, ASSIGNMENT, sub["timestamp"], NOTEBOOK)], pages
        page = hub.as_user(s, "GET", "/user/%s/api/contents/%s" % (s, pages[0]), params={"type": "file", "format": "text"})
        got[s] = _score(page["content"])
    assert got == {GOOD: (max_score, max_score), UNTOUCHED: (0, max_score)}, got
    # 别人的反馈拿不到：不能替别人调用获取反馈，也读不到别人的文件
    for me, other in [(GOOD, UNTOUCHED), (UNTOUCHED, GOOD)]:
        r = hub.request("POST", "/user/%s/assignments/fetch_feedback" % other, token=hub.tokens[me],
                        data={"course_id": COURSE_ID, "assignment_id": ASSIGNMENT})
        assert r.status_code == 403, "%s 替 %s 获取反馈得到 %d" % (me, other, r.status_code)
        r = hub.request("GET", "/user/%s/api/contents/%s/%s/feedback" % (other, COURSE_ID, ASSIGNMENT), token=hub.tokens[me])
        assert r.status_code == 403


def test_grade_on_submit_returns_feedback_with_nobody_else_acting(hub):
    """第 02 课交给 Hub 管理的 grade-service：教师只发布作业；学生提交以后，没有任何人再做什么，
    学生就能用“获取反馈”拿到带分数的反馈（对的满分，原样交回的 0 分），成绩也记进了成绩库。"""
    hub.formgrader("POST", "assignment/%s/assign" % ON_SUBMIT)
    hub.formgrader("POST", "assignment/%s/release" % ON_SUBMIT)
    rel_path = "%s/%s/%s.ipynb" % (COURSE_ID, ON_SUBMIT, ON_SUBMIT_NOTEBOOK)
    for s in STUDENTS:
        assert "fetched" in [a["status"] for a in hub.nbgrader(s, "fetch", ON_SUBMIT)]
    solution = read_nb(SOURCE / ON_SUBMIT / (ON_SUBMIT_NOTEBOOK + ".ipynb"))
    hub.as_user(GOOD, "PUT", "/user/%s/api/contents/%s" % (GOOD, rel_path),
                json={"type": "notebook", "format": "json", "content": solution})
    submitted_at = time.monotonic()
    for s in STUDENTS:
        submitted = [a for a in hub.nbgrader(s, "submit", ON_SUBMIT) if a["status"] == "submitted"]
        assert len(submitted) == 1 and submitted[0]["student_id"] == s, submitted
    hub.remember()

    def feedback(s):
        mine = [a for a in hub.nbgrader(s, "fetch_feedback", ON_SUBMIT) if a["status"] == "submitted"]
        return mine if mine and mine[0]["submissions"] and mine[0]["submissions"][0]["has_local_feedback"] else None

    got, waited = {}, {}
    for s in STUDENTS:
        sub = _wait("%s 提交以后一直没有拿到反馈（交上来就评分的服务没有评分或没有发布）" % s, lambda: feedback(s), 300,
                    interval=2, log=hub.log)[0]["submissions"][0]
        waited[s] = time.monotonic() - submitted_at
        folder = hub.homes / s / COURSE_ID / ON_SUBMIT / "feedback"
        pages = sorted(p.relative_to(hub.homes / s).as_posix() for p in folder.glob("*/*.html"))
        assert pages == ["%s/%s/feedback/%s/%s.html" % (COURSE_ID, ON_SUBMIT, sub["timestamp"], ON_SUBMIT_NOTEBOOK)], pages
        page = hub.as_user(s, "GET", "/user/%s/api/contents/%s" % (s, pages[0]), params={"type": "file", "format": "text"})
        got[s] = _score(page["content"])
    full = got[GOOD][1]
    assert full > 0 and got == {GOOD: (full, full), UNTOUCHED: (0, full)}, got
    # 成绩库里也是这两个分数（formgrader 只读，不评分）
    scores = {x["student"]: (x["score"], x["max_score"]) for x in hub.formgrader("GET", "submissions/%s" % ON_SUBMIT)}
    assert scores == {GOOD: (full, full), UNTOUCHED: (0, full)}, scores
    print("提交到拿到反馈：%s" % {s: "%.1f 秒" % t for s, t in waited.items()})


def test_student_servers_run_from_the_student_environment(hub):
    """学生的服务器（和它们的内核）从学生环境启动：课程包是学生版，没有 course.demo，也不在课程仓库里；
    教师的服务器照旧用 Hub 的环境（对照：那里的课程包就是课程仓库本身，source/ 就在旁边）。"""
    hub.remember()
    servers = {}
    for p in hub.seen.values():
        try:
            cmd = p.cmdline()
        except psutil.Error:
            continue
        user = p.environ().get("JUPYTERHUB_USER") if "jupyterhub" in " ".join(cmd) else None
        if user in EVERYONE:
            servers[user] = cmd
    student_python = str(hub.student_env / "bin" / "python")
    for s in STUDENTS:
        assert servers[s][0] == student_python, servers
    assert servers[INSTRUCTOR][0] != student_python, servers
    from course.tools import student_env
    assert student_env.check(student_python) == []
    probe = ("import importlib.util, os, course\n"
             "print(importlib.util.find_spec('course.demo') is None, "
             "os.path.isdir(os.path.join(os.path.dirname(os.path.dirname(course.__file__)), 'source')))")
    student = subprocess.run([student_python, "-I", "-c", probe], capture_output=True, text=True, cwd="/")
    teacher = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True, cwd="/")
    assert student.stdout.split() == ["True", "False"], student.stderr
    assert teacher.stdout.split() == ["False", "True"], teacher.stderr  # 对照：Hub 的环境里答案就在手边


def _load_config(monkeypatch, **env):
    from traitlets.config.loader import PyFileConfigLoader
    for k in list(os.environ):
        if k.startswith("COURSE_"):
            monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return PyFileConfigLoader("jupyterhub_config.py", str(HUB_DIR)).load_config()


def test_config_without_test_settings_is_a_real_deployment(monkeypatch):
    """不设 COURSE_HUB_TEST_*：真实的账户、PAM 登录、formgrader 以专门的账户运行，没有管理令牌和 --allow-root。"""
    c = _load_config(monkeypatch, COURSE_HUB_INSTRUCTORS="laoshi", COURSE_HUB_STUDENTS="a, b c")
    assert c.JupyterHub.authenticator_class == "pam"
    assert c.JupyterHub.spawner_class == "jupyterhub.spawner.LocalProcessSpawner"
    assert c.Spawner.args == []
    assert c.Authenticator.allowed_users == {"laoshi", "a", "b", "c"}
    assert c.JupyterHub.load_groups == {"formgrade-backprop-zh": {"users": ["laoshi"]},
                                        "nbgrader-backprop-zh": {"users": ["a", "b", "c"]}}
    service, grade = c.JupyterHub.services
    assert service["name"] == COURSE_ID and service["user"] == "grader-backprop-zh"
    # 交上来就评分：Hub 管理的服务，和 formgrader 同一个账户、同一个课程文件夹、同一个交换目录，本机的工人进程
    assert grade["name"] == "grade-on-submit" and grade["user"] == "grader-backprop-zh" and "url" not in grade
    assert grade["command"][1:] == ["-m", "course", "grade-service", "--course", "/srv/nbgrader/backprop-zh",
                                    "--add-students", "a,b,c"]  # 学生组登记进成绩库：服务只收名单里的学生
    assert grade["cwd"] == service["cwd"] and grade["environment"]["COURSE_EXCHANGE_DIR"] == "/srv/nbgrader/exchange"
    assert service["cwd"] == "/srv/nbgrader/backprop-zh" and "--allow-root" not in service["command"]
    assert service["environment"]["COURSE_EXCHANGE_DIR"] == "/srv/nbgrader/exchange"
    assert [r["name"] for r in c.JupyterHub.load_roles] == ["formgrade-backprop-zh"]
    assert c.Spawner.environment["COURSE_EXCHANGE_DIR"] == "/srv/nbgrader/exchange"
    # 学生的服务器从学生环境启动，教师的从 Hub 的环境
    students = c.Spawner.group_overrides["10-students"]
    assert students["groups"] == ["nbgrader-backprop-zh"]
    assert students["spawner_override"]["cmd"] == ["/srv/nbgrader/student-env/bin/python", "-m", "jupyterhub.singleuser"]
    assert c.Spawner.cmd != students["spawner_override"]["cmd"]


def test_config_passes_the_gradebook_and_admin_token_through(monkeypatch):
    """成绩库、交换目录和管理令牌都从环境变量传到对应的地方。"""
    c = _load_config(monkeypatch, COURSE_DB_URL="postgresql://grader@db/backprop_zh", COURSE_HUB_ADMIN_TOKEN="t" * 32,
                     COURSE_EXCHANGE_DIR="/mnt/exchange")
    admin, formgrader, grade = c.JupyterHub.services
    assert admin == {"name": "course-admin", "api_token": "t" * 32}
    assert grade["environment"]["COURSE_DB_URL"] == "postgresql://grader@db/backprop_zh"  # 服务写同一个成绩库
    assert grade["environment"]["COURSE_EXCHANGE_DIR"] == "/mnt/exchange"
    assert formgrader["environment"]["COURSE_DB_URL"] == "postgresql://grader@db/backprop_zh"
    assert formgrader["environment"]["COURSE_EXCHANGE_DIR"] == "/mnt/exchange"
    assert {"name": "course-admin", "services": ["course-admin"],
            "scopes": ["admin:users", "admin:servers", "tokens", "admin:groups"]} in c.JupyterHub.load_roles


def test_config_grade_on_submit_over_redis_or_off(monkeypatch):
    """COURSE_HUB_BROKER：评分任务经由 Redis 交给别的机器上的 grade-worker；COURSE_HUB_GRADE_ON_SUBMIT=0 关掉服务。"""
    url = "redis://:s3cret@10.0.0.5:6379/0"
    c = _load_config(monkeypatch, COURSE_HUB_BROKER=url)
    grade = [s for s in c.JupyterHub.services if s["name"] == "grade-on-submit"][0]
    # 地址带着 Redis 的密码：放在服务的环境变量里，不在命令行上（命令行谁都能用 ps 看到）
    assert grade["environment"]["COURSE_GRADE_BROKER"] == url
    assert "--broker" not in grade["command"] and not any("s3cret" in a for a in grade["command"])
    c = _load_config(monkeypatch, COURSE_HUB_GRADE_ASSIGNMENTS="02-simple-layers, 03-activation-layers")
    grade = [s for s in c.JupyterHub.services if s["name"] == "grade-on-submit"][0]
    assert grade["command"][-4:] == ["--assignment", "02-simple-layers", "--assignment", "03-activation-layers"]
    c = _load_config(monkeypatch, COURSE_HUB_GRADE_ON_SUBMIT="0")
    assert [s["name"] for s in c.JupyterHub.services] == [COURSE_ID]
