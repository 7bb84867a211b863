"""反馈 HTML 里的公式在生成时就排好（LaTeX → MathML），打开反馈不需要 MathJax，也不需要联网。

nbconvert 的 HTML 模板把公式原样留成 $…$、$$…$$，等浏览器从 CDN 下载 MathJax 再排版；离线、CDN 很慢或被挡时，
学生看到的是一堆 TeX 源码。这里在生成反馈时用 latex2mathml 把公式换成 MathML（Chromium 109+、Firefox、Safari
都直接显示），HTML 里不留任何脚本：

- Markdown（课程的说明、学生写的回答、评语、text/markdown 输出）：MathMLRenderer 接替 nbconvert 的
  IPythonRenderer 处理 $…$、$$…$$、\\(…\\)、\\[…\\]、\\begin{…}…\\end{…}（哪些算公式仍由 nbconvert 的解析器决定）；
- text/latex 输出（display(Math(...))、sympy 的结果）：latex_output_to_html。

latex2mathml 不转义 \\text{…} 里的文字（学生写 $\\text{<script>…}$ 就能塞进 HTML），也照抄 \\href 的地址：
它的输出再用 bleach 按 MathML 的白名单清理一遍（只留排版用的元素和属性，其余转义成文字）。某个公式
latex2mathml 转不了时，显示成一段等宽的 TeX 源码（不让整份反馈失败）。
"""
import html
import re

import bleach
from latex2mathml.converter import convert
from nbconvert.filters.markdown_mistune import IPythonRenderer

__all__ = ["tex_to_mathml", "MathMLRenderer", "latex_output_to_html"]


MATHML_TAGS = {
    "math", "mrow", "mi", "mo", "mn", "ms", "mtext", "mspace", "msub", "msup", "msubsup", "munder", "mover",
    "munderover", "mfrac", "msqrt", "mroot", "mstyle", "mpadded", "mphantom", "menclose", "mtable", "mtr", "mtd",
    "merror", "mmultiscripts", "mprescripts", "none",
}
MATHML_ATTRIBUTES = {
    "display", "stretchy", "scriptlevel", "displaystyle", "width", "height", "depth", "lspace", "rspace", "voffset",
    "mathvariant", "mathsize", "columnalign", "fence", "form", "separator", "minsize", "maxsize", "linebreak",
    "accent", "accentunder", "linethickness", "notation", "columnlines", "rowlines", "columnspacing", "rowspacing",
    "frame", "movablelimits", "largeop", "symmetric",
}
_MATHML_NS = "http://www.w3.org/1998/Math/MathML"


def _attribute_ok(tag, name, value):
    if name == "xmlns":
        return value == _MATHML_NS
    return name in MATHML_ATTRIBUTES and re.fullmatch(r"[\w .#%+-]*", value or "") is not None


def clean_mathml(markup):
    """latex2mathml 的输出只留 MathML 白名单里的元素和属性（没有链接、脚本、样式），别的转义成文字。"""
    return bleach.clean(markup, tags=MATHML_TAGS, attributes=_attribute_ok)


def tex_to_mathml(tex, display=False):
    """一个公式（不带 $ 定界符）→ <math> 元素；转不了时是 <code class="tex-source">（转义过的源码）。"""
    tex = html.unescape(tex).strip()  # SanitizeStudentHTML 可能把公式里的 “<” 写成了 &lt;
    mode = "block" if display else "inline"
    try:
        out = convert(tex, display=mode)
    except Exception:  # latex2mathml 对不认识的命令抛各种异常
        return '<code class="tex-source">%s</code>' % html.escape(tex)
    return clean_mathml(out)


class MathMLRenderer(IPythonRenderer):
    """nbconvert 的 Markdown 渲染器，只是公式输出成 MathML 而不是留给 MathJax 的 TeX。"""

    def block_math(self, body):
        return tex_to_mathml(body, display=True)

    def inline_math(self, body):
        return tex_to_mathml(body, display=False)

    def latex_environment(self, name, body):
        return tex_to_mathml("\\begin{%s}%s\\end{%s}" % (name, body, name), display=True)

    def multiline_math(self, text):  # 只有旧版 mistune 用得到：text 带着定界符
        return latex_output_to_html(text)


_OUTPUT_MATH = re.compile(
    r"\$\$(?P<dd>.+?)\$\$|\\\[(?P<br>.+?)\\\]|\\begin\{(?P<env>[A-Za-z]+\*?)\}.*?\\end\{(?P=env)\}"
    r"|\$(?P<d>.+?)\$|\\\((?P<pa>.+?)\\\)", re.S)


def latex_output_to_html(text):
    """text/latex 输出 → HTML：其中的公式换成 MathML，公式外的文字转义后原样显示。"""
    if isinstance(text, list):
        text = "".join(text)
    parts, pos = [], 0
    for m in _OUTPUT_MATH.finditer(text):
        parts.append(html.escape(text[pos:m.start()]))
        if m.group("env"):
            parts.append(tex_to_mathml(m.group(0), display=True))
        else:
            inline = m.group("d") if m.group("d") is not None else m.group("pa")
            display = inline is None  # $\\displaystyle …$（IPython 的 Math）和 JupyterLab 里一样靠左
            parts.append(tex_to_mathml(inline if inline is not None else (m.group("dd") or m.group("br")),
                                       display=display))
        pos = m.end()
    parts.append(html.escape(text[pos:]))
    return "".join(parts)
