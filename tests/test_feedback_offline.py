"""反馈 HTML 不联网也能看：公式已经排好（MathML），框架的文字是中文，内容安全策略还在。

建一门小课（course/grading/batch/selftest.py 的作业，外加一个写着公式的 Markdown 单元），alice 交上参考答案，
还加了一个自己写公式的 Markdown 单元（其中两个公式夹带 HTML 和 javascript: 链接）和一个 display(Math(...)) 的输出；bob 交上没动过的学生版
（nbgrader 给每个答案单元记 “No response.”）。autograde、generate_feedback 之后，在无头 Chromium 里打开
两份反馈，拦下所有请求：除了 file:// 一个也不许发出。截图存到 test-artifacts/feedback/。
"""
import copy
import re
import shutil
from pathlib import Path

import pytest
from nbformat.v4 import new_markdown_cell

from course.grading.batch import selftest as st

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test-artifacts" / "feedback"
CHROMIUM = "/usr/bin/chromium"

INSTRUCTOR_MATH = (
    "## 链式法则\n\n"
    "对 $y = x^2$ 有 $\\dfrac{\\partial y}{\\partial x} = 2x$，数值梯度取 $h = 10^{-4}$：\n\n"
    "$$\\frac{\\partial L}{\\partial x} \\approx \\frac{L(x+h) - L(x-h)}{2h}$$\n\n"
    "$$\n\\sigma(x) = \\begin{cases} x & x > 0 \\\\ 0 & x \\le 0 \\end{cases}\n$$\n"
)
STUDENT_MATH = "我的推导：$$\\frac{\\partial}{\\partial x}\\sum_i x_i^2 = 2x$$ 所以梯度是 $2x$。"
# 公式里夹带的 HTML 和链接：latex2mathml 原样照抄，feedback_math 清理后只剩文字
STUDENT_MATH_ATTACK = ("$\\text{<img src=x onerror=\"window.PWNED=1\">}$ 和 "
                       "$\\href{javascript:window.PWNED=2}{x}$")
STUDENT_OUTPUT = ("from IPython.display import Math, display\n"
                  "display(Math(r'\\frac{\\partial (xy)}{\\partial x} = y'))\n")
ENGLISH_LABELS = ("Student's answer", "Student's task", "Comments", "No response", "Score", "Test cell",
                  "Grade cell", "Coding free-response", "Written response", "(Top)", "Late submission")


def _source_with_math():
    nb = _stock_source()
    nb.cells.insert(1, new_markdown_cell(INSTRUCTOR_MATH, id="math"))
    return nb


_stock_source = st.source_notebook


@pytest.fixture(scope="module")
def feedback(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("feedback") / "course")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(st, "source_notebook", _source_with_math)
        st.build_course(root, str(ROOT / "nbgrader_config.py"), "c.Execute.timeout = 60\n")
    release = st.release_notebook(root)
    alice = st.answer(copy.deepcopy(release), prefix={"mul_forward": STUDENT_OUTPUT})
    alice.cells.insert(3, new_markdown_cell(STUDENT_MATH + "\n\n" + STUDENT_MATH_ATTACK))
    st.submit(root, "alice", alice)
    st.submit(root, "bob", copy.deepcopy(release))
    for step in ("autograde", "generate_feedback"):
        res = st.run_nbgrader(root, step, st.ASSIGNMENT)
        assert res.returncode == 0, (res.stdout + res.stderr)[-6000:]
    return {s: Path(root, "feedback", s, st.ASSIGNMENT, st.NOTEBOOK + ".html") for s in ("alice", "bob")}


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.skip("没有 /usr/bin/chromium，跳过浏览器测试")
    sync_api = pytest.importorskip("playwright.sync_api", reason="没有安装 playwright 的 Python 包")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--disable-background-networking"])
        yield b
        b.close()


def _open_offline(browser, path):
    """在一个拦下一切网络请求的页面里打开 path；返回 (page, 想发出去的请求, 控制台消息)。"""
    context = browser.new_context(viewport={"width": 1100, "height": 900}, offline=True)
    outside, console = [], []

    def route(r):
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: console.append("%s: %s" % (m.type, m.text)))
    page.on("requestfailed", lambda r: None if r.url.startswith("file://") else outside.append(r.url))
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_timeout(1500)  # 给任何还想加载、排版的脚本一点时间（不联网时它们也不该有事可做）
    return page, outside, console


