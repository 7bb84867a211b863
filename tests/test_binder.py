"""Binder（repo2docker）配置：在全新的虚拟环境里重放 repo2docker 会执行的安装步骤和 postBuild，
再启动 Jupyter 服务器确认：课程包可用、界面默认中文、教师工具被禁用并锁定、Validate 仍然能用，而且对话框说中文。
python -m course class-binder 生成的班级仓库（学生版 wheel、没有本机的界面配置）也照样重放一遍。

这里没有 Docker，所以按 repo2docker 的顺序手工重放：在仓库根目录 pip install -r binder/requirements.txt，
再以 NB_PYTHON_PREFIX 指向该环境运行 binder/postBuild。apt.txt 里的字体由 .ci/run 用 apt 装好。
"""
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import venv

import pytest

from conftest import ROOT


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def binder_env(tmp_path_factory):
    repo = tmp_path_factory.mktemp("repo")
    for name in ["course", "binder", "jupyter-config", "release", "source", "nbgrader_config.py", "pyproject.toml",
                 "requirements.txt", "README.md", "LICENSE"]:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, repo / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif src.exists():
            shutil.copy(src, repo / name)
    return _build(repo, tmp_path_factory.mktemp("env") / "venv")


def _build(repo, prefix):
    """像 repo2docker 那样在 repo 里：新的虚拟环境 prefix，pip install -r binder/requirements.txt，运行 postBuild。"""
    venv.EnvBuilder(with_pip=True).create(prefix)
    env = dict(os.environ, PATH="%s:%s" % (prefix / "bin", os.environ["PATH"]), NB_PYTHON_PREFIX=str(prefix),
               LANG="C.UTF-8", VIRTUAL_ENV=str(prefix))
    env.pop("PYTHONPATH", None)
    pip = subprocess.run([str(prefix / "bin" / "pip"), "install", "-q", "-r", "binder/requirements.txt"],
                         cwd=repo, env=env, capture_output=True, text=True, timeout=1500)
    assert pip.returncode == 0, pip.stderr[-3000:]
    post = subprocess.run(["bash", "binder/postBuild"], cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert post.returncode == 0, post.stdout[-2000:] + post.stderr[-3000:]
    return repo, prefix, env


@pytest.fixture(scope="module")
def class_binder_env(tmp_path_factory):
    """python -m course class-binder 生成的班级仓库（学生版 wheel，没有本机的界面配置），同样重放 repo2docker。"""
    from course.tools import student_env

    dest = student_env.class_binder(tmp_path_factory.mktemp("class") / "repo", log=lambda *_: None)
    return _build(dest, tmp_path_factory.mktemp("class-env") / "venv")


def test_apt_txt_has_cjk_fonts():
    assert "fonts-noto-cjk" in (ROOT / "binder" / "apt.txt").read_text().split()


def test_course_package_and_language_pack_installed(binder_env):
    repo, prefix, env = binder_env
    out = subprocess.run([str(prefix / "bin" / "python"), "-c",
                          "import course, jupyterlab_language_pack_zh_CN, nbgrader; print(course.__file__)"],
                         cwd="/", env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert str(repo) in out.stdout  # 可编辑安装，指向仓库里的 course/


def test_teacher_tools_disabled_and_locked(binder_env):
    _, prefix, _ = binder_env
    page = json.loads((prefix / "etc" / "jupyter" / "labconfig" / "page_config.json").read_text())
    for plugin in ["formgrader", "create-assignment", "course-list", "assignment-list"]:
        name = "@jupyter/nbgrader:" + plugin
        assert page["disabledExtensions"].get(name) is True
        assert page["lockedExtensions"].get(name) is True
    assert "@jupyter/nbgrader:validate-assignment" not in page["disabledExtensions"]
    # requirements.txt 里的 ./jupyter-config：本机 jupyter lab 的学生界面（Binder 上与 postBuild 的设置一致）
    assert (prefix / "etc" / "jupyter" / "jupyter_server_config.py").read_text(encoding="utf-8") == \
        (ROOT / "jupyter-config" / "jupyter_server_config.py").read_text(encoding="utf-8")
    validate = json.loads((prefix / "etc" / "jupyter" / "jupyter_server_config.d" / "course-validate.json").read_text())
    assert validate["ServerApp"]["jpserver_extensions"]["course.tools.validate_ui"] is True
    lab = json.loads((prefix / "etc" / "jupyter" / "jupyter_lab_config.json").read_text())
    assert lab["LabApp"]["custom_css"] is True
    overrides = json.loads((prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json").read_text())
    assert overrides["@jupyterlab/translation-extension:plugin"]["locale"] == "zh_CN"


@contextlib.contextmanager
def _serving(repo, prefix, env):
    """在 repo 里用 prefix 环境的 jupyter lab 起一个服务器，给出 request(path, data=None) -> (状态码, 文字)。"""
    port, token = free_port(), "binder-test"
    log_path = prefix.parent / "jupyter.log"
    log = open(log_path, "w")
    server = subprocess.Popen(
        [str(prefix / "bin" / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", "--port=%d" % port,
         "--IdentityProvider.token=" + token, "--ServerApp.root_dir=" + str(repo)]
        + (["--allow-root"] if os.geteuid() == 0 else []),
        cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    base = "http://127.0.0.1:%d" % port
    try:
        def request(path, data=None):
            req = urllib.request.Request(base + path, data=data, headers={"Authorization": "token " + token})
            try:
                with urllib.request.urlopen(req, timeout=120) as r:
                    return r.status, r.read().decode("utf-8")
            except urllib.error.HTTPError as e:
                return e.code, e.read().decode("utf-8", "replace")

        for _ in range(120):
            try:
                if request("/api/status")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.5)
        else:
            pytest.fail("JupyterLab 没有启动：\n" + log_path.read_text()[-3000:])
        yield request
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _validate_dialog_is_chinese(request, nb):
    """Validate 的接口：空白的学生版检查失败、给出中文说明，没通过的检查只列出标题（一行）；
    页面加载课程的 custom.css（对话框的标题和引导语显示中文，course/tools/validate_ui.py）。"""
    status, body = request("/assignments/validate", data=("path=" + nb).encode())
    assert status == 200, body
    result = json.loads(body)
    assert result["success"] is True, result
    assert "NotImplementedError" in json.dumps(result["value"], ensure_ascii=False)
    failed = result["value"]["failed"]
    assert failed and all("\n" not in c["source"] and "import" not in c["source"] for c in failed), failed
    status, css = request("/custom/custom.css")
    assert status == 200 and 'content: "检查结果"' in css, css[:500]
    status, page = request("/lab")
    assert status == 200 and "custom/custom.css" in page


def test_server_in_binder_env_serves_validate_but_not_formgrader(binder_env):
    repo, prefix, env = binder_env
    with _serving(repo, prefix, env) as request:
        assert request("/formgrader")[0] == 404
        assert request("/assignments")[0] == 404
        status, body = request("/lab/api/translations/zh_CN")
        assert status == 200 and json.loads(body)["data"], "简体中文语言包没有加载"
        nb = "release/01-graph-chain-rule/graph_chain_rule.ipynb"
        if not (repo / nb).exists():
            pytest.skip("第 01 课还不存在")
        _validate_dialog_is_chinese(request, nb)


def test_class_binder_repo_builds_and_its_validate_dialog_is_chinese(class_binder_env):
    """班级仓库里没有本机的界面配置（jupyter-config/），中文的 Validate 对话框全靠 postBuild 写下的两份 JSON。"""
    repo, prefix, env = class_binder_env
    etc = prefix / "etc" / "jupyter"
    assert not (etc / "jupyter_server_config.py").exists()  # 对照：不是本机界面配置的功劳
    assert json.loads((etc / "jupyter_lab_config.json").read_text())["LabApp"]["custom_css"] is True
    with _serving(repo, prefix, env) as request:
        assert request("/formgrader")[0] == 404
        _validate_dialog_is_chinese(request, "01-graph-chain-rule/graph_chain_rule.ipynb")


# ---- Binder 链接：README 里只有一处，由 python -m course binder-link 按 git 的 origin 生成 ----------
from course.tools import binder_link  # noqa: E402


@pytest.mark.parametrize("remote", [
    "https://github.com/yang/backprop-zh.git", "https://github.com/yang/backprop-zh", "git@github.com:yang/backprop-zh.git",
    "ssh://git@github.com/yang/backprop-zh.git", "https://token@github.com/yang/backprop-zh.git/",
])
def test_github_remote_gives_the_binder_link(remote):
    assert binder_link.github_repo(remote) == "yang/backprop-zh"
    assert binder_link.binder_url("yang/backprop-zh") == (
        "https://mybinder.org/v2/gh/yang/backprop-zh/HEAD?urlpath=lab/tree/" + binder_link.LESSON_01)
    assert (ROOT / binder_link.LESSON_01).exists() or not (ROOT / "release").exists()


@pytest.mark.parametrize("remote, text", [
    (None, "没有名为 origin 的远程仓库"), ("", "没有名为 origin 的远程仓库"),
    ("https://gitlab.com/yang/backprop-zh.git", "不是 GitHub 上的仓库"), ("/srv/git/course", "不是 GitHub 上的仓库"),
])
def test_no_github_remote_is_explained(remote, text):
    with pytest.raises(binder_link.NotOnGitHub, match=text):
        binder_link.github_repo(remote)


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _readme(path, line):
    path.write_text("# 课程\n\n%s\n%s\n%s\n\n其余\n" % (binder_link.BADGE_START, line, binder_link.BADGE_END),
                    encoding="utf-8")


def test_binder_link_command_without_and_with_a_github_origin(tmp_path):
    _git(tmp_path, "init", "-q")
    _readme(tmp_path / "README.md", "旧的内容")
    cmd = [sys.executable, "-m", "course", "binder-link", "--write-readme", "--course", str(tmp_path)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 1 and "没有名为 origin 的远程仓库" in out.stdout, out.stdout + out.stderr
    text = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert binder_link.NO_BADGE in text and "mybinder.org" not in text and "OWNER" not in text
    _git(tmp_path, "remote", "add", "origin", "git@github.com:yang/backprop-zh.git")
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert binder_link.binder_url("yang/backprop-zh") in out.stdout
    text = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert text.count("mybinder.org/v2/gh/yang/backprop-zh/HEAD") == 1 and text.endswith("其余\n")
    assert binder_link.NO_BADGE not in text


def test_update_readme_needs_exactly_one_marked_place(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("没有注释\n", encoding="utf-8")
    with pytest.raises(ValueError, match="恰好有一对 binder-badge 注释"):
        binder_link.update_readme(readme, "x")


def test_readme_has_one_binder_place_and_the_student_starts_with_a_venv():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.count(binder_link.BADGE_START) == 1 and text.count(binder_link.BADGE_END) == 1
    inside = text.split(binder_link.BADGE_START)[1].split(binder_link.BADGE_END)[0]
    outside = text.replace(inside, "")
    assert "mybinder.org/v2/" not in outside, "Binder 链接只应出现在 binder-badge 注释之间"
    assert "OWNER" not in text and "<用户名>" not in text
    start = text.index("## 开始学习")
    student = text[start:text.index("## 教师")]
    for venv_line in ("python3 -m venv .venv && . .venv/bin/activate", "py -m venv .venv; .venv\\Scripts\\Activate.ps1"):
        assert student.index(venv_line) < student.index("pip install -r requirements.txt", student.index(venv_line))
    assert student.count("pip install") == 2, "学生的部分只有两条安装命令（每个系统一条）"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = "pip install -r requirements-dev.txt && python -m pytest"
    assert command in text and command in ci.splitlines()
