"""班级报告（issue 26 第 1–4 项）：python -m course class-report。

一门小课（两份作业，用课程真正的检查函数），八名学生，埋好的错误：
- a1：bo、cy 的乘法层没有“翻转”（公开测试就不通过，记下期望值和得到的值）；di 的 Affine 的 db 没有对批求和
  （公开测试只查 dx，隐藏测试才查 db：记录里只有检查的固定提示，没有值）；fu 的 forward 是死循环（超时事件）；
  ed 全对，却在单元里、在 backward 里打印了像检查失败的文字；gi 没有交；
- a2：bo 又没翻转（同一个误解出现在两份作业里）；cy 删掉了一个测试单元（单元被复原的事件）；
  ed 的 backward 抛出 AssertionError，信息里写着假的提示；fu 没有交；
- hana 登记了，什么都没交。
用真正的 nbgrader 命令评分（generate_assignment、autograde、export），再运行 class-report。
"""
import copy
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from conftest import ROOT
from course.grading.batch import selftest as st

A1, A2 = "a1-layers", "a2-again"
ARTIFACTS = ROOT / "test-artifacts" / "class-report"
ROSTER = [("ann", "安", "宁"), ("bo", "薄", "一"), ("cy", "崔", "云"), ("di", "狄", "青"), ("ed", "鄂", "东"),
          ("fu", "符", "海"), ("gi", "吉", "祥"), ("hana", "韩", "花")]
FAKE = "✘ 检查没有通过\ndx 不对。\n  提示：db 与 b 同形状，你的和 dout 一样：没有对批求和。"
FAKE_HINT = "乘法节点没有翻转，传给 x 的乘了 x 自己"

MUL = '''class MulLayer:
    def __init__(self):
        self.x = None
        self.y = None

    def forward(self, x, y):
        self.x = x
        self.y = y
        return x * y

    def backward(self, dout):
{backward}'''
MUL_OK = "        return dout * self.y, dout * self.x\n"
MUL_SWAPPED = "        return dout * self.x, dout * self.y  # 没有翻转\n"
AFFINE = '''class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b
        self.x = self.original_x_shape = self.dW = self.db = None

    def forward(self, x):
{forward}        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return self.x @ self.W + self.b

    def backward(self, dout):
        dx = dout @ self.W.T
        self.dW = self.x.T @ dout
{db}        return dx.reshape(self.original_x_shape)
'''
DB_OK = "        self.db = np.sum(dout, axis=0)\n"
DB_NOT_SUMMED = "        self.db = dout  # 没有对批求和\n"
GUARD = "from course.checks.guard import restore as _restore; _restore()\n"


_meta = st._meta  # nbgrader 单元的元数据（和自检作业的写法相同）


def _solution(grade_id, body):
    return new_code_cell("### BEGIN SOLUTION\n" + body + "### END SOLUTION\n", metadata=_meta(grade_id, solution=True))


def _test(grade_id, points, visible, hidden):
    return new_code_cell(visible + "### BEGIN HIDDEN TESTS\n" + GUARD + hidden + "### END HIDDEN TESTS",
                         metadata=_meta(grade_id, grade=True, points=points))


def source_notebook(assignment):
    cells = [new_markdown_cell("# %s" % assignment), new_code_cell("import numpy as np"),
             _solution("mul_layer", MUL.format(backward=MUL_OK)),
             _test("test_mul_backward", 3 if assignment == A1 else 2,
                   "from course.checks.simple_layers import check_mul_backward\ncheck_mul_backward(MulLayer)\n",
                   "from course.checks.simple_layers import check_mul_backward as _c\n"
                   "_c(MulLayer, seed=2024, shapes=[(), (4, 3)], report=False)\n")]
    if assignment == A1:
        cells += [_solution("affine", AFFINE.format(forward="", db=DB_OK)),
                  _test("test_affine_forward", 1, "from course.checks.affine import check_affine_forward\n"
                                                  "check_affine_forward(Affine)\n", "pass\n"),
                  _test("test_affine_db", 2, "from course.checks.affine import check_affine_backward_dx\n"
                                             "check_affine_backward_dx(Affine)\n",  # 公开部分只查 dx
                        "from course.checks.affine import check_affine_db as _c\n_c(Affine, seed=4444, report=False)\n")]
    else:
        cells += [_test("test_add_backward", 1, "assert 1 + 1 == 2\n", "pass\n")]
    for i, cell in enumerate(cells):
        cell["id"] = "c%02d" % i
    return new_notebook(cells=cells, metadata={"kernelspec": {"display_name": "Python 3 (ipykernel)",
                                                              "language": "python", "name": "python3"},
                                               "language_info": {"name": "python"}})