@pytest.mark.parametrize("student", ["alice", "bob"])
def test_feedback_works_offline_with_rendered_math_and_chinese_frame(feedback, browser, student):
    html = feedback[student].read_text(encoding="utf-8")
    page, outside, console = _open_offline(browser, feedback[student])
    try:
        OUT.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(OUT / ("%s.png" % student)), full_page=True)
        text = page.evaluate("document.body.innerText")
        # 代码单元里的源码（alice 的 display(Math(r'\\frac…'))）不算：那是代码，本来就该原样显示
        prose = page.evaluate("""() => [...document.querySelectorAll('.text_cell_render, .output_area, .panel-footer')]
            .map(e => e.innerText).join('\\n')""")

        assert not outside, "反馈 HTML 想从网上加载：%s" % sorted(set(outside))
        # 公式：没有留下 TeX 源码，页面里是排好的 MathML，而且真的占了位置
        assert "链式法则" in prose and ("我的推导" in prose) == (student == "alice"), prose[:2000]
        for raw in ("$", "\\frac", "\\partial", "\\dfrac", "\\begin", "\\sigma"):
            assert raw not in prose, "页面上还能看到公式的源码 %r：\n%s" % (raw, prose[:3000])
        boxes = page.evaluate("""() => [...document.querySelectorAll('math')].map(m => {
            const r = m.getBoundingClientRect(); return [m.getAttribute('display') || 'inline', r.width, r.height];
        })""")
        expected = 5 if student == "bob" else 10  # 课程的 5 个公式；alice 还有自己写的 4 个和输出里的 1 个
        assert len(boxes) >= expected, boxes
        assert all(w > 5 and h > 5 for _, w, h in boxes), boxes
        fractions = page.evaluate("""() => [...document.querySelectorAll('math[display=block] mfrac')]
            .map(f => f.getBoundingClientRect().height)""")
        assert fractions and min(fractions) > 25, "分式没有排成上下两层：%s" % fractions
        if student == "alice":
            assert "\\frac" not in page.inner_text(".output_area"), "display(Math(...)) 的输出没有排版"
        # 公式里夹带的 HTML、javascript: 链接只是文字
        body = html.split("</head>", 1)[1]
        assert not re.search(r"<[^>]*\\bonerror\\s*=|<[^>]*href\\s*=\\s*[\"']?javascript:", body, re.I)
        assert page.evaluate("typeof window.PWNED") == "undefined"
        # 框架是中文
        for label in ENGLISH_LABELS:
            assert label not in text, "反馈里还有英文标签 %r" % label
        for label in ("学生的答案", "得分", "测试单元"):
            assert label in text, "反馈里没有 %r：\n%s" % (label, text[:2000])
        if student == "bob":
            assert "没有作答" in text
        # 内容安全策略还在，浏览器没有因为它拦下模板自己的东西
        csp = page.evaluate("""() => (document.querySelector('meta[http-equiv="Content-Security-Policy"]') || {})
            .content || ''""")
        assert "default-src 'none'" in csp and "Content-Security-Policy" in html
        blocked = [m for m in console if "Content Security Policy" in m]
        assert not blocked, blocked
    finally:
        page.context.close()


def test_over_limit_page_reads_well_offline(browser, tmp_path):
    """交上来就评分时超过次数的那一页（course/grading/service/policy.py）：中文、不联网、不超出窗口宽度，
    说清楚这次没评分、计分的是哪一次、什么时候能再交；作业名里的 HTML 只是文字。"""
    from course.grading.service.policy import GradeService, over_limit_html

    page_html = over_limit_html("02-<b>simple</b>-layers", "simple_layers", GradeService(max_attempts=3, window_hours=24),
                                3, 1_796_000_000, next_time=1_796_050_000)
    path = tmp_path / "over-limit.html"
    path.write_text(page_html, encoding="utf-8")
    page, outside, console = _open_offline(browser, path)
    try:
        OUT.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(OUT / "over-limit.png"), full_page=True)
        text = page.evaluate("document.body.innerText")
        assert not outside and not [m for m in console if "Content Security Policy" in m]
        for words in ("这一次没有评分：这份作业在 24 小时里最多评 3 次", "最多评 3 次", "计分的仍是你上一次评好的提交", "以后再交的作业会照常评分", "02-<b>simple</b>-layers"):
            assert words in text, (words, text)
        assert page.evaluate("document.querySelectorAll('b b, p b').length") == 1  # 只有“这一次没有评分”是粗体
        # 版面：说明框在视口里，没有横向滚动条，标题和正文真的排出来了（中文字体在）
        box = page.evaluate("(() => { const r = document.querySelector('.box').getBoundingClientRect();"
                            " return [r.left, r.right, r.height]; })()")
        assert 0 <= box[0] < box[1] <= 1100 and box[2] > 150, box
        assert page.evaluate("document.documentElement.scrollWidth") <= 1100
        assert page.evaluate("document.querySelector('h1').getBoundingClientRect().width") > 200
    finally:
        page.context.close()
