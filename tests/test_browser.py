"""第四层测试：在真正的浏览器里，像学生一样用 JupyterLab 打开第 01 课的学生版。

在临时文件夹里（复制 release/ 和 nbgrader_config.py）启动 JupyterLab，用无头 Chromium（Playwright 驱动，
用系统的 Chromium，不下载浏览器）依次做：
  1. 打开 notebook，Run All：第一张计算图（SVG）带着算出来的数字出现，练习的检查单元说“还没有实现”；
  2. 把四个练习都写上正确答案，保存，再 Run All：全部单元无错，计算图上是 715；
  3. 购物图的交互版：拖动“苹果个数”滑块，图上的正向值和反向值跟着变；
  4. 按 nbgrader 的 Validate 按钮：成功；
  5. 把 buy_apple 改成忘了乘消费税，再 Validate：对话框里是检查函数的中文提示；
  对话框的标题和引导语显示中文（英文宽度为 0），没通过的检查只列出标题，不列整段代码。
另外几项：
  - JupyterLab 4 的 Run All 遇到出错的单元就停下，带 raises-exception 标签的单元除外（用两本三个单元的小 notebook 确认）；
  - 本机的学生界面：默认没有 nbgrader 的教师工具（菜单、Formgrader、Create Assignment、Course List），Validate 还在；
    COURSE_UI=instructor 时教师工具都回来（配置在 jupyter-config/，见 course/tools/jupyter_ui.py）；
  - 每一课的学生版原样 Run All：所有代码单元都运行了，只有练习和它的检查单元出错，检查单元只显示中文说明；
    每课截三张图（开头、第一个没通过的检查、结尾）；
  - 用 bubblewrap 把服务器和内核看到的系统字体藏起来（浏览器照常有字体），第 01 课 Run All：
    缺中文字体的说明只出现一次，没有“缺字形”的警告。
截图保存在仓库根目录的 test-artifacts/browser/（已被 git 忽略），失败时还有 JupyterLab 的日志。
学生版默认取提交的 release/；设 COURSE_BROWSER_FROM_SOURCE=1 时在临时文件夹里从 source/ 现生成。
没有 Chromium 时跳过（apt-get install chromium chromium-driver）。
"""
import os
import re
import subprocess
import shutil
import time

import nbformat
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
           ("def numerical_diff(", NUMERICAL_DIFF_OK), ("def dz_dx(", CHAIN_RULE_OK),
           # 三道概念题：各写一个小函数 q1、q2、q3
           ("def q1(n):", "def q1(n):\n    return 1, 2 * n\n"),
           ("def q2(apple, apple_num,", "def q2(apple, apple_num, orange, orange_num, tax):\n    return apple_num * tax\n"),
           ("def q3(h):", 'def q3(h):\n    return "舍入" if h < 1e-5 else "截断"\n')]


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
def lab(tmp_path, artifacts, request):
    # 间接参数化（indirect=True）可以给服务器加环境变量或命令前缀：(env, wrapper)
    env, wrapper = getattr(request, "param", ({}, ()))
    root = bh.make_course_copy(ROOT, tmp_path / "course")
    log = artifacts / ("jupyterlab-%s.log" % re.sub(r"[^\w.-]+", "_", request.node.name))
    with bh.JupyterLab(root, tmp_path / "jupyter-state", log, env=env, wrapper=wrapper) as server:
        yield server