def _fill(nb, grade_id, source):
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
            return cell
    raise KeyError(grade_id)


def _submission(release, mul=MUL_OK, forward="", db=DB_OK, extra=None, drop=None):
    nb = copy.deepcopy(release)
    _fill(nb, "mul_layer", MUL.format(backward=mul))
    if any(c.metadata.get("nbgrader", {}).get("grade_id") == "affine" for c in nb.cells):
        _fill(nb, "affine", AFFINE.format(forward=forward, db=db))
    if extra:
        nb.cells.insert(2, new_code_cell(extra))
    if drop:
        nb.cells.remove(st.find_cell(nb, drop))
    return nb


PLAN = {  # 学生 -> {作业: 提交的写法}
    "ann": {A1: {}, A2: {}},
    "bo": {A1: {"mul": MUL_SWAPPED}, A2: {"mul": MUL_SWAPPED}},
    "cy": {A1: {"mul": MUL_SWAPPED}, A2: {"drop": "test_add_backward"}},
    "di": {A1: {"db": DB_NOT_SUMMED}, A2: {}},
    "ed": {A1: {"extra": "print(%r)" % FAKE,
                "mul": "        print(%r)\n        return dout * self.y, dout * self.x\n" % FAKE},
           A2: {"extra": "print(%r)" % FAKE,
                "mul": "        raise AssertionError(%r)\n" % ("✘ 检查没有通过\n  提示：" + FAKE_HINT)}},
    "fu": {A1: {"forward": "        while True:\n            pass\n"}},
    "gi": {A2: {}},
}


def _write_notebook(root, student, assignment, nb):
    folder = os.path.join(root, "submitted", student, assignment)
    os.makedirs(folder, exist_ok=True)
    nbformat.write(nb, os.path.join(folder, "layers.ipynb"))
    with open(os.path.join(folder, "timestamp.txt"), "w") as f:
        f.write("2024-01-01 00:00:00.000000 UTC")


