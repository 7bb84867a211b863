"""course.grading 的几个 nbgrader 预处理器（单元测试；完整流程见 test_pipeline.py）。"""
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from nbgrader.coursedir import CourseDirectory
from nbgrader.nbgraderformat import MetadataValidator
from traitlets.config import Configurable

from course.grading.feedback.hidden import HideHiddenTests
from course.grading.sanitize import DeduplicateGradeIds, RestoreCellOrder
from course.grading.submissions import GRADING_META


def _nbgrader_cell(source, grade_id, **flags):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": grade_id, "locked": False,
                                 "schema_version": 3, "solution": False, "task": False, **flags}
    return cell


def grade_cell(source, grade_id, points=1):
    return _nbgrader_cell(source, grade_id, grade=True, locked=True, points=points)


def solution_cell(source, grade_id):
    return _nbgrader_cell(source, grade_id, solution=True)


def read_only_cell(source, grade_id):
    return _nbgrader_cell(source, grade_id, locked=True)


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


class _Converter(Configurable):
    """假的 Autograde：RestoreCellOrder 沿 parent 链找 coursedir，读 release/<作业>/<notebook>.ipynb。"""

    def __init__(self, root):
        super().__init__()
        self.coursedir = CourseDirectory(root=str(root))


def _release(tmp_path):
    """学生版：说明、答案 f、它的测试、只读的基类（测试之后）、用到基类的答案 g。"""
    cells = [new_markdown_cell("# 作业"), new_code_cell("import math"), solution_cell("def f(): ...", "f"),
             grade_cell("assert f() == 1", "test_f"), read_only_cell("class Base:\n    def f(self): return 1", "base"),
             solution_cell("class G(Base): ...", "g"), grade_cell("assert G().f() == 1", "test_g")]
    folder = tmp_path / "release" / "a1"
    folder.mkdir(parents=True)
    nbformat.write(new_notebook(cells=cells), folder / "nb.ipynb")
    return cells


def _restore(tmp_path, cells):
    pp = RestoreCellOrder(parent=_Converter(tmp_path))
    nb, _ = pp.preprocess(new_notebook(cells=cells), {"nbgrader": {"assignment": "a1", "notebook": "nb"}})
    return nb


def _ids(nb):
    return [c.metadata.get("nbgrader", {}).get("grade_id") or c.source.split("\n")[0] for c in nb.cells]


def test_moved_cells_go_back_to_the_release_order_with_the_students_own_cells(tmp_path):
    md, imports, f, test_f, base, g, test_g = _release(tmp_path)
    helper = new_code_cell("# 学生自己加的单元")
    # 学生把只读的基类拖到最上面（想在 f 里继承它），又把 test_g 拖到了 g 的前面
    nb = _restore(tmp_path, [md, imports, base, helper, f, test_f, test_g, g])
    assert _ids(nb) == ["# 作业", "import math", "f", "test_f", "base", "# 学生自己加的单元", "g", "test_g"]
    assert nb.metadata[GRADING_META]["restored"] == {"moved": True, "read_only": []}
    MetadataValidator().validate_nb(nb)


def test_a_deleted_read_only_cell_comes_back_from_the_release(tmp_path):
    md, imports, f, test_f, base, g, test_g = _release(tmp_path)
    nb = _restore(tmp_path, [md, imports, f, test_f, g, test_g])
    assert _ids(nb) == ["# 作业", "import math", "f", "test_f", "base", "g", "test_g"]
    assert nb.cells[4].source == base.source
    assert nb.metadata[GRADING_META]["restored"] == {"moved": False, "read_only": ["base"]}


def test_an_untouched_notebook_stays_as_it_is(tmp_path):
    cells = _release(tmp_path)
    nb = _restore(tmp_path, list(cells))
    assert [c.source for c in nb.cells] == [c.source for c in cells]
    assert GRADING_META not in nb.metadata


def test_without_a_release_notebook_nothing_changes(tmp_path):
    md, imports, f, test_f, base, g, test_g = _release(tmp_path)
    (tmp_path / "release" / "a1" / "nb.ipynb").unlink()
    nb = _restore(tmp_path, [base, f, test_f])
    assert _ids(nb) == ["base", "f", "test_f"]
    pp = RestoreCellOrder()  # 找不到 coursedir 也不出错
    nb, _ = pp.preprocess(new_notebook(cells=[base, f]), {})
    assert _ids(nb) == ["base", "f"]


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
