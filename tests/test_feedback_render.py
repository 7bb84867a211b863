"""反馈 HTML 生成得快，而且和 nbconvert 原来的做法一样（course/grading/feedback/template.py）。

评分服务每份提交都生成一次反馈，省下的四样：
- 不再用 BeautifulSoup 把整页解析、再序列化一遍（nbconvert 的 HTMLExporter 最后一步）：页面的文字和元素与
  原来的做法相同，没有 alt 的图片补上中文的 alt（原来补的是英文）；
- Markdown 单元排好的 HTML 按原文等缓存：同样的单元不重排，原文或附件变了就重排；
- 代码单元高亮好的 HTML 同样按原文、语言缓存：和 nbconvert 排的一字不差；
  工人拿课程真正的学生版预热以后，学生反馈里没改过的 Markdown 和代码单元一个也不再排；
- 编译好的模板（jinja 字节码）留在进程里：新的导出器不再编译模板。
"""
import base64

import jinja2
import nbformat
import pygments
import pytest
from bs4 import BeautifulSoup
from nbconvert.filters.highlight import Highlight2HTML
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from conftest import ROOT
from course.grading.feedback import template
from course.grading.service import forkrun

PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")).decode()


def _notebook():
    md = "## 链式法则\n\n$$\\frac{\\partial L}{\\partial x} = \\frac{\\partial L}{\\partial z}\\cdot y$$\n\n" \
         "- 加法节点原样传回\n- 乘法节点**翻转**输入\n\n![一张图](data:image/png;base64,%s)" % PNG
    code = new_code_cell("print(1)", outputs=[
        new_output("stream", name="stdout", text="1\n"),
        new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"}),
        new_output("display_data", data={"text/html": "<table><tr><td>x</td></tr></table>", "text/plain": "t"}),
        new_output("error", ename="AssertionError", evalue="乘法节点没有翻转", traceback=["AssertionError: 乘法节点没有翻转"]),
    ])
    code.metadata["nbgrader"] = {"grade": True, "grade_id": "t1", "points": 2, "score": 0, "solution": False}
    nb = new_notebook(cells=[new_markdown_cell(md), code, new_markdown_cell("第二段：$x^2$")], metadata={
        "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"},
        "language_info": {"name": "python"}})
    for i, cell in enumerate(nb.cells):
        cell.id = "cell-%d" % i
    return nbformat.from_dict(nb)


RESOURCES = {"nbgrader": {"notebook": "graph", "score": 0, "max_score": 2, "late_penalty": 0}}


def test_the_page_is_what_nbconvert_gives_without_the_extra_parse_and_images_get_a_chinese_alt():
    exporter = forkrun._feedback_exporter()
    assert exporter.template_name == template.TEMPLATE_NAME
    ours, _ = exporter.from_notebook_node(_notebook(), resources=dict(RESOURCES))
    stock, _ = super(template.FeedbackHTMLExporter, exporter).from_notebook_node(_notebook(), resources=dict(RESOURCES))
    a, b = BeautifulSoup(ours, "html.parser"), BeautifulSoup(stock, "html.parser")
    assert a.get_text() == b.get_text()
    assert [t.name for t in a.find_all(True)] == [t.name for t in b.find_all(True)]
    assert [sorted(set(t.attrs) - {"alt", "tabindex"}) for t in a.find_all(True)] == \
        [sorted(set(t.attrs) - {"alt", "tabindex"}) for t in b.find_all(True)]
    images = a.find_all("img")
    assert len(images) == 2
    assert [img["alt"] for img in images] == ["一张图", template.IMG_ALT]  # 有 alt 的照旧，没有的补上中文
    assert "No description has been provided" in stock and "No description" not in ours  # 对照：原来是英文
    assert "<math" in ours and "乘法节点没有翻转" in ours


def test_with_alt_only_adds_a_missing_alt():
    assert template.with_alt('<img src="a.png">') == '<img alt="%s" src="a.png">' % template.IMG_ALT
    assert template.with_alt('<img alt="图" src="a.png">') == '<img alt="图" src="a.png">'
    assert template.with_alt('<img\nsrc="a"/>').startswith('<img alt=')
    assert template.with_alt("<imgx> <image>") == "<imgx> <image>"


def test_a_markdown_cell_is_rendered_once_and_again_when_it_changes(monkeypatch):
    from nbconvert.filters.markdown_mistune import MarkdownWithMath

    template._RENDERED.clear()
    calls = []
    original = MarkdownWithMath.render
    monkeypatch.setattr(MarkdownWithMath, "render", lambda self, s: calls.append(s) or original(self, s))
    first, _ = forkrun._feedback_exporter().from_notebook_node(_notebook(), resources=dict(RESOURCES))
    assert len(calls) == 2
    again, _ = forkrun._feedback_exporter().from_notebook_node(_notebook(), resources=dict(RESOURCES))
    assert again == first and len(calls) == 2  # 一个新的导出器（fork 出的 generate_feedback 就是这样）：直接用缓存
    changed = _notebook()
    changed.cells[2].source = "第二段：$y^2$"
    changed.cells[0].attachments = {"a.png": {"image/png": PNG}}
    page, _ = forkrun._feedback_exporter().from_notebook_node(changed, resources=dict(RESOURCES))
    assert len(calls) == 4 and "y" in BeautifulSoup(page, "html.parser").get_text()  # 原文、附件变了：重排


def test_warm_release_fills_the_cache_before_any_student_feedback(tmp_path, monkeypatch):
    template._RENDERED.clear()
    path = tmp_path / "release.ipynb"
    nbformat.write(_notebook(), str(path))
    monkeypatch.setattr(forkrun, "_warm_releases", set())
    forkrun.warm_release([str(path)])
    assert len(template._RENDERED) == 2


