"""反馈 HTML 的样子：中文的框架、生成时排好的公式，不联网也能完整显示。

nbgrader generate_feedback 让 HTMLExporter（和它的子类，课程的 exporters.FeedbackExporter）用它自己的
“feedback” 模板：英文的框架（“Student's answer”、“Comments: No response.”、“Score”……），公式等浏览器从
CDN 下载 MathJax 再排版。FeedbackHTMLExporter 在 nbgrader 选了 “feedback” 时换成课程的中文版
course/grading/feedback/templates/feedback_zh/（同样的版式，说明见模板开头），并把 Markdown 和 text/latex 输出里的
公式在生成时换成 MathML（feedback_math.py）。页面里因此没有任何脚本，feedback_html.with_csp 加的内容安全策略
照旧（script-src 只剩 'none'）。内联的 bootstrap.min.css 去掉 @font-face：它指向反馈旁边并不存在的
fonts/glyphicons-*（模板不用图标字体），内容安全策略会拦下并在控制台报错。

nbgrader 没有选 “feedback” 模板时（例如教师在配置里指定了别的 template_name），模板照教师的设置，公式照样是 MathML。
"""
import re
from pathlib import Path

from jinja2 import pass_context
from markupsafe import Markup
from nbconvert.exporters import HTMLExporter
from nbconvert.filters.markdown_mistune import MarkdownWithMath

from .formulas import MathMLRenderer, latex_output_to_html

__all__ = ["FeedbackHTMLExporter", "TEMPLATES", "TEMPLATE_NAME"]

TEMPLATES = str(Path(__file__).resolve().with_name("templates"))
TEMPLATE_NAME = "feedback_zh"
NBGRADER_TEMPLATE_NAME = "feedback"


class FeedbackHTMLExporter(HTMLExporter):
    """HTMLExporter，只是 nbgrader 的反馈模板换成中文版，公式在生成时排成 MathML。"""

    def __init__(self, config=None, **kw):
        super().__init__(config=config, **kw)
        if self.template_name == NBGRADER_TEMPLATE_NAME:
            self.extra_template_basedirs = [TEMPLATES] + [d for d in self.extra_template_basedirs if d != TEMPLATES]
            self.template_name = TEMPLATE_NAME
            self.template_paths = self._template_paths()  # 构造时按 nbgrader 的模板算好了一次，要重算

    @pass_context  # 同 HTMLExporter.markdown2html：jinja 传入模板的 context（当前单元的附件）
    def markdown2html(self, context, source):
        """同 HTMLExporter.markdown2html（附件、内嵌图片、标题锚点的设置都照旧），公式输出成 MathML。"""
        cell = context.get("cell", {})
        renderer = MathMLRenderer(
            escape=False,
            attachments=cell.get("attachments", {}),
            embed_images=self.embed_images,
            path=context.get("resources", {}).get("metadata", {}).get("path", ""),
            anchor_link_text=self.anchor_link_text,
            exclude_anchor_links=self.exclude_anchor_links,
            **self.lexer_options,
        )
        return MarkdownWithMath(renderer=renderer).render(source)

    def default_filters(self):
        yield from super().default_filters()
        yield ("latex_output_to_html", latex_output_to_html)
        yield ("without_font_faces", without_font_faces)


def without_font_faces(css):
    """CSS（或 include_css 给出的 <style> 元素）去掉 @font-face 规则。"""
    return Markup(re.sub(r"@font-face\s*\{[^{}]*\}", "", str(css)))