@pytest.fixture
def page(lab, chromium, tmp_path, artifacts, request):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("没有安装 playwright（Python 包）：pip install -r requirements-dev.txt。"
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
                pg.screenshot(path=str(artifacts / ("failure-%s.png" % re.sub(r"[^\w.-]+", "_", request.node.name))))
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
    # 看得见的是中文：标题和引导语由课程的 custom.css 换掉，英文缩成 0 宽（course/tools/validate_ui.py）
    shown = bh.validate_dialog_text(dialog)
    assert shown["title"] == "检查结果" and shown["title_english_width"] == 0, shown
    assert len(shown["labels"]) == 1 and shown["labels"][0].startswith("全部通过"), shown
    assert shown["label_english_widths"] == [0], shown
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
    # 没通过的检查只列出它的标题（检查单元开头说明的第一行），不列整段代码
    assert "检查 buy_apple：" in text, "没通过的应当是 buy_apple 的检查单元：\n" + text[:3000]
    assert "检查 buy_apple_orange" not in text, "buy_apple_orange 是对的，它的检查单元不应失败"
    assert "import" not in text and "check_buy_apple(buy_apple)" not in text, "不应列出检查单元的整段代码：\n" + text
    shown = bh.validate_dialog_text(dialog)
    assert shown["title"] == "检查结果" and shown["title_english_width"] == 0, shown
    assert shown["labels"] == ["这个检查没有通过："] and shown["label_english_widths"] == [0], shown
    assert "BEGIN HIDDEN TESTS" not in text, "对话框里不应出现隐藏测试"
    bh.scroll_dialog_to_end(dialog)  # 中文提示在 traceback 的最后
    shot(page, "07-validate-failure-no-tax.png")
    bh.close_dialog(page, dialog)
    timings["Validate（错误）"] = time.monotonic() - t0

    print("浏览器测试各步骤完成时刻（秒）：" + "，".join("%s %.0f" % kv for kv in timings.items()))



# ---- JupyterLab 4 的 Run All 与 raises-exception 标签 ---------------------------------------
def write_small_notebook(root, name, tag_failing):
    nb = nbformat.v4.new_notebook()
    failing = nbformat.v4.new_code_cell('raise ValueError("故意出错的单元")')
    if tag_failing:
        failing.metadata["tags"] = ["raises-exception"]
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), failing, nbformat.v4.new_code_cell('print("后面的单元运行了", x)')]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(root / name))
    return name


PROMPTS_JS = """() => [...document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt')].map(p => p.textContent.trim())"""


def test_run_all_stops_at_an_error_unless_the_cell_is_tagged_raises_exception(chromium, lab, page):
    for name, tagged in [("untagged.ipynb", False), ("tagged.ipynb", True)]:
        write_small_notebook(lab.root, name, tagged)
        page.goto(lab.lab_url(name))
        page.locator(bh.NOTEBOOK).first.wait_for()
        bh.wait_kernel_idle(page)
        bh.run_all(page)
        prompts = page.evaluate(PROMPTS_JS)
        last = bh.cell_by_text(page, "后面的单元运行了").locator(".jp-OutputArea").text_content()
        error = bh.cell_by_text(page, "故意出错的单元").locator(".jp-OutputArea").text_content()
        assert "ValueError" in error, error
        if tagged:
            assert all(re.fullmatch(r"\[\d+\]:", p) for p in prompts), prompts
            assert "后面的单元运行了 1" in last, "带 raises-exception 标签时 Run All 应当越过出错的单元：%r" % last
            shot(page, "runall-tagged-continues.png")
        else:
            assert re.fullmatch(r"\[\d+\]:", prompts[1]) and not re.fullmatch(r"\[\d+\]:", prompts[2]), prompts
            assert last.strip() == "", "不带标签时 Run All 应当停在出错的单元：%r" % last
            shot(page, "runall-untagged-stops.png")


# ---- 本机的学生界面与教师界面 ----------------------------------------------------------------
UI_STATE_JS = """() => {
    const app = window.jupyterapp;
    const menus = [...document.querySelectorAll('.lm-MenuBar-item')].map(m => m.textContent.trim());
    return {
        menus,
        plugins: ['formgrader', 'create-assignment', 'course-list', 'assignment-list', 'menu', 'validate-assignment']
            .filter(p => app.hasPlugin('@jupyter/nbgrader:' + p)),
        commands: ['nbgrader:open-formgrader', 'nbgrader:open-course-list', 'nbgrader:open-create-assignment',
                   'nbgrader:open-assignment-list'].filter(c => app.commands.hasCommand(c)),
    };
}"""


