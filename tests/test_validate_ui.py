"""Validate 对话框的中文（course/tools/validate_ui.py、course/tools/jupyter_ui.py）：服务器一半的单元测试。

浏览器里看得见的样子（标题、引导语是中文，没通过的检查只列出标题）由 tests/test_browser.py 在 JupyterLab 里检查。"""
import json
import os

from traitlets.config import Config

from course.tools import jupyter_ui, validate_ui

CHECK_CELL = ('"""检查 buy_apple：书中的问题1，以及随机的单价、个数和税率（含数组和 0 个）。"""\n'
              "from course.checks.chain_rule import check_buy_apple\n\n"
              "check_buy_apple(buy_apple)\n"
              'assert np.isclose(buy_apple(100, 2, 1.1), 220), "问题1的答案应是 220"')


def test_check_cell_is_listed_by_its_title_only():
    assert validate_ui.summarize_source(CHECK_CELL) == "检查 buy_apple：书中的问题1，以及随机的单价、个数和税率（含数组和 0 个）。"
    # 多行的说明文字只取第一行
    assert validate_ui.summarize_source('"""检查 Affine：\n前向和反向。\n"""\ncheck_affine(Affine)') == "检查 Affine："


def test_cell_without_docstring_lists_a_few_lines_of_code():
    code = "# 学生的实现\nimport numpy as np\n\n" + "\n".join("x%d = %d" % (i, i) for i in range(6))
    shown = validate_ui.summarize_source(code)
    assert shown.splitlines() == ["x0 = 0", "x1 = 1", "x2 = 2", "……（这个单元还有 3 行）"]
    assert validate_ui.summarize_source("check_relu(Relu)") == "check_relu(Relu)"
    assert validate_ui.summarize_source("import numpy as np") == "import numpy as np"  # 只有 import：原样
    assert validate_ui.summarize_source('""""""\nf()') == "f()"  # 空的说明文字不算标题


def test_result_is_localized_and_unknown_keys_are_kept():
    value = {
        "failed": [{"source": CHECK_CELL, "error": "<pre>✘ 检查没有通过</pre>", "raw_error": "✘ 检查没有通过"},
                   {"source": "def f():\n    pass", "error": "You did not provide a response.",
                    "raw_error": "You did not provide a response."},
                   {"source": "check_q1(q1)", "error": "Partial credit; passed some but not all of the tests"}],
        "later": "原样",
    }
    out = validate_ui.localize_result(value)
    assert [c["source"] for c in out["failed"]] == [
        "检查 buy_apple：书中的问题1，以及随机的单价、个数和税率（含数组和 0 个）。", "def f():\n    pass", "check_q1(q1)"]
    assert out["failed"][0]["error"] == "<pre>✘ 检查没有通过</pre>"
    assert out["failed"][1]["error"] == out["failed"][1]["raw_error"] == "这里还没有作答。"
    assert out["failed"][2]["error"] == "只得了部分分：有的测试通过了，有的没有。"
    assert out["later"] == "原样"
    assert value["failed"][0]["source"] == CHECK_CELL  # 不改传进来的结果


def test_response_success_error_and_garbage():
    ok = validate_ui.localize_response({"success": True, "value": json.dumps({"changed": [{"source": CHECK_CELL}]})})
    assert ok["value"]["changed"][0]["source"].startswith("检查 buy_apple：")
    assert validate_ui.localize_response({"success": True, "value": {}}) == {"success": True, "value": {}}
    failed = validate_ui.localize_response({"success": False, "value": "Traceback ...\nKeyError: 'x'"})
    assert failed["value"].startswith("检查没能运行完。") and failed["value"].endswith("KeyError: 'x'")
    broken = {"success": True, "value": "{不是 JSON"}
    assert validate_ui.localize_response(broken) is broken  # 整理失败：原样交给插件，Validate 照常能用


def test_configure_turns_it_on_in_every_mode():
    for environ in ({}, {"COURSE_UI": "instructor"}, {"JUPYTERHUB_API_TOKEN": "x"}):
        c = Config()
        jupyter_ui.configure(c, environ)
        extensions = c.ServerApp.jpserver_extensions.get_value({})  # configure() 用 update()：是 LazyConfigValue
        assert extensions["course.tools.validate_ui"] is True, environ
        assert extensions["nbgrader.server_extensions.validate_assignment"] is False, environ
        assert c.LabApp.custom_css is True
        # tornado_settings 不碰：JupyterHub 的个人服务器要把它当 dict 读（LazyConfigValue 会让它起不来）
        assert "tornado_settings" not in c.ServerApp or environ == {}, c.ServerApp
    css = open(os.path.join(validate_ui.CUSTOM_DIR, "custom.css"), encoding="utf-8").read()
    assert 'content: "检查结果"' in css


def test_extension_puts_the_course_css_first_in_the_servers_custom_path(monkeypatch):
    """扩展加载时：课程的 custom.css 文件夹排到 static_custom_path 的最前面（同一个 list 对象，JupyterLab 的
    /custom/ 每次请求都读它），validate 和版本两个接口登记好；再加载一次也不重复。"""
    class WebApp:
        def __init__(self):
            self.settings = {"base_url": "/user/x/", "static_custom_path": ["/home/x/.jupyter/custom"]}
            self.routes = []

        def add_handlers(self, host, handlers):
            self.routes += [pattern for pattern, _ in handlers]

    class ServerApp:
        root_dir = "/srv/course"
        web_app = WebApp()

    app = ServerApp()
    paths = app.web_app.settings["static_custom_path"]
    validate_ui.load_jupyter_server_extension(app)
    validate_ui.load_jupyter_server_extension(app)
    assert app.web_app.settings["static_custom_path"] is paths
    assert paths == [validate_ui.CUSTOM_DIR, "/home/x/.jupyter/custom"]
    assert app.web_app.routes[:2] == ["/user/x/assignments/validate", "/user/x/nbgrader_version"]
    assert app.web_app.settings["root_dir"] == "/srv/course"


def test_extension_is_discoverable():
    points = validate_ui._jupyter_server_extension_points()
    assert points == [{"module": "course.tools.validate_ui"}]
    assert callable(validate_ui._load_jupyter_server_extension)


def test_config_commands_print_the_same_settings_as_json():
    import subprocess
    import sys

    printed = {}
    for flag in ("--server-config", "--lab-config"):
        out = subprocess.run([sys.executable, "-m", "course.tools.validate_ui", flag],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        printed.update(json.loads(out.stdout))
    assert printed == validate_ui.server_config()
    bad = subprocess.run([sys.executable, "-m", "course.tools.validate_ui", "--what"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and "用法" in bad.stderr and "Traceback" not in bad.stderr
