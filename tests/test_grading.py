"""course.grading 的两个 nbgrader 预处理器（单元测试；完整流程见 test_pipeline.py）。"""
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from nbgrader.nbgraderformat import MetadataValidator

from course.grading.feedback import HideHiddenTests
from course.grading.sanitize import DeduplicateGradeIds


def grade_cell(source, grade_id, points=1, hidden=False):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {
        "grade": True, "grade_id": grade_id, "locked": True, "points": points,
        "schema_version": 3, "solution": False, "task": False,
    }
    return cell


def solution_cell(source, grade_id):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {
        "grade": False, "grade_id": grade_id, "locked": False,
        "schema_version": 3, "solution": True, "task": False,
    }
    return cell


def test_copy_pasted_cells_keep_the_last_copy_and_stay_valid():
    sol = solution_cell("def f():\n    return 1", "f")
    test = grade_cell("assert f() == 1", "test_f")
    nb = new_notebook()
    nb.cells = [new_markdown_cell("# t"), sol, test, nbformat.from_dict(test), nbformat.from_dict(sol)]
    nb.cells[3]["id"] = nb.cells[2]["id"]  # 复制粘贴连 nbformat 的 id 也复制了
    nb, _ = DeduplicateGradeIds().preprocess(nb, {})
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    assert ids == [None, None, None, "test_f", "f"]
    assert len({c["id"] for c in nb.cells}) == len(nb.cells)
    # nbgrader 自带的 DeduplicateIds 会留下 {}，之后的元数据校验就失败；这里必须通过
    MetadataValidator().validate_nb(nb)


def test_feedback_hides_hidden_tests_and_their_tracebacks():
    cell = grade_cell(
        '"""MulLayer 的反向传播"""\ncheck(MulLayer)\n### BEGIN HIDDEN TESTS\n_secret_check(MulLayer, seed=99)\n'
        '### END HIDDEN TESTS\nprint("done")', "test_mul",
    )
    cell.outputs = [nbformat.v4.new_output(
        "error", ename="CheckFailure", evalue="MulLayer.backward 返回的 dx 不对。",
        traceback=["Traceback ...", "----> 4 _secret_check(MulLayer, seed=99)", "CheckFailure: ..."],
    )]
    visible = grade_cell("check(MulLayer)", "test_visible")
    visible.outputs = [nbformat.v4.new_output("error", ename="E", evalue="v", traceback=["line 1 check(MulLayer)"])]
    stray = new_code_cell("x = 1\n### BEGIN HIDDEN TESTS\n_secret_check(f, seed=7)\n### END HIDDEN TESTS")
    nb = new_notebook(cells=[cell, visible, stray])
    nb, _ = HideHiddenTests().preprocess(nb, {})
    hidden_cell, visible_cell, stray_cell = nb.cells
    assert "_secret_check" not in stray_cell.source and "x = 1" in stray_cell.source
    assert "_secret_check" not in hidden_cell.source and "seed=99" not in hidden_cell.source
    assert "check(MulLayer)" in hidden_cell.source and 'print("done")' in hidden_cell.source
    assert "隐藏测试" in hidden_cell.source
    assert hidden_cell.outputs[0]["traceback"] == ["CheckFailure: MulLayer.backward 返回的 dx 不对。"]
    # 不含隐藏测试的单元保持原样
    assert visible_cell.outputs[0]["traceback"] == ["line 1 check(MulLayer)"]
