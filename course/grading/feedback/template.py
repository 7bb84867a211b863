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
import json
import re
from pathlib import Path

from jinja2 import BytecodeCache, pass_context
from markupsafe import Markup
from nbconvert.exporters import HTMLExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.markdown_mistune import MarkdownWithMath

from .formulas import MathMLRenderer, latex_output_to_html

__all__ = ["FeedbackHTMLExporter", "TEMPLATES", "TEMPLATE_NAME"]

TEMPLATES = str(Path(__file__).resolve().with_name("templates"))
# Markdown 单元排好的 HTML：同一份作业每名学生的反馈里绝大多数 Markdown 单元都一样（课程写的说明），
# 评分服务的工人为每份作业包先排一遍（service/forkrun.warm_release），fork 出的 generate_feedback 直接用。
# 键是排版用到的一切（原文、附件、内嵌图片的设置……）；先进先出，条数和字符数都有上限（_Memo）
_RENDERED_MAX = 4096
_RENDERED_MAX_SOURCE = 200_000
_RENDERED_MAX_CHARS = 32 * 2 ** 20
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
        path = context.get("resources", {}).get("metadata", {}).get("path", "")
        try:
            key = (source, json.dumps(cell.get("attachments", {}), sort_keys=True), bool(self.embed_images),
                   path if self.embed_images else "", self.anchor_link_text, bool(self.exclude_anchor_links),
                   json.dumps(self.lexer_options, sort_keys=True))
        except (TypeError, ValueError):
            key = None
        if key is not None and key in _RENDERED:
            return _RENDERED[key]
        renderer = MathMLRenderer(
            escape=False,
            attachments=cell.get("attachments", {}),
            embed_images=self.embed_images,
            path=path,
            anchor_link_text=self.anchor_link_text,
            exclude_anchor_links=self.exclude_anchor_links,
            **self.lexer_options,
        )
        html = MarkdownWithMath(renderer=renderer).render(source)
        if key is not None:
            _RENDERED.remember(key, source, html)
        return html

    def _create_environment(self):
        env = super()._create_environment()
        env.bytecode_cache = _BYTECODE  # 模板编译好的字节码留在工人进程里，fork 出的命令不再每次编译
        return env

    def from_notebook_node(self, nb, resources=None, **kw):
        """课程的中文模板：同 HTMLExporter.from_notebook_node，只是省掉它最后用 BeautifulSoup 把整页解析、再序列化
        一遍（占生成一份反馈的三分之一）。那一步只给没有 alt 的 <img> 加英文说明、给 JupyterLab 模板的单元加
        tabindex（课程的模板没有这些单元）；alt 这里用中文补上（with_alt）。用别的模板或 nbconvert 不是预期的样子时照旧。"""
        if self.template_name != TEMPLATE_NAME or not all(
                hasattr(self, n) for n in ("_init_resources", "_nb_metadata", "register_filter")):
            return super().from_notebook_node(nb, resources, **kw)
        from nbconvert.exporters.templateexporter import TemplateExporter
        from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

        langinfo = nb.metadata.get("language_info", {})
        lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
        self.register_filter("highlight_code",
                             self.filters.get("highlight_code", CachedHighlight2HTML(pygments_lexer=lexer, parent=self)))
        resources = self._init_resources(resources)
        self.register_filter("filter_data_type", WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources))
        html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        return with_alt(html), resources

    def default_filters(self):
        yield from super().default_filters()
        yield ("latex_output_to_html", latex_output_to_html)
        yield ("without_font_faces", without_font_faces)


class _Memo(dict):
    """先进先出的缓存：至多 max_items 条，每条的原文和结果加起来算字符数，总共至多 max_chars 个。
    教师一次为全班生成反馈时，学生写的单元也进缓存：上限按字符算，交上来的大单元撑不大这个进程。"""

    def __init__(self, max_items=_RENDERED_MAX, max_chars=_RENDERED_MAX_CHARS, max_source=_RENDERED_MAX_SOURCE):
        super().__init__()
        self.max_items, self.max_chars, self.max_source = max_items, max_chars, max_source
        self._sizes = {}
        self.chars = 0

    def remember(self, key, source, value):
        """记下一条排好的结果（原文太长、一条就超过总上限的不记），先挤掉最早的几条腾出地方。"""
        size = len(source) + len(value)
        if len(source) > self.max_source or size > self.max_chars:
            return
        while self and (len(self) >= self.max_items or self.chars + size > self.max_chars):
            oldest = next(iter(self))
            del self[oldest]
            self.chars -= self._sizes.pop(oldest)
        self[key] = value
        self._sizes[key] = size
        self.chars += size

    def clear(self):
        super().clear()
        self._sizes.clear()
        self.chars = 0


_RENDERED = _Memo()
_HIGHLIGHTED = _Memo()  # 代码单元高亮好的 HTML（CachedHighlight2HTML）


class CachedHighlight2HTML(Highlight2HTML):
    """nbconvert 的代码高亮（Highlight2HTML），排好的 HTML 按排版用到的一切缓存：原文、语言（单元的
    magics_language 也算）、HtmlFormatter 的选项。测试单元和教师写好的代码单元每名学生都一样，工人预热学生版时
    排好一次（service/forkrun.warm_release），fork 出的 generate_feedback 直接用；学生的代码照常现排。"""

    def __call__(self, source, language=None, metadata=None):
        try:
            magics = metadata.get("magics_language") if metadata else None
            key = (source, language or self.pygments_lexer, json.dumps(magics),
                   json.dumps(self.extra_formatter_options, sort_keys=True))
        except (TypeError, ValueError, AttributeError):
            return super().__call__(source, language, metadata)
        if key in _HIGHLIGHTED:
            return _HIGHLIGHTED[key]
        html = super().__call__(source, language, metadata)
        if isinstance(source, str):
            _HIGHLIGHTED.remember(key, source, html)
        return html


class _MemoryBytecodeCache(BytecodeCache):
    """进程内的 jinja 字节码缓存（jinja 用模板原文的校验和核对，原文变了就重新编译）。"""

    def __init__(self):
        self._store = {}

    def load_bytecode(self, bucket):
        data = self._store.get(bucket.key)
        if data is not None:
            bucket.bytecode_from_string(data)

    def dump_bytecode(self, bucket):
        if len(self._store) < 256:
            self._store[bucket.key] = bucket.bytecode_to_string()


_BYTECODE = _MemoryBytecodeCache()
IMG_ALT = "图片（没有文字说明）"
_IMG_WITHOUT_ALT = re.compile(r"<img(?![^<>]*\salt\s*=)(?=[\s/>])", re.IGNORECASE)


def with_alt(html):
    """没有 alt 的 <img> 补上中文的 alt（读屏软件念它，图片显示不了时显示它）。"""
    return _IMG_WITHOUT_ALT.sub('<img alt="%s"' % IMG_ALT, html)


def without_font_faces(css):
    """CSS（或 include_css 给出的 <style> 元素）去掉 @font-face 规则。"""
    return Markup(re.sub(r"@font-face\s*\{[^{}]*\}", "", str(css)))
