"""反馈 HTML 里没有学生放进去的活代码：没有 <script>、事件属性、javascript: 链接，也不从外面加载东西。

反馈是评分后的 notebook 转成的 HTML，学生的输出和学生写的 Markdown 都在里面，老师和学生会在浏览器里
打开它。nbconvert 的 sanitize_html 会把课程自己的 Markdown（标题、段落、表格）也转义成文字，不能用；
这里分两层：

SanitizeStudentHTML（c.GenerateFeedback.preprocessors 的最后一个）
    - 代码单元的输出：去掉 application/javascript 和控件的输出；text/html 用 bleach 按白名单清理
      （只留排版用的标签和 class/title 之类的属性，图片只能是 data: 内嵌的），text/markdown 按下一条处理；
    - Markdown 单元：白名单以外的 HTML 标签、带事件属性（onerror=…）、style、srcdoc 或外部地址的标签、
      javascript:/vbscript: 链接，都把开头的 “<” 或 “:” 转义，显示成文字；课程自己的 Markdown 不受影响。

with_csp(html)
    再在 <head> 最前面加一条 Content-Security-Policy：只许运行模板自己的脚本（按来源和内联脚本的 sha256
    放行；课程的中文反馈模板一个脚本也没有，公式在生成时已排成 MathML，见 feedback_template.py），
    不许内联事件、不许加载别处的图片、框架和插件。即使上面漏掉了什么，浏览器也不会运行它。
"""
import base64
import hashlib
import re

import bleach

from .hidden import FeedbackPreprocessor

__all__ = ["SanitizeStudentHTML", "clean_output_html", "escape_markdown_html", "with_csp"]

SAFE_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "details", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "summary", "sup", "table",
    "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}
DROP_MIMES = ("application/javascript", "text/javascript", "application/vnd.jupyter.widget-view+json",
              "application/vnd.jupyter.widget-state+json")
HTML_MIMES = ("text/html", "text/markdown")  # text/markdown 按 Markdown 单元的规则处理


def _attribute_ok(tag, name, value):
    if name in ("class", "title", "alt", "colspan", "rowspan", "align"):
        return True
    if tag == "a" and name == "href":
        return re.match(r"(?i)\s*(https?:|mailto:|#)", value or "") is not None
    if tag == "img" and name == "src":
        return re.match(r"(?i)\s*data:image/(png|jpeg|gif|webp);", value or "") is not None
    return False


def clean_output_html(text):
    """学生输出里的 HTML：只留白名单里的标签和属性，其余转义成文字。"""
    return bleach.clean(text, tags=SAFE_TAGS, attributes=_attribute_ok, protocols=["http", "https", "mailto", "data"])


_TAG = re.compile(r"<(/?)([A-Za-z][\w:-]*)([^<>]*)(>?)")
_BAD_ATTR = re.compile(r"(?i)(\bon\w+\s*=|\bstyle\s*=|\bsrcdoc\s*=|\bformaction\s*=|javascript:|vbscript:|"
                       r"\b(src|href|xlink:href|background|poster|data)\s*=\s*[\"']?\s*(https?:|//|file:))")
_BAD_LINK = re.compile(r"(?i)(\]\(\s*<?|\]:\s*<?|<)\s*(javascript|vbscript)\s*:")


def escape_markdown_html(source):
    """Markdown 源码里危险的 HTML 标签和 javascript: 链接改成文字；别的原样保留。返回 (新源码, 改了几处)。"""
    count = 0

    def tag(m):
        nonlocal count
        name = m.group(2).lower()
        if name in SAFE_TAGS and not _BAD_ATTR.search(m.group(3)) and (m.group(4) or not m.group(3).strip()):
            return m.group(0)
        count += 1
        return "&lt;" + m.group(0)[1:]

    def link(m):  # 不再是链接语法：“](” → “]\(”，“]:” → “]\:”，“<” → “&lt;”（实体在链接地址里会被解码，不能只转义冒号）
        nonlocal count
        count += 1
        opener = m.group(1)
        opener = "&lt;" + opener[1:] if opener.startswith("<") else opener[0] + "\\" + opener[1:]
        return opener + m.group(2) + ":"

    source = _TAG.sub(tag, source)
    source = _BAD_LINK.sub(link, source)
    return source, count


class SanitizeStudentHTML(FeedbackPreprocessor):
    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "markdown":
            cell.source, _ = escape_markdown_html(cell.source)
        elif cell.cell_type == "code":
            for out in cell.get("outputs", []):
                data = out.get("data")
                if not data:
                    continue
                for mime in list(data):
                    if mime in DROP_MIMES or mime.endswith("javascript"):
                        del data[mime]
                    elif mime in HTML_MIMES:
                        value = data[mime]
                        value = "".join(value) if isinstance(value, list) else str(value)
                        data[mime] = clean_output_html(value) if mime == "text/html" else escape_markdown_html(value)[0]
        return cell, resources


_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S | re.I)


def with_csp(html):
    """在 <head> 最前面加上 CSP：只放行 <head> 里模板自己的脚本（外部脚本按来源，内联脚本按 sha256）。"""
    head_end = html.lower().find("</head>")
    head = html[:head_end] if head_end >= 0 else ""
    hosts, hashes = set(), set()
    for attrs, body in _SCRIPT.findall(head):
        src = re.search(r"""src\s*=\s*["']?(https?://[^/"'\s>]+)""", attrs)
        if src:
            hosts.add(src.group(1))
        elif body.strip():
            digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
            hashes.add("'sha256-%s'" % digest)
    styles = " ".join(sorted(hosts))
    policy = "; ".join([
        "default-src 'none'",
        "script-src %s 'unsafe-eval'" % " ".join(sorted(hosts | hashes) or ["'none'"]),
        "style-src 'unsafe-inline' %s" % styles,
        "font-src data: %s" % styles,
        "img-src data:",
        "connect-src %s" % (styles or "'none'"),
        "frame-src 'none'", "object-src 'none'", "base-uri 'none'", "form-action 'none'",
    ])
    meta = '<meta http-equiv="Content-Security-Policy" content="%s">' % policy
    m = re.search(r"<head[^>]*>", html, re.I)
    if not m:
        return meta + html
    return html[:m.end()] + "\n" + meta + html[m.end():]
