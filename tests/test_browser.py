"""第四层测试：在真正的浏览器里，像学生一样用 JupyterLab 打开第 01 课的学生版。

在临时文件夹里（复制 release/ 和 nbgrader_config.py）启动 JupyterLab，用无头 Chromium（Playwright 驱动，
用系统的 Chromium，不下载浏览器）依次做：
  1. 打开 notebook，Run All：第一张计算图（SVG）带着算出来的数字出现，练习的检查单元说“还没有实现”；
  2. 把四个练习都写上正确答案，保存，再 Run All：全部单元无错，计算图上是 715；
  3. 购物图的交互版：拖动“苹果个数”滑块，图上的正向值和反向值跟着变；
  4. 按 nbgrader 的 Validate 按钮：成功；
  5. 把 buy_apple 改成忘了乘消费税，再 Validate：对话框里是检查函数的中文提示。
截图保存在仓库根目录的 test-artifacts/browser/（已被 git 忽略），失败时还有 JupyterLab 的日志。
没有 Chromium 时跳过（apt-get install chromium chromium-driver）。
"""
import shutil
import time

import pytest

import browser_helpers as bh
from conftest import ROOT

from course.checks.chain_rule import NO_TAX

NB_PATH = "release/01-graph-chain-rule/graph_chain_rule.ipynb"
ARTIFACTS = ROOT / "test-artifacts" / "browser"

# ---- 学生写的答案（正确的） -------------------------------------------------
FORWARD_OK = '''def buy_apple(apple, apple_num, tax):
    return apple * apple_num * tax


def buy_apple_orange(apple, apple_num, orange, orange_num, tax):
    apple_price = apple * apple_num
    orange_price = orange * orange_num
    all_price = apple_price + orange_price
    return {"apple_price": apple_price, "orange_price": orange_price,
            "all_price": all_price, "price": all_price * tax}
'''

# 常见错误：buy_apple 忘了乘消费税（buy_apple_orange 仍然正确）
FORWARD_NO_TAX = FORWARD_OK.replace("return apple * apple_num * tax", "return apple * apple_num")

BACKWARD_OK = '''def apple_orange_backward(apple, apple_num, orange, orange_num, tax, dout=1.0):
    all_price = apple * apple_num + orange * orange_num
    dall_price = dout * tax
    return {"all_price": dall_price, "tax": dout * all_price,
            "apple_price": dall_price, "orange_price": dall_price,
            "apple": dall_price * apple_num, "apple_num": dall_price * apple,
            "orange": dall_price * orange_num, "orange_num": dall_price * orange}
'''

NUMERICAL_DIFF_OK = '''def numerical_diff(f, x, h=1e-4):
    return (f(x + h) - f(x - h)) / (2 * h)
'''

CHAIN_RULE_OK = '''def dz_dx(x, y):
    return 2 * (x + y)


def dw_dx(x, y):
    return 9 * (3 * x + y ** 2) ** 2


def dw_dy(x, y):
    return 6 * y * (3 * x + y ** 2) ** 2
'''

# 学生版里每个练习单元的特征文字 -> 正确答案
ANSWERS = [("def buy_apple(", FORWARD_OK), ("def apple_orange_backward(", BACKWARD_OK),
           ("def numerical_diff(", NUMERICAL_DIFF_OK), ("def dz_dx(", CHAIN_RULE_OK)]


@pytest.fixture(scope="module")
def chromium():
    path = bh.find_chromium()
    if path is None:
        pytest.skip(bh.INSTALL_HINT)
    return path


@pytest.fixture(scope="module")
def artifacts():
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture
def lab(tmp_path, artifacts):
    root = bh.make_course_copy(ROOT, tmp_path / "course")
    with bh.JupyterLab(root, tmp_path / "jupyter-state", artifacts / "jupyterlab.log") as server:
        yield server


