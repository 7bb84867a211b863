"""浏览器测试（tests/test_browser.py）用的工具：找 Chromium、在临时文件夹里起 JupyterLab、
启动无头 Chromium（Playwright），以及几个“像学生一样”操作 JupyterLab 的小动作。

这里不下载任何浏览器：只用系统里装好的 Chromium（Debian：apt-get install chromium chromium-driver）。
"""
import base64
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

from course.tools.procs import stop_group

CHROMIUM_CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
INSTALL_HINT = ("找不到 Chromium，跳过浏览器测试 / Chromium not found, browser test skipped. "
                "在 Debian/Ubuntu 上安装 / install with: apt-get install chromium chromium-driver "
                "（或用环境变量 COURSE_CHROMIUM 指定浏览器的路径 / or set COURSE_CHROMIUM）")
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--lang=zh-CN",
]

# 所有等待都放宽：2 核的机器上常有别的任务同时在跑
SERVER_START_TIMEOUT = 120
UI_TIMEOUT_MS = 90_000


def find_chromium():
    """系统里可用的 Chromium 可执行文件；没有时返回 None。"""
    env = os.environ.get("COURSE_CHROMIUM")
    for cand in ([env] if env else []) + CHROMIUM_CANDIDATES:
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    return None


def free_port():
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FROM_SOURCE_ENV = "COURSE_BROWSER_FROM_SOURCE"