def http_status(lab, path):
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen("%s%s?token=%s" % (lab.url, path, lab.token), timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def open_lesson_01(lab, page):
    page.goto(lab.lab_url(NB_PATH))
    page.locator(bh.NOTEBOOK).first.wait_for()
    bh.wait_kernel_idle(page)
    page.locator(".validate-button").first.wait_for(state="visible")


def test_local_jupyterlab_is_the_student_ui_by_default(chromium, lab, page):
    open_lesson_01(lab, page)
    state = page.evaluate(UI_STATE_JS)
    assert "Nbgrader" not in state["menus"], state
    assert state["plugins"] == ["validate-assignment"], state
    assert state["commands"] == [], state
    assert page.locator(".jp-SideBar .lm-TabBar-tab", has_text="Create Assignment").count() == 0
    assert [http_status(lab, p) for p in ("/formgrader", "/formgraders", "/assignments")] == [404, 404, 404]
    shot(page, "ui-student.png")


@pytest.mark.parametrize("lab", [({"COURSE_UI": "instructor"}, ())], indirect=True, ids=["COURSE_UI=instructor"])
def test_course_ui_instructor_brings_the_tools_back(chromium, lab, page):
    open_lesson_01(lab, page)
    state = page.evaluate(UI_STATE_JS)
    assert "Nbgrader" in state["menus"], state
    assert {"formgrader", "create-assignment", "course-list", "menu", "validate-assignment"} <= set(state["plugins"])
    assert "nbgrader:open-formgrader" in state["commands"], state
    page.locator(".lm-MenuBar-item", has_text="Nbgrader").click()
    menu = page.locator(".lm-Menu:visible")
    menu.first.wait_for()
    assert "Formgrader" in menu.first.text_content()
    shot(page, "ui-instructor-nbgrader-menu.png")
    page.keyboard.press("Escape")
    assert http_status(lab, "/formgrader") == 200


# ---- 每一课：原样 Run All，往下读 ------------------------------------------------------------
LESSONS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "release").glob("*/*.ipynb"))

CELLS_JS = """() => {
    const nb = window.jupyterapp.shell.currentWidget.content;
    return nb.widgets.map((cell, i) => {
        const m = cell.model;
        const outputs = m.type === 'code' ? m.outputs.toJSON() : [];
        return {
            i, type: m.type, count: m.type === 'code' ? m.executionCount : null,
            tags: m.getMetadata('tags') || [], nbgrader: m.getMetadata('nbgrader') || {},
            first: m.sharedModel.getSource().split('\\n')[0].slice(0, 60),
            errors: outputs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
            stderr: outputs.filter(o => o.output_type === 'stream' && o.name === 'stderr')
                           .map(o => Array.isArray(o.text) ? o.text.join('') : o.text),
            text: cell.node.querySelector('.jp-OutputArea') ? cell.node.querySelector('.jp-OutputArea').textContent : '',
        };
    });
}"""


READ_ONLY_JS = "() => window.jupyterapp.shell.currentWidget.content.widgets.map(w => w.readOnly === true)"


def lesson_cells(page):
    return page.evaluate(CELLS_JS)


def scroll_to_cell(page, index):
    page.evaluate("(i) => window.jupyterapp.shell.currentWidget.content.widgets[i].node.scrollIntoView()", index)
    page.wait_for_timeout(300)


@pytest.mark.parametrize("nb_path", LESSONS, ids=lambda p: p.split("/")[1])
def test_lesson_reads_top_to_bottom_after_run_all(chromium, lab, page, nb_path):
    lesson = nb_path.split("/")[1]
    page.goto(lab.lab_url(nb_path))
    page.locator(bh.NOTEBOOK).first.wait_for()
    bh.wait_kernel_idle(page)
    bh.run_all(page)
    cells = lesson_cells(page)
    shot(page, "lesson-%s-1-top.png" % lesson)

    def where(c):
        return "第 %d 个单元（%s）%s" % (c["i"], c["nbgrader"].get("grade_id", "无 grade_id"), c["first"])

    code = [c for c in cells if c["type"] == "code"]
    not_run = [where(c) for c in code if c["count"] is None]
    assert not not_run, "Run All 之后还有单元没有运行（Run All 停在了某个出错的单元）：\n%s\n出错的单元：\n%s" % (
        "\n".join(not_run[:5]), "\n".join(where(c) + " " + c["errors"][0] for c in code if c["errors"]))
    problems = []
    for c in code:
        if not c["errors"]:
            continue
        exercise = c["nbgrader"].get("solution") or c["nbgrader"].get("grade")
        if not exercise:
            problems.append("%s 不是练习也不是检查，却出错了：%s" % (where(c), c["errors"][0][:200]))
        if c["nbgrader"].get("grade") and not c["nbgrader"].get("solution"):
            if "检查没有通过" not in c["text"] or "_core.py" in c["text"] or "Traceback" in c["text"]:
                problems.append("%s 的输出不只是检查的中文说明：%s" % (where(c), c["text"][-300:]))
    glyph = [where(c) for c in code if any("Glyph" in t or "missing from" in t for t in c["stderr"])]
    assert not glyph, "有“缺字形”的警告：%s" % glyph
    checks = [c for c in code if c["errors"] and c["nbgrader"].get("grade") and not c["nbgrader"].get("solution")]
    if checks:
        scroll_to_cell(page, checks[0]["i"])
        shot(page, "lesson-%s-2-first-check.png" % lesson)
    # 只读单元（给出的只读代码和测试）在 JupyterLab 里确实改不了；给出的只读代码单元截一张图
    read_only = page.evaluate(READ_ONLY_JS)
    locked = [c for c in cells if c["nbgrader"].get("locked") and not c["nbgrader"].get("solution")]
    editable = [where(c) for c in locked if not read_only[c["i"]]]
    assert not editable, "这些单元在学生版里应是只读的，JupyterLab 里却能编辑：%s" % editable
    stuck = [where(c) for c in cells if c["nbgrader"].get("solution") and read_only[c["i"]]]
    assert not stuck, "这些练习单元改不了：%s" % stuck
    given = [c for c in locked if c["type"] == "code" and not c["nbgrader"].get("grade")]
    if given:
        scroll_to_cell(page, max(0, given[0]["i"] - 1))  # 连同上面介绍它的那段文字
        shot(page, "lesson-%s-read-only-cell.png" % lesson)
    scroll_to_cell(page, cells[-1]["i"])
    shot(page, "lesson-%s-3-end.png" % lesson)
    assert not problems, "\n".join(problems)
    assert checks, "什么都没写的学生版里，至少应有一个检查单元说练习还没完成"