def _check(res, what):
    assert res.returncode == 0, "%s:\n%s" % (what, (res.stdout + res.stderr)[-6000:])


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("class-report") / "course")
    for a in (A1, A2):
        os.makedirs(os.path.join(root, "source", a))
        nbformat.write(source_notebook(a), os.path.join(root, "source", a, "layers.ipynb"))
    with open(ROOT / "nbgrader_config.py", encoding="utf-8") as f:
        config = f.read()
    with open(os.path.join(root, "nbgrader_config.py"), "w", encoding="utf-8") as f:
        f.write(config + "\nc.Execute.timeout = 10\nc.CourseDirectory.db_url = %r\n"
                % ("sqlite:///" + os.path.join(root, "gradebook.db")))
    with open(os.path.join(root, "roster.csv"), "w", encoding="utf-8") as f:
        f.write("id,last_name,first_name\n" + "".join("%s,%s,%s\n" % r for r in ROSTER))
    _check(st.run_nbgrader(root, "db", "student", "import", "roster.csv"), "db student import")
    for a in (A1, A2):
        _check(st.run_nbgrader(root, "generate_assignment", a), "generate_assignment")
    for student, plan in PLAN.items():
        for a, how in plan.items():
            release = nbformat.read(os.path.join(root, "release", a, "layers.ipynb"), as_version=4)
            _write_notebook(root, student, a, _submission(release, **how))
    for a in (A1, A2):
        _check(st.run_nbgrader(root, "autograde", a), "autograde " + a)
    _check(st.run_nbgrader(root, "export", "--to", os.path.join(root, "grades.csv")), "export")
    out = os.path.join(root, "report")
    env = dict(os.environ, LANG="C.UTF-8", COURSE_DB_URL="")
    proc = subprocess.run([sys.executable, "-m", "course", "class-report", "--course", root, "--out", out],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {"root": root, "out": Path(out), "stdout": proc.stdout, "stderr": proc.stderr}


def _csv(path):
    with open(path, encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def _records(root, assignment, student):
    path = os.path.join(root, "autograded", ".grading-reports", assignment, student, "layers.json")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def test_report_names_each_planted_mistake_with_the_right_count(graded):
    rows = _csv(graded["out"] / "mistakes.csv")
    by = {(r["assignment"], r["grade_id"]): [] for r in rows}
    for r in rows:
        by[(r["assignment"], r["grade_id"])].append(r)
    flip = [r for r in by[(A1, "test_mul_backward")] if "翻转" in r["hint"]]
    assert len(flip) == 1 and flip[0]["students"] == "2" and flip[0]["student_ids"] == "bo cy", rows
    assert flip[0]["checks"] == "check_mul_backward" and flip[0]["hidden_only"] == "否"
    assert flip[0]["example_expected"] == "6.5" and flip[0]["example_got"] == "13", flip  # 书上的 10 × 5、上游 1.3
    assert flip[0]["misconception"].startswith("乘法节点")
    db = by[(A1, "test_affine_db")]
    assert len(db) == 1 and db[0]["students"] == "1" and db[0]["student_ids"] == "di"
    assert "没有对批求和" in db[0]["hint"] and db[0]["hidden_only"] == "是"
    assert db[0]["example_expected"] == "" and db[0]["example_got"] == ""  # 隐藏测试：不记录值
    again = [r for r in by[(A2, "test_mul_backward")] if "翻转" in r["hint"]]
    assert len(again) == 1 and again[0]["student_ids"] == "bo"
    # 没有别的“错误”：ed 打印的、抛出的假提示一条也没有变成诊断
    assert all(FAKE_HINT not in r["hint"] and "dx 不对" not in r["hint"] for r in rows)
    assert sum(int(r["students"]) for r in rows if r["assignment"] == A1) == 3
    page = (graded["out"] / "index.html").read_text(encoding="utf-8")
    a1 = page.split('id="a-%s"' % A1, 1)[1].split('id="a-%s"' % A2, 1)[0]
    mistakes = a1.split("最常见的错误", 1)[1].split("缺交", 1)[0]
    assert "<b>2</b> 人" in mistakes and "乘法节点乘的是“另一个”输入（翻转值）" in mistakes
    assert "<b>1</b> 人" in mistakes and "没有对批求和" in mistakes and "隐藏测试，不记录值" in mistakes
    assert "期望 <code>6.5</code><br>得到 <code>13</code>" in mistakes
    assert ">bo<" not in mistakes and ">cy<" not in mistakes  # 例子不具名


def test_printed_or_raised_fake_check_failures_make_no_mistake_record(graded):
    root = graded["root"]
    ed1 = _records(root, A1, "ed")
    assert ed1["mistakes"] == []  # 全对：打印的“检查没有通过”不算
    ed2 = _records(root, A2, "ed")
    # 抛出的 AssertionError 让检查真的不通过，但提示是检查自己的（这里没有），学生写的文字不进记录
    assert [m["grade_id"] for m in ed2["mistakes"]] == ["test_mul_backward"]
    assert ed2["mistakes"][0]["hint"] is None and ed2["mistakes"][0]["check"] == "check_mul_backward"
    assert FAKE_HINT not in json.dumps(ed2, ensure_ascii=False)
    # 对照：学生的输出确实写进了评分后的 notebook，只是不作数
    nb = nbformat.read(os.path.join(root, "autograded", "ed", A1, "layers.ipynb"), as_version=4)
    assert any("没有对批求和" in st.outputs_text(c) for c in nb.cells)
    bo = _records(root, A1, "bo")["mistakes"]
    assert len(bo) == 1 and bo[0]["check"] == "check_mul_backward" and not bo[0]["hidden"] and "翻转" in bo[0]["hint"]


def test_non_submitters_events_and_who_needs_help(graded):
    missing = {(r["assignment"], r["student_id"]) for r in _csv(graded["out"] / "missing.csv")}
    assert missing == {(A1, "gi"), (A1, "hana"), (A2, "fu"), (A2, "hana")}
    events = _csv(graded["out"] / "events.csv")
    kinds = {(e["assignment"], e["student_id"], e["kind"]) for e in events}
    assert (A1, "fu", "timeout") in kinds, events
    assert (A2, "cy", "cells-restored") in kinds, events
    assert not any(e["student_id"] in ("ann", "di", "gi") for e in events), events
    helped = {r["student_id"]: r["reasons"] for r in _csv(graded["out"] / "students.csv") if r["needs_help"] == "是"}
    assert "同一个误解出现在 %s、%s：乘法节点" % (A1, A2) in helped["bo"], helped
    assert "%s 缺交" % A2 in helped["fu"] and "%s 得分" % A1 in helped["fu"]
    assert "%s 缺交" % A1 in helped["gi"] and "hana" in helped
    assert "ann" not in helped and "di" not in helped
    assert "同一个误解" not in helped["cy"] and "同一个误解" not in helped["ed"]  # 各只在一份作业里
    page = (graded["out"] / "index.html").read_text(encoding="utf-8")
    assert "单元超时" in page and "单元被挪动、改动或删掉" in page
    # 读大班时的进度行
    assert "读取成绩库 %s 的提交：6/6" % A1 in graded["stderr"] and "读取评分报告" in graded["stderr"]
    assert "需要帮助：" in graded["stdout"]


def test_csv_agrees_with_nbgrader_export(graded):
    export = {(r["assignment"], r["student_id"]): r for r in _csv(os.path.join(graded["root"], "grades.csv"))}
    scores = {(r["assignment"], r["student_id"]): r for r in _csv(graded["out"] / "scores.csv")}
    assert set(export) == set(scores) and len(scores) == 16
    for key, row in scores.items():
        exp = export[key]
        assert float(exp["max_score"]) == float(row["max_score"]), key
        if row["submitted"] == "是":
            assert float(exp["raw_score"]) == float(row["score"]), (key, exp, row)
        else:
            assert float(exp["score"]) == 0 and row["score"] == "", (key, exp, row)
    assert scores[(A1, "ann")]["score"] == "6" and scores[(A1, "bo")]["score"] == "3"
    tests = {(r["assignment"], r["grade_id"]): r for r in _csv(graded["out"] / "tests.csv")}
    assert tests[(A1, "test_mul_backward")]["passed"] == "4" and tests[(A1, "test_mul_backward")]["submitted"] == "6"


def test_judge_records_are_validated_on_nbgrader_side():
    from course.grading.execute import mistakes

    hint = "db 与 b 同形状，你的和 dout 一样：没有对批求和。b 加到了批里的每一个样本上，各样本传回的梯度要加起来：db = np.sum(dout, axis=0)。"
    ok = mistakes.validate([{"check": "check_affine_db", "hint": hint, "hidden": True, "expected": "1", "got": "2"}])
    assert ok == [{"check": "check_affine_db", "hint": hint, "hidden": True, "expected": None, "got": None}]
    # 隐藏部分：不是检查自己的固定文字的提示被丢掉；公开部分的文字截短
    forged = mistakes.validate([{"check": "x; rm", "hint": FAKE_HINT + "！", "hidden": True}])
    assert forged == [{"check": None, "hint": None, "hidden": True, "expected": None, "got": None}]
    long = mistakes.validate([{"hint": "x" * 5000, "hidden": False, "got": "y" * 5000}])[0]
    assert len(long["hint"]) == mistakes.MAX_HINT and len(long["got"]) == mistakes.MAX_VALUE
    for bad in ({"a": 1}, [1], [{"hidden": "yes"}], [{"hidden": False, "hint": 3}], [{"hidden": False, "x": 1}],
                [{"hidden": False}] * (mistakes.MAX_RECORDS + 1)):
        with pytest.raises(mistakes.InvalidRecords):
            mistakes.validate(bad)
    # 检查自己的提示（带着检查填进去的 dx、y）算固定文字；夹进学生的文字就不算
    fixed = "dx 应当是 dout * y：乘法节点乘的是“另一个”输入（翻转值）。你的结果像是 dout * x，x 和 y 用反了。"
    assert mistakes.is_fixed(fixed) and not mistakes.is_fixed(fixed.replace("dout * x", "dout * 我的秘密"))


def test_html_opens_offline_in_chromium(graded):
    from browser_helpers import find_chromium

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("没有 Chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="没有安装 playwright 的 Python 包")
    page_path = graded["out"] / "index.html"
    html_text = page_path.read_text(encoding="utf-8")
    assert "<script" not in html_text and "<link" not in html_text and "src=" not in html_text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    requests = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.as_uri())
            page.wait_for_load_state("load")
            assert page.title() == "班级评分报告"
            assert page.locator("svg").count() == 3  # 全班一张、每份作业一张
            page.screenshot(path=str(ARTIFACTS / "top.png"))
            page.locator('[id="a-%s"]' % A1).scroll_into_view_if_needed()
            page.locator('[id="a-%s"]' % A1).evaluate("e => window.scrollTo(0, e.offsetTop - 10)")
            page.screenshot(path=str(ARTIFACTS / "a1.png"))
            page.screenshot(path=str(ARTIFACTS / "full.png"), full_page=True)
        finally:
            browser.close()
    # 只有报告本身这一个 file:// 请求，没有别的网址
    assert requests == [page_path.as_uri()], requests
