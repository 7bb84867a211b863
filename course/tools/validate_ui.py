"""JupyterLab 里 Validate 对话框说中文。

对话框由 nbgrader 的 JupyterLab 插件画出来：标题 "Validation Results"、每段前面的 "The following cell failed:"
之类的字写死在插件编译好的 JavaScript 里，没有配置项可改。所以分两半：

- 服务器这一半（本模块，Jupyter Server 扩展）：接替 nbgrader 的 `/assignments/validate` 接口，运行的仍是
  nbgrader 的 Validator（同一份配置），只改它交给浏览器的结果：没通过的单元不再列出整段代码，只列出这个
  检查的标题（单元开头说明文字的第一行）或它调用检查的那几行；nbgrader 自己的英文句子换成中文。
- 浏览器这一半（`jupyter_custom/custom.css`，JupyterLab 的 custom CSS）：把插件写死的英文标题和每段的
  英文引导语盖住，显示中文。DOM 里的文字没有变（按 class 和 id 找对话框的测试照常能用）。

两半都由 course.tools.jupyter_ui.configure() 打开（本机的学生、教师界面和 Binder 一样；JupyterHub 的个人服务器
由 hub/singleuser/jupyter_server_config.py 打开）。给一个班的 Binder 仓库没有装本机的界面配置，它的 postBuild 用

    python -m course.tools.validate_ui --server-config > $PREFIX/etc/jupyter/jupyter_server_config.d/course-validate.json
    python -m course.tools.validate_ui --lab-config > $PREFIX/etc/jupyter/jupyter_lab_config.json

写下同样的设置（server_config()）：JupyterLab 的 LabApp 不读 jupyter_server_config.d 里的 JSON，要分开写。
"""
import json
import os
import re

__all__ = ["CUSTOM_DIR", "SOURCE_LINES", "summarize_source", "localize_result", "localize_response",
           "server_config", "load_jupyter_server_extension", "main"]

CUSTOM_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jupyter_custom")
SOURCE_LINES = 3  # 没有说明文字的单元最多列出几行代码

# nbgrader Validator 写进结果里的英文句子（validator.py 的 _extract_error）
ENGLISH = {
    "Partial credit; passed some but not all of the tests": "只得了部分分：有的测试通过了，有的没有。",
    "You did not provide a response.": "这里还没有作答。",
}
_DOCSTRING = re.compile(r'^[rRuU]?("""|\'\'\')\s*(.*?)\s*(?:\1|$)', re.S)
_SKIP = re.compile(r"^\s*(#|import\s|from\s+\S+\s+import\s|$)")


def summarize_source(source, limit=SOURCE_LINES):
    """没通过的单元在对话框里怎么列：开头有说明文字（docstring）时只列它的第一行，否则列出前 limit 行
    有内容的代码（跳过注释、import 和空行），后面还有时注明还有几行。"""
    source = str(source or "").strip()
    match = _DOCSTRING.match(source)
    if match and match.group(2).strip():
        return match.group(2).strip().splitlines()[0].strip()
    if match:  # 空的说明文字不算标题
        source = source[match.end():]
    lines = [line for line in source.splitlines() if not _SKIP.match(line)]
    if not lines:
        return source
    shown = lines[:limit]
    if len(lines) > limit:
        shown.append("……（这个单元还有 %d 行）" % (len(lines) - limit))
    return "\n".join(shown)


def _chinese(text):
    for english, chinese in ENGLISH.items():
        text = text.replace(english, chinese)
    return text


def localize_result(value):
    """nbgrader Validator.validate() 的结果（dict）→ 对话框里要显示的样子。不认识的键原样保留。"""
    if not isinstance(value, dict):
        return value
    out = {}
    for key, cells in value.items():
        if not isinstance(cells, list):
            out[key] = cells
            continue
        shown = []
        for cell in cells:
            if not isinstance(cell, dict):
                shown.append(cell)
                continue
            cell = dict(cell)
            if "source" in cell:
                cell["source"] = summarize_source(cell["source"])
            for field in ("error", "raw_error"):
                if isinstance(cell.get(field), str):
                    cell[field] = _chinese(cell[field])
            shown.append(cell)
        out[key] = shown
    return out


def localize_response(response):
    """接口的整个回答 {"success": …, "value": …}：成功时整理 value；出错时在英文的出错信息前加一句中文。"""
    try:
        if response.get("success") is True:
            value = response.get("value")
            if isinstance(value, str):  # 插件两种都接受：dict 或 JSON 字符串
                value = json.loads(value)
            return dict(response, value=localize_result(value))
        text = str(response.get("value", ""))
        return dict(response, value="检查没能运行完。把下面的信息发给老师：\n\n" + text)
    except Exception:  # 整理失败时宁可给原样的英文结果，也不能让 Validate 坏掉
        return response


def server_config():
    """打开中文 Validate 对话框要设的 Jupyter Server 配置：{类名: {配置项: 值}}（能写成 JSON）。
    课程的 custom.css 所在的文件夹不在这里设（ServerApp 的 static_custom_path 不是配置项；经 tornado_settings
    改会让 JupyterHub 的个人服务器起不来），由扩展加载时放到 static_custom_path 的最前面。"""
    return {
        "ServerApp": {"jpserver_extensions": {"nbgrader.server_extensions.validate_assignment": False,
                                              "course.tools.validate_ui": True}},
        "LabApp": {"custom_css": True},
    }


def load_jupyter_server_extension(serverapp):
    """替换 nbgrader 的 validate_assignment 扩展：同样两个接口，validate 的结果先经过 localize_response。"""
    from jupyter_server.utils import url_path_join
    from nbgrader.server_extensions.validate_assignment import handlers as nbgrader_handlers

    class ValidateHandler(nbgrader_handlers.ValidateAssignmentHandler):
        def validate_notebook(self, path):
            return localize_response(super().validate_notebook(path))

    webapp = serverapp.web_app
    webapp.settings["root_dir"] = serverapp.root_dir
    # JupyterLab 的 /custom/ 按这个列表（同一个 list 对象，每次请求时读）找 custom.css：课程的排在用户自己的
    # ~/.jupyter/custom/ 前面
    paths = webapp.settings.setdefault("static_custom_path", [])
    if CUSTOM_DIR not in paths:
        paths.insert(0, CUSTOM_DIR)
    base_url = webapp.settings["base_url"]
    routes = [(r"/assignments/validate", ValidateHandler),
              (r"/nbgrader_version", nbgrader_handlers.NbGraderVersionHandler)]
    webapp.add_handlers(".*$", [(url_path_join(base_url, pattern), handler) for pattern, handler in routes])


_load_jupyter_server_extension = load_jupyter_server_extension


def _jupyter_server_extension_points():
    return [{"module": "course.tools.validate_ui"}]


def main(argv=None):
    import sys

    argv = sys.argv[1:] if argv is None else argv
    parts = {"--server-config": "ServerApp", "--lab-config": "LabApp"}
    if len(argv) != 1 or argv[0] not in parts:
        print("用法：python -m course.tools.validate_ui --server-config | --lab-config\n"
              "  打印打开中文 Validate 对话框的配置（JSON）：--server-config 写进 <环境>/etc/jupyter/"
              "jupyter_server_config.d/ 里的一个 .json 文件，--lab-config 写成 <环境>/etc/jupyter/"
              "jupyter_lab_config.json", file=sys.stderr)
        return 2
    name = parts[argv[0]]
    print(json.dumps({name: server_config()[name]}, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