# ---- 没有中文字体的机器：服务器和内核看不到系统字体，浏览器照常 ------------------------------
def _hide_fonts_wrapper():
    bwrap = shutil.which("bwrap")
    if bwrap is None or subprocess.run([bwrap, "--dev-bind", "/", "/", "true"], capture_output=True).returncode:
        return None
    dirs = ["/usr/share/fonts", "/usr/local/share/fonts", os.path.expanduser("~/.fonts"),
            os.path.expanduser("~/.local/share/fonts")]
    return [bwrap, "--dev-bind", "/", "/"] + [a for d in dirs if os.path.isdir(d) for a in ("--tmpfs", d)]


NO_FONTS = _hide_fonts_wrapper()
# 第一课已经不画 matplotlib 的图（步长 h 的研究挪到了第 05 课）：用第一个画图的课（第 03 课 sigmoid 的曲线）
FONT_LESSON = "release/03-activation-layers/activation_layers.ipynb"
LAST_CODE_CELL_RAN_JS = """() => {
    const code = window.jupyterapp.shell.currentWidget.content.widgets.filter(c => c.model.type === 'code');
    return code.length > 0 && code[code.length - 1].model.executionCount !== null;
}"""


@pytest.mark.skipif(NO_FONTS is None, reason="没有可用的 bubblewrap（apt-get install bubblewrap），没法把字体藏起来")
@pytest.mark.parametrize("lab", [({"MPLCONFIGDIR": "/tmp/course-browser-mpl-nofonts-%d" % os.getpid()}, NO_FONTS or ())],
                         indirect=True, ids=["fonts-hidden"])
def test_a_lesson_without_chinese_fonts_says_so_once(chromium, lab, page):
    shutil.rmtree(lab.extra_env["MPLCONFIGDIR"], ignore_errors=True)  # matplotlib 的字体缓存也是新的
    page.goto(lab.lab_url(FONT_LESSON))
    page.locator(bh.NOTEBOOK).first.wait_for()
    bh.wait_kernel_idle(page)
    bh.run_all(page)
    # 内核第一次建 matplotlib 的字体缓存要多等一会：等到最后一个代码单元也运行过
    page.wait_for_function(LAST_CODE_CELL_RAN_JS, timeout=300_000, polling=500)
    cells = lesson_cells(page)
    said = [c for c in cells if "找不到中文字体" in c["text"]]
    assert len(said) == 1 and c_count(said[0]["text"]) == 1, [c["text"][:300] for c in said]
    assert "sudo apt-get install fonts-noto-cjk" in said[0]["text"]
    stderr = [t for c in cells for t in c["stderr"]]
    assert not any("Glyph" in t or "missing from" in t for t in stderr), stderr
    scroll_to_cell(page, said[0]["i"])
    shot(page, "lesson-03-activation-layers-no-cjk-fonts.png")
    shutil.rmtree(lab.extra_env["MPLCONFIGDIR"], ignore_errors=True)


def c_count(text):
    return text.count("找不到中文字体")