@pytest.fixture
def page(lab, chromium, tmp_path, artifacts, request):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("没有安装 playwright（Python 包）：pip install -r requirements.txt。"
                    "不要运行 `playwright install`，测试用的是系统的 Chromium。")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=chromium, headless=True,
            args=bh.CHROMIUM_FLAGS, viewport={"width": 1400, "height": 1000}, locale="zh-CN")
        try:
            pg = context.pages[0] if context.pages else context.new_page()
            pg.set_default_timeout(bh.UI_TIMEOUT_MS)
            failed_before = request.session.testsfailed
            yield pg
            if request.session.testsfailed > failed_before:  # 测试失败了：留下当时的画面
                pg.screenshot(path=str(artifacts / "failure.png"))
        finally:
            context.close()


def shot(locator_or_page, name):
    locator_or_page.screenshot(path=str(ARTIFACTS / name))


def test_student_session_in_jupyterlab(chromium, lab, page):
    t0 = time.monotonic()
    timings = {}

    # 1. 打开学生版，原样 Run All ---------------------------------------------------
    page.goto(lab.lab_url(NB_PATH))
    page.locator(bh.NOTEBOOK).first.wait_for()
    bh.wait_kernel_idle(page)
    timings["打开"] = time.monotonic() - t0
    bh.run_all(page)

    graph1 = bh.cell_by_text(page, 'g1 = Graph(title="问题1')
    svgs = bh.output_svgs(graph1)
    assert len(svgs) == 1, "问题1的单元应输出一张 SVG 计算图，找到 %d 张" % len(svgs)
    texts = bh.svg_texts(svgs[0])
    assert "问题1：买苹果" in texts and "220" in texts and "200" in texts, \
        "问题1的计算图上应写着算出来的 200 和 220：%s" % texts
    assert "220.00000000000003" in graph1.locator(".jp-OutputArea").text_content()
    graph1.scroll_into_view_if_needed()
    shot(graph1, "01-graph-problem-1.png")

    stub_test = bh.cell_by_text(page, "check_buy_apple(buy_apple)")
    stub_output = stub_test.locator(".jp-OutputArea").text_content()
    assert "还没有实现" in stub_output and "NotImplementedError" in stub_output, \
        "原样的学生版运行检查单元时，应当用中文说“还没有实现”：%r" % stub_output[:500]
    stub_test.scroll_into_view_if_needed()
    shot(stub_test, "02-not-implemented-yet.png")

    # 2. 写上四个练习的正确答案，保存，再 Run All -----------------------------------
    for marker, answer in ANSWERS:
        bh.replace_cell_source(page, bh.cell_by_text(page, marker), answer)
    bh.save(page)
    saved = bh.saved_notebook_source(lab, NB_PATH)
    assert all(answer in saved for _, answer in ANSWERS), "保存后的 notebook 里应当是写上的答案"
    bh.run_all(page)
    timings["写答案、运行全部"] = time.monotonic() - t0

    errors = page.locator("%s .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']" % bh.NOTEBOOK)
    assert errors.count() == 0, "答案正确时不应有任何单元报错或写 stderr：\n%s" % "\n---\n".join(
        errors.all_text_contents())[:3000]
    unrun = page.evaluate("""() => [...document.querySelectorAll(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt')]
        .filter(p => !/\\[\\d+\\]/.test(p.textContent)).length""")
    assert unrun == 0, "Run All 之后还有 %d 个代码单元没有运行" % unrun
    passed = bh.cell_by_text(page, "check_buy_apple(buy_apple)").locator(".jp-OutputArea").text_content()
    assert "✔" in passed and "buy_apple 的正向传播正确" in passed, passed

    graph2 = bh.cell_by_text(page, 'g2 = Graph(title="问题2')
    texts = bh.svg_texts(bh.output_svgs(graph2)[0])
    for number in ("200", "450", "650", "715"):
        assert number in texts, "问题2的计算图上应有 %s：%s" % (number, texts)
    mine = bh.cell_by_text(page, "backward_graph(apple_orange_backward)")
    texts = bh.svg_texts(bh.output_svgs(mine)[0])
    assert "你的反向值：全部正确" in texts, texts
    assert {"← 2.2", "← 110", "← 3.3", "← 165", "← 650"} <= set(texts), texts
    mine.scroll_into_view_if_needed()
    shot(mine, "03-your-backward-values.png")

    # 3. 交互图：拖动“苹果个数”滑块 -------------------------------------------------
    explorer = bh.cell_by_text(page, "shopping_explorer()")
    widget = explorer.locator(".jp-OutputArea-output .widget-vbox").first
    widget.wait_for(state="visible")
    sliders = widget.locator(".widget-slider")
    assert sliders.count() == 5, "购物图应有 5 个滑块，找到 %d 个" % sliders.count()
    before = bh.inline_svg_texts(widget)
    backward = {t for cls, t in before if cls == "backward"}
    forward = {t for cls, t in before if cls == "forward"}
    assert {"← 2.2", "← 110", "← 3.3", "← 165", "← 1.1", "← 650"} <= backward, before
    assert {"100", "2", "200", "450", "650"} <= forward, before
    caption = " ".join(t for _, t in before)
    assert "= 715" in caption, caption
    explorer.scroll_into_view_if_needed()
    shot(explorer, "04-explorer-before.png")

    apple_num = sliders.filter(has_text="苹果个数")
    bh.drag_slider_to_end(page, apple_num)
    page.wait_for_function(
        "(el) => [...el.querySelectorAll('svg text.backward')].some(t => t.textContent.trim() === '← 11')",
        arg=widget.element_handle(), timeout=bh.UI_TIMEOUT_MS)
    assert apple_num.locator(".widget-readout").text_content().strip() == "10"
    after = bh.inline_svg_texts(widget)
    backward = {t for cls, t in after if cls == "backward"}
    forward = {t for cls, t in after if cls == "forward"}
    # 苹果个数 10：苹果 1000 元，合计 1450，支付 1595；对苹果单价的导数变成 10 × 1.1 = 11，
    # 对苹果个数的导数仍是 100 × 1.1 = 110，对消费税的导数是税前合计 1450
    assert {"10", "1000", "1450"} <= forward, after
    assert {"← 11", "← 110", "← 1450", "← 1.1"} <= backward and "← 2.2" not in backward, after
    assert "= 1595" in " ".join(t for _, t in after), after
    shot(explorer, "05-explorer-after-slider.png")
    timings["滑块"] = time.monotonic() - t0

    # 4. nbgrader 的 Validate：全部通过 ---------------------------------------------
    dialog = bh.validate(page)
    message = dialog.locator("#validation-message")
    assert "validation-success" in (message.get_attribute("class") or ""), message.text_content()[:3000]
    assert "Success! Your notebook passes all the tests." in message.text_content()
    shot(page, "06-validate-success.png")
    bh.close_dialog(page, dialog)
    timings["Validate（正确）"] = time.monotonic() - t0

    # 5. 典型错误：忘了乘消费税，再 Validate ------------------------------------------
    bh.replace_cell_source(page, bh.cell_by_text(page, "def buy_apple("), FORWARD_NO_TAX)
    bh.save(page)
    assert FORWARD_NO_TAX in bh.saved_notebook_source(lab, NB_PATH)
    dialog = bh.validate(page)
    message = dialog.locator("#validation-message")
    text = message.text_content()
    assert "validation-failed" in (message.get_attribute("class") or ""), text[:3000]
    assert NO_TAX in text, "Validate 的对话框里应有中文提示 %r：\n%s" % (NO_TAX, text[:3000])
    assert "check_buy_apple(buy_apple)" in text, "没通过的应当是 buy_apple 的检查单元"
    assert "check_buy_apple_orange(" not in text, "buy_apple_orange 是对的，它的检查单元不应失败"
    assert "BEGIN HIDDEN TESTS" not in text, "对话框里不应出现隐藏测试"
    bh.scroll_dialog_to_end(dialog)  # 中文提示在 traceback 的最后
    shot(page, "07-validate-failure-no-tax.png")
    bh.close_dialog(page, dialog)
    timings["Validate（错误）"] = time.monotonic() - t0

    print("浏览器测试各步骤完成时刻（秒）：" + "，".join("%s %.0f" % kv for kv in timings.items()))
