"""第三层测试：在课程的临时副本里走一遍 nbgrader 的完整流程。

generate_assignment 必须逐字节复现提交的 release/；参考答案作为学生提交必须满分，
原样未动的学生版必须零分且不崩溃；删掉、改动、复制粘贴测试单元的提交都要被正确评分；
反馈里不能出现隐藏测试。
"""
import copy
import filecmp
import html
import re
import shutil

import nbformat
import pytest
from nbgrader.api import Gradebook

from conftest import ROOT, SOURCE, RELEASE, assignments, nbgrader, read_nb

ASSIGNMENTS = assignments()
COURSE_ID = "backprop-zh"


def meta(cell):
    return cell.metadata.get("nbgrader", {})


def is_test(cell):
    return meta(cell).get("grade") and not meta(cell).get("solution")


@pytest.fixture(scope="session")
def course(tmp_path_factory):
    """课程的临时副本（学生版由 generated() 按需生成）。"""
    d = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "nbgrader_config.py", d)
    shutil.copytree(SOURCE, d / "source", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return d


_generated = set()


def generated(course, a):
    if a not in _generated:
        nbgrader("generate_assignment", a, "--force", cwd=course)
        _generated.add(a)
    return course / "release" / a


# ---- 各种“学生”的提交：参考答案作为提交，以及几种常见的事故 ------------------
def sub_solution(src, rel):
    return src


def sub_untouched(src, rel):
    return rel


def sub_deleted_test(src, rel):
    nb = copy.deepcopy(src)
    first = next(i for i, c in enumerate(nb.cells) if is_test(c))
    del nb.cells[first]
    return nb


def sub_edited_test(src, rel):
    """在空白的学生版上把每个测试改成 pass：评分时测试会被换回来，仍然是 0 分。"""
    nb = copy.deepcopy(rel)
    for c in nb.cells:
        if is_test(c):
            c.source = "pass  # 我把测试删了"
    return nb


def sub_copied_cells(src, rel):
    """学生复制粘贴了一个解答单元和一个测试单元（学生手里的测试单元来自学生版，没有隐藏测试）。"""
    nb = copy.deepcopy(src)
    sol = next(i for i, c in enumerate(nb.cells) if meta(c).get("solution"))
    test = next(i for i, c in enumerate(nb.cells) if is_test(c))
    gid = meta(nb.cells[test])["grade_id"]
    dup_test = copy.deepcopy(next(c for c in rel.cells if meta(c).get("grade_id") == gid))
    dup_sol = copy.deepcopy(nb.cells[sol])
    dup_test["id"], dup_sol["id"] = "pasted-test", "pasted-solution"  # JupyterLab 粘贴时给新 id
    nb.cells.insert(test + 1, dup_test)  # 测试单元复制到紧挨着的下方
    nb.cells.insert(sol + 1, dup_sol)  # 解答单元也复制一份
    return nb


STUDENTS = {
    "solution": sub_solution, "untouched": sub_untouched, "deleted_test": sub_deleted_test,
    "edited_test": sub_edited_test, "copied_cells": sub_copied_cells,
}

_graded = {}


def graded(course, a):
    """为作业 a 放好所有学生的提交并 autograde（每个作业只做一次），返回 {学生: (得分, 满分)}。"""
    if a in _graded:
        return _graded[a]
    generated(course, a)
    for src_path in sorted((SOURCE / a).glob("*.ipynb")):
        src, rel = read_nb(src_path), read_nb(course / "release" / a / src_path.name)
        for student, make in STUDENTS.items():
            out = course / "submitted" / student / a / src_path.name
            out.parent.mkdir(parents=True, exist_ok=True)
            with open(out, "w", encoding="utf-8") as f:
                nbformat.write(make(src, rel), f)
    proc = nbgrader("autograde", a, "--force", cwd=course, check=False)
    assert proc.returncode == 0, proc.stderr[-6000:]
    scores = {}
    with Gradebook("sqlite:///%s" % (course / "gradebook.db"), COURSE_ID) as gb:
        for student in STUDENTS:
            s = gb.find_submission(a, student)
            scores[student] = (s.score, s.max_score)
    _graded[a] = (scores, proc.stderr)
    return _graded[a]


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_generate_reproduces_committed_release(course, a):
    ours, committed = generated(course, a), RELEASE / a
    assert committed.exists(), "release/%s 不存在：运行 nbgrader generate_assignment %s 并提交" % (a, a)
    cmp = filecmp.dircmp(ours, committed, ignore=[".ipynb_checkpoints"])
    assert not cmp.left_only and not cmp.right_only, (cmp.left_only, cmp.right_only)
    for name in cmp.common_files:
        assert (ours / name).read_bytes() == (committed / name).read_bytes(), (
            "release/%s/%s 与 source/ 不一致：重新运行 nbgrader generate_assignment %s --force" % (a, name, a))


def test_release_has_no_other_assignments():
    assert sorted(p.name for p in RELEASE.iterdir() if p.is_dir()) == ASSIGNMENTS


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_release_contains_no_solution_or_hidden_test_text(a):
    for src_path in (SOURCE / a).glob("*.ipynb"):
        src = read_nb(src_path)
        released = (RELEASE / a / src_path.name).read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in released and "BEGIN HIDDEN TESTS" not in released
        outside = "\n".join(re.sub(r"### BEGIN (SOLUTION|HIDDEN TESTS).*?### END (SOLUTION|HIDDEN TESTS)", "", c.source, flags=re.S)
                            for c in src.cells)
        secret = []
        for c in src.cells:
            for block in re.findall(r"### BEGIN (?:SOLUTION|HIDDEN TESTS)(.*?)### END", c.source, flags=re.S):
                secret += [ln.strip() for ln in block.splitlines()]
        shown = "\n".join(c.source for c in nbformat.reads(released, as_version=4).cells)
        leaked = [ln for ln in secret if len(ln) > 12 and not ln.startswith("#") and ln not in outside and ln in shown]
        assert not leaked, "学生版里出现了答案或隐藏测试：%s" % leaked[:5]


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_solution_gets_full_marks(course, a):
    scores, log = graded(course, a)
    score, max_score = scores["solution"]
    assert max_score > 0 and score == max_score, (scores, log[-3000:])


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_solution_runs_clean(course, a):
    """参考答案从头到尾执行：没有报错，测试单元不往 stderr 写东西。"""
    graded(course, a)
    for path in (course / "autograded" / "solution" / a).glob("*.ipynb"):
        for cell in read_nb(path).cells:
            for out in cell.get("outputs", []):
                assert out.output_type != "error", (cell.source[:300], out.get("evalue"))
                assert not (out.output_type == "stream" and out.name == "stderr"), (cell.source[:300], out.text[:500])


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_untouched_release_gets_zero_without_crashing(course, a):
    scores, _ = graded(course, a)
    assert scores["untouched"][0] == 0


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_deleted_test_cell_is_restored_and_graded(course, a):
    scores, _ = graded(course, a)
    assert scores["deleted_test"][0] == scores["deleted_test"][1]
    text = "".join(p.read_text(encoding="utf-8") for p in (course / "autograded" / "deleted_test" / a).glob("*.ipynb"))
    assert "评分时已由 nbgrader 补回" in text


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_edited_test_cells_are_put_back(course, a):
    scores, _ = graded(course, a)
    assert scores["edited_test"][0] == 0


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_copy_pasted_cells_do_not_break_grading(course, a):
    scores, _ = graded(course, a)
    assert scores["copied_cells"][0] == scores["copied_cells"][1]


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_feedback_does_not_reveal_hidden_tests(course, a):
    graded(course, a)
    nbgrader("generate_feedback", a, "--force", cwd=course)
    hidden = []
    for src_path in (SOURCE / a).glob("*.ipynb"):
        for c in read_nb(src_path).cells:
            for block in re.findall(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", c.source, flags=re.S):
                hidden += [ln.strip() for ln in block.splitlines() if len(ln.strip()) > 12 and not ln.strip().startswith("#")]
    assert hidden, "这个作业没有隐藏测试"
    pages = list((course / "feedback").glob("*/%s/*.html" % a))
    assert len(pages) == len(STUDENTS) * len(list((SOURCE / a).glob("*.ipynb")))
    for page in pages:
        page_html = page.read_text(encoding="utf-8")
        text = html.unescape(re.sub(r"<[^>]+>", "", page_html))
        shown = [ln for ln in hidden if ln in text]
        assert not shown, "%s 的反馈里出现了隐藏测试：%s" % (page, shown[:3])


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_failed_checks_show_only_their_message(course, a):
    """没通过的检查在评分结果和反馈里只显示中文说明，不显示检查函数内部的调用栈（CheckFailure._render_traceback_）。"""
    graded(course, a)
    nbgrader("generate_feedback", a, "--force", cwd=course)
    failures = 0
    for path in (course / "autograded" / "untouched" / a).glob("*.ipynb"):
        for cell in read_nb(path).cells:
            for out in cell.get("outputs", []):
                if out.output_type == "error" and out.ename == "CheckFailure":
                    failures += 1
                    shown = "\n".join(out.traceback)
                    assert "检查没有通过" in out.traceback[0], out.traceback[:3]
                    assert "_core.py" not in shown and "Traceback" not in shown, shown[:800]
    assert failures, "学生版原样交上来，应当有检查以 CheckFailure 失败"
    for page in (course / "feedback" / "untouched" / a).glob("*.html"):
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
        # 含隐藏测试的单元只留一行“异常类型: 说明”（course/grading/feedback/hidden.py），其余单元显示检查的说明
        assert ("检查没有通过" in text or "CheckFailure: " in text) and "_core.py" not in text, page


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_validate_passes_source_and_inverts_release(course, a):
    generated(course, a)
    for src_path in (SOURCE / a).glob("*.ipynb"):
        ok = nbgrader("validate", str(course / "source" / a / src_path.name), cwd=course)
        assert "Success! Your notebook passes all the tests." in ok.stdout, ok.stdout[-3000:]
        inv = nbgrader("validate", "--invert", str(course / "release" / a / src_path.name), cwd=course)
        assert "Success! The notebook does not pass any tests." in inv.stdout, inv.stdout[-3000:]
