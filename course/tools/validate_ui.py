"""JupyterLab 里 Validate 对话框说中文。

对话框由 nbgrader 的 JupyterLab 插件画出来：标题 "Validation Results"、每段前面的 "The following cell failed:"
之类的字写死在插件编译好的 JavaScript 里，没有配置项可改。所以分两半：

- 服务器这一半（本模块，Jupyter Server 扩展）：接替 nbgrader 的 `/assignments/validate` 接口，运行的仍是
  nbgrader 的 Validator（同一份配置），只改它交给浏览器的结果：没通过的单元不再列出整段代码，只列出这个
  检查的标题（单元开头说明文字的第一行）或它调用检查的那几行；nbgrader 自己的英文句子换成中文。
- 浏览器这一半（`jupyter_custom/custom.css`，JupyterLab 的 custom CSS）：把插件写死的英文标题和每段的
  英文引导语盖住，显示中文。DOM 里的文字没有变（按 class 和 id 找对话框的测试照常能用）。

两半都由 course.tools.jupyter_ui.configure() 打开（学生、教师和 JupyterHub 上都一样）。
"""
import json
import os
import re

__all__ = ["CUSTOM_DIR", "SOURCE_LINES", "summarize_source", "localize_result", "localize_response",
           "load_jupyter_server_extension"]

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


def load_jupyter_server_extension(serverapp):
    """替换 nbgrader 的 validate_assignment 扩展：同样两个接口，validate 的结果先经过 localize_response。"""
    from jupyter_server.utils import url_path_join
    from nbgrader.server_extensions.validate_assignment import handlers as nbgrader_handlers

    class ValidateHandler(nbgrader_handlers.ValidateAssignmentHandler):
        def validate_notebook(self, path):
            return localize_response(super().validate_notebook(path))

    webapp = serverapp.web_app
    webapp.settings["root_dir"] = serverapp.root_dir
    base_url = webapp.settings["base_url"]
    routes = [(r"/assignments/validate", ValidateHandler),
              (r"/nbgrader_version", nbgrader_handlers.NbGraderVersionHandler)]
    webapp.add_handlers(".*$", [(url_path_join(base_url, pattern), handler) for pattern, handler in routes])


_load_jupyter_server_extension = load_jupyter_server_extension


def _jupyter_server_extension_points():
    return [{"module": "course.tools.validate_ui"}]