def test_a_new_exporter_does_not_compile_the_templates_again(monkeypatch):
    forkrun._feedback_exporter().from_notebook_node(_notebook(), resources=dict(RESOURCES))
    compiled = []
    original = jinja2.Environment.compile
    monkeypatch.setattr(jinja2.Environment, "compile", lambda self, *a, **k: compiled.append(a) or original(self, *a, **k))
    forkrun._feedback_exporter().from_notebook_node(_notebook(), resources=dict(RESOURCES))
    assert compiled == []
    # 对照：没有字节码缓存的导出器每次都编译
    monkeypatch.setattr(template.FeedbackHTMLExporter, "_create_environment",
                        lambda self: super(template.FeedbackHTMLExporter, self)._create_environment())
    forkrun._feedback_exporter().from_notebook_node(_notebook(), resources=dict(RESOURCES))
    assert len(compiled) >= 3


@pytest.mark.parametrize("name", ["classic", "lab"])
def test_other_templates_are_left_to_nbconvert(name):
    from course.grading.exporters import FeedbackExporter

    exporter = FeedbackExporter(template_name=name)
    page, _ = exporter.from_notebook_node(_notebook(), resources={})
    assert "No description has been provided" in page  # nbconvert 自己的做法，原样


def _release_notebooks():
    return sorted(str(p) for p in (ROOT / "release").glob("*/*.ipynb"))


@pytest.mark.parametrize("as_graded", ["course", "control"])
def test_warm_release_on_the_courses_own_release_leaves_no_markdown_cell_to_render(as_graded, monkeypatch):
    """课程真正发下去的学生版：评分单元还没有 score，预热要先补上，否则模板在得分列表处就出错，一个单元也没排。"""
    from nbconvert.filters.markdown_mistune import MarkdownWithMath

    paths = _release_notebooks()
    assert len(paths) >= 5
    graded = forkrun.as_graded
    template._RENDERED.clear()
    template._HIGHLIGHTED.clear()
    monkeypatch.setattr(forkrun, "_warm_releases", set())
    if as_graded == "control":  # 对照：不补分数（修好以前的做法）
        monkeypatch.setattr(forkrun, "as_graded", lambda nb: nb)
    forkrun.warm_release(paths)
    calls, highlighted = [], []
    original = MarkdownWithMath.render
    monkeypatch.setattr(MarkdownWithMath, "render", lambda self, s: calls.append(s) or original(self, s))
    highlight = pygments.highlight
    monkeypatch.setattr(pygments, "highlight", lambda code, *a: highlighted.append(code) or highlight(code, *a))
    markdown = code = 0
    for path in paths:  # 学生的反馈：同样的 Markdown 单元和代码单元，评分单元有了分数
        nb = graded(nbformat.read(path, as_version=4))
        markdown += sum(1 for c in nb.cells if c.cell_type == "markdown")
        code += sum(1 for c in nb.cells if c.cell_type == "code")
        forkrun._feedback_exporter().from_notebook_node(nb, resources=dict(RESOURCES))
    assert markdown > 50 and code > 50
    if as_graded == "course":
        assert calls == [] and highlighted == []
    else:
        assert len(calls) > markdown // 2 and len(highlighted) > code // 2


def test_code_is_highlighted_once_exactly_as_nbconvert_does_and_again_when_it_changes(monkeypatch):
    template._HIGHLIGHTED.clear()
    highlighted = []
    highlight = pygments.highlight
    monkeypatch.setattr(pygments, "highlight", lambda code, *a: highlighted.append(code) or highlight(code, *a))
    cached, stock = template.CachedHighlight2HTML(pygments_lexer="ipython3"), Highlight2HTML(pygments_lexer="ipython3")
    source = "def forward(self, x, y):\n    return x * y  # 乘法节点\n%timeit f()"
    assert cached(source) == stock(source)
    assert cached(source) == stock(source)
    assert len(highlighted) == 3  # 课程的两次只排了一次（另两次是 nbconvert 原来的做法，每次都排）
    assert cached(source + "\n") == stock(source + "\n") and len(highlighted) == 5  # 原文变了：重排
    meta = {"magics_language": "bash"}
    assert cached(source, metadata=meta) == stock(source, metadata=meta) != stock(source)  # 换了语言：重排
    assert cached("x = 1", language="python") == stock("x = 1", language="python")
    assert len(highlighted) == 10


@pytest.mark.parametrize("bound", ["chars", "control"])
def test_big_student_cells_cannot_grow_the_cache_past_its_character_limit(bound, monkeypatch):
    """教师一次为全班生成反馈时学生写的单元也进缓存：有人交上来很多很大的代码单元，缓存占的字符数仍有上限。
    对照：只按条数限制（以前的做法），同样的提交让缓存涨到上限的好几倍。"""
    limit = 2_000_000
    memo = template._Memo(max_items=4096, max_chars=limit if bound == "chars" else float("inf"))
    monkeypatch.setattr(template, "_HIGHLIGHTED", memo)
    highlighter = template.CachedHighlight2HTML(pygments_lexer="ipython3")
    for i in range(40):  # 40 个各 10 万字符的单元
        highlighter("x_%d = 1  # %s\n" % (i, "甲" * 100_000))
    total = sum(len(k[0]) + len(v) for k, v in memo.items())
    assert total == memo.chars
    if bound == "chars":
        assert memo.chars <= limit and len(memo) >= 1
        assert highlighter("y = 2") == Highlight2HTML(pygments_lexer="ipython3")("y = 2")  # 照样能用
    else:
        assert memo.chars > 3 * limit