def make_course_copy(repo, dest):
    """把学生会拿到的东西（release/ 和课程配置）复制到 dest；返回 dest。仓库本身不会被写。

    设了环境变量 COURSE_BROWSER_FROM_SOURCE=1 时，学生版不取提交的 release/，而是在 dest 里用 nbgrader
    从 source/ 现生成（改了 source/、还没重新生成 release/ 时，用它看改动在浏览器里的样子）。
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(repo / "nbgrader_config.py", dest / "nbgrader_config.py")
    if os.environ.get(FROM_SOURCE_ENV):
        shutil.copytree(repo / "source", dest / "source", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "*", "--force"], cwd=dest, env=env,
                       check=True, capture_output=True, timeout=1800)
        shutil.rmtree(dest / "source")  # 学生手里没有答案
        for extra in ("gradebook.db", "gradebook.db-journal"):
            if (dest / extra).exists():
                (dest / extra).unlink()
    else:
        shutil.copytree(repo / "release", dest / "release", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return dest


class JupyterLab:
    """在 root 里运行的 JupyterLab（cwd 也是 root，nbgrader 的 Validate 从 cwd 读 nbgrader_config.py）。

    Jupyter 的配置、设置、工作区和运行时文件都放在 state 里，不受本机用户设置的影响。
    仓库的 jupyter-config/（本机的学生界面，requirements.txt 把它装进虚拟环境）放在 JUPYTER_CONFIG_PATH 上，
    所以测试不依赖开发环境里有没有装它；env 里的变量（例如 COURSE_UI=instructor）加到服务器的环境里；
    wrapper 是放在命令前面的前缀（例如用 bubblewrap 把系统字体藏起来）。
    """

    def __init__(self, root, state, log_path, env=None, wrapper=()):
        self.root, self.state, self.log_path = Path(root), Path(state), Path(log_path)
        self.extra_env, self.wrapper = dict(env or {}), list(wrapper)
        self.port = free_port()
        self.token = os.urandom(16).hex()
        self.url = "http://127.0.0.1:%d" % self.port
        self.proc = None
        self._log = None

    def __enter__(self):
        for sub in ("config", "data", "runtime", "settings", "workspaces", "ipython"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        # 不弹“要不要接收 Jupyter 新闻”的通知，也不去检查更新（机器可能没有网络）
        notify = self.state / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        notify.parent.mkdir(parents=True, exist_ok=True)
        notify.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}), encoding="utf-8")
        # 所有单元都留在页面里（不按可见区域懒渲染），测试才能读到整本 notebook 的输出
        tracker = self.state / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
        tracker.parent.mkdir(parents=True, exist_ok=True)
        tracker.write_text(json.dumps({"windowingMode": "none"}), encoding="utf-8")
        bindir = str(Path(sys.executable).parent)
        env = dict(os.environ, LANG="C.UTF-8", PYTHONUNBUFFERED="1",
                   PATH=os.pathsep.join([bindir, os.environ.get("PATH", "")]),
                   JUPYTER_CONFIG_DIR=str(self.state / "config"), JUPYTER_DATA_DIR=str(self.state / "data"),
                   JUPYTER_RUNTIME_DIR=str(self.state / "runtime"),
                   JUPYTERLAB_SETTINGS_DIR=str(self.state / "settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(self.state / "workspaces"),
                   IPYTHONDIR=str(self.state / "ipython"),
                   JUPYTER_CONFIG_PATH=str(Path(__file__).resolve().parent.parent / "jupyter-config"))
        env.pop("JUPYTER_PATH", None)
        env.pop("COURSE_UI", None)
        env.update(self.extra_env)
        cmd = self.wrapper + [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
               "--port=%d" % self.port, "--ServerApp.port_retries=0",
               "--IdentityProvider.token=%s" % self.token, "--ServerApp.root_dir=%s" % self.root,
               "--LabApp.news_url=None", "--LabApp.expose_app_in_browser=True", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        self._log = open(self.log_path, "w", encoding="utf-8")
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self):
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("JupyterLab 启动失败（exit %s）：\n%s" % (self.proc.returncode, self.log_tail()))
            try:
                with urllib.request.urlopen(self.api("status"), timeout=5) as r:
                    if r.status == 200 and "started" in json.loads(r.read().decode()):
                        return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(0.5)
        raise RuntimeError("JupyterLab 在 %d 秒内没有响应 /api/status：\n%s" % (SERVER_START_TIMEOUT, self.log_tail()))

    def api(self, path):
        return "%s/api/%s?token=%s" % (self.url, path, self.token)

    def lab_url(self, path):
        return "%s/lab/tree/%s?reset&token=%s" % (self.url, path, self.token)

    def log_tail(self, n=4000):
        try:
            self._log.flush()
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-n:]
        except (OSError, ValueError):
            return ""

    def __exit__(self, *exc):
        if self.proc is not None:
            stop_group(self.proc, grace=20)  # 只结束自己启动的这一组进程（JupyterLab 和它的内核）
        if self._log is not None:
            self._log.close()
        return False


# ---- 在 JupyterLab 里的小动作 ------------------------------------------------
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"


def cell_by_text(page, text):
    """输入区里含有 text 的那个单元（Playwright Locator），必须恰好一个。"""
    cell = page.locator("%s .jp-Cell" % NOTEBOOK).filter(
        has=page.locator(".jp-InputArea-editor", has_text=text))
    cell.first.wait_for(state="attached", timeout=UI_TIMEOUT_MS)
    n = cell.count()
    assert n == 1, "notebook 里应有恰好一个含 %r 的单元，找到 %d 个" % (text, n)
    return cell


KERNEL_IDLE_JS = """() => {
    // JupyterLab 以 --LabApp.expose_app_in_browser 启动，window.jupyterapp 可用（只用来读状态）
    const app = window.jupyterapp;
    const w = app && app.shell.currentWidget;
    const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
    return !!k && k.connectionStatus === 'connected' && k.status === 'idle';
}"""


def wait_kernel_idle(page, timeout=UI_TIMEOUT_MS):
    """等到当前 notebook 的内核已经连上并且空闲。"""
    page.wait_for_function(KERNEL_IDLE_JS, timeout=timeout, polling=250)


def wait_all_executed(page, timeout=UI_TIMEOUT_MS):
    """等到没有排队或正在运行的单元（提示符不是 [*]），并且内核空闲。"""
    page.wait_for_function(
        """() => {
            const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
            if (!nb) return false;
            const prompts = [...nb.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
            return !prompts.some(p => p.textContent.includes('*')) && (%s)();
        }""" % KERNEL_IDLE_JS, timeout=timeout, polling=250)
    # 内核在两个单元之间会短暂地报告空闲，屏幕外的单元（JupyterLab 的虚拟滚动）又不在 DOM 里：
    # 所以再等到各单元的执行编号连续 1.5 秒不变、其间内核一直空闲，才算这一轮真的跑完了
    deadline = time.monotonic() + timeout / 1000
    last = None
    while time.monotonic() < deadline:
        now = page.evaluate(COUNTS_JS)
        if now == last and now["idle"]:
            return
        last = now
        page.wait_for_timeout(1500)
    raise AssertionError("等了 %d 秒，单元还在运行" % (timeout // 1000))


COUNTS_JS = """() => {
    const nb = window.jupyterapp.shell.currentWidget.content;
    const counts = nb.widgets.filter(c => c.model.type === 'code').map(c => c.model.executionCount);
    const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputArea-prompt')];
    return {counts, idle: (%s)() && !prompts.some(p => p.textContent.includes('*'))};
}""" % KERNEL_IDLE_JS


MAX_PROMPT_JS = """() => Math.max(0, ...[...document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt')]
    .map(p => parseInt((p.textContent.match(/\\[(\\d+)\\]/) || [0, '0'])[1], 10)))"""


def run_all(page):
    """菜单 Run → Run All Cells，然后等到全部运行完（遇到出错的单元时，JupyterLab 会停在那里）。"""
    before = page.evaluate(MAX_PROMPT_JS)
    page.locator(".lm-MenuBar-item").filter(has_text=re.compile(r"^Run$")).click()
    # 只点 “Run All Cells”，不是 “Restart Kernel and Run All Cells…”
    page.locator(".lm-Menu-item:visible").filter(
        has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$"))).click()
    # 先等这一轮真正开始（出现 [*]，或者执行编号超过了之前的最大值），再等它结束
    page.wait_for_function(
        """(before) => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputArea-prompt')]
                  .some(p => p.textContent.includes('*')) || (%s)() > before""" % MAX_PROMPT_JS,
        arg=before, timeout=UI_TIMEOUT_MS, polling=100)
    wait_all_executed(page)


ACTIVE_SOURCE_JS = """() => {
    const nb = window.jupyterapp.shell.currentWidget.content;
    return nb.activeCell ? nb.activeCell.model.sharedModel.getSource() : null;
}"""


def replace_cell_source(page, cell, text):
    """像在编辑器里全选后粘贴一样，把单元的内容换成 text（insert_text 不触发自动缩进）。"""
    editor = cell.locator(".cm-content").first
    editor.scroll_into_view_if_needed()
    editor.click()
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.insert_text(text)
    # 确认编辑器里（也就是 notebook 的模型里）确实是新内容
    page.wait_for_function("(want) => (%s)() === want" % ACTIVE_SOURCE_JS, arg=text, timeout=UI_TIMEOUT_MS)


def save(page):
    """Ctrl+S 保存，等到标签上“未保存”的圆点消失。"""
    page.keyboard.press("ControlOrMeta+S")
    page.wait_for_function(
        """() => {
            const tab = document.querySelector('.lm-TabBar-tab.lm-mod-current.jp-mod-dirty');
            return !tab;
        }""", timeout=UI_TIMEOUT_MS)


def validate(page):
    """按工具栏上 nbgrader 的 Validate 按钮，返回结果对话框（Locator）。"""
    page.locator(NOTEBOOK.replace(" .jp-Notebook", "") + " .validate-button").first.click()
    dialog = page.locator(".jp-Dialog", has_text="Validation Results")
    # Validate 会在服务器上把整本 notebook 重新执行一遍：慢的机器上要等一会
    dialog.wait_for(state="visible", timeout=240_000)
    return dialog


def validate_dialog_text(dialog):
    """Validate 对话框上看得见的字：nbgrader 插件写死的英文由课程的 custom.css 换成 ::before 里的中文
    （course/tools/jupyter_custom/custom.css），DOM 里的英文还在，只是字号为 0。

    返回 {"title": 标题上显示的字（字号不到 10px 的不算）, "title_english_width": 英文标题文字的宽度（像素）,
          "labels": 每段引导语显示的字, "label_english_widths": 每段英文引导语的宽度}。"""
    return dialog.evaluate("""(d) => {
        const shown = (el) => {  // ::before 的字（字号为 0 时看不见，算作没有）
            const style = el ? getComputedStyle(el, '::before') : null;
            const c = style ? style.content : 'none';
            return c && c !== 'none' && c !== 'normal' && parseFloat(style.fontSize) >= 10 ? JSON.parse(c) : '';
        };
        const width = (node) => {
            if (!node) return -1;
            const r = document.createRange(); r.selectNodeContents(node);
            return r.getBoundingClientRect().width;
        };
        const header = d.querySelector('.jp-Dialog-header');
        const text = header ? [...header.childNodes].find(n => n.nodeType === 3 && n.textContent.trim()) : null;
        const labels = [...d.querySelectorAll('#validation-message > div > p')];
        return {title: shown(header), title_english_width: width(text),
                labels: labels.map(shown), label_english_widths: labels.map(width)};
    }""")


def close_dialog(page, dialog):
    dialog.locator("button", has_text="Ok").first.click()
    dialog.wait_for(state="detached", timeout=UI_TIMEOUT_MS)


def output_svgs(cell):
    """单元输出里的静态 SVG 图（JupyterLab 把 image/svg+xml 显示成 <img src="data:...">），返回 SVG 源码的列表。"""
    srcs = cell.locator(".jp-OutputArea-output img").evaluate_all("els => els.map(e => e.getAttribute('src'))")
    svgs = []
    for src in srcs:
        if not src or not src.startswith("data:image/svg+xml"):
            continue
        head, _, body = src.partition(",")
        svgs.append(base64.b64decode(body).decode("utf-8") if head.endswith(";base64") else urllib.parse.unquote(body))
    return svgs


def svg_texts(svg_source):
    """SVG 里所有 <text> 的文字（按出现顺序）。"""
    root = ET.fromstring(svg_source)
    return ["".join(t.itertext()).strip() for t in root.iter("{http://www.w3.org/2000/svg}text")]


def inline_svg_texts(locator):
    """页面上（控件里）内嵌 SVG 的 <text>：[(class, 文字), ...]。"""
    return locator.locator("svg text").evaluate_all(
        "els => els.map(e => [e.getAttribute('class') || '', e.textContent.trim()])")


def drag_slider_to_end(page, slider):
    """用鼠标把 ipywidgets 滑块（noUiSlider）的手柄一直拖到最右端。"""
    handle = slider.locator(".noUi-handle").first
    track = slider.locator(".noUi-base, .noUi-target").first
    handle.scroll_into_view_if_needed()
    h, t = handle.bounding_box(), track.bounding_box()
    y = h["y"] + h["height"] / 2
    page.mouse.move(h["x"] + h["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(t["x"] + t["width"] * 0.6, y, steps=8)
    page.mouse.move(t["x"] + t["width"] + 40, y, steps=8)
    page.mouse.up()


def saved_notebook_source(lab, path):
    """服务器上保存着的 notebook（通过 Jupyter 的 contents API 读），返回全部单元源码拼成的文字。"""
    url = "%s/api/contents/%s?content=1&token=%s" % (lab.url, urllib.parse.quote(path), lab.token)
    with urllib.request.urlopen(url, timeout=30) as r:
        model = json.loads(r.read().decode("utf-8"))
    return "\n".join(c["source"] if isinstance(c["source"], str) else "".join(c["source"])
                     for c in model["content"]["cells"])


def scroll_dialog_to_end(dialog):
    """把对话框里能滚动的部分都滚到底（截图时让 traceback 最后的中文提示露出来）。"""
    dialog.evaluate("""d => { for (const el of [d, ...d.querySelectorAll('*')]) {
        if (el.scrollHeight > el.clientHeight + 1) el.scrollTop = el.scrollHeight; } }""")
