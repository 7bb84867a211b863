"""删掉测试单元的提交照常评分，即使被删的测试单元前面是一个只读单元（course/grading/sanitize.py 的 OverwriteCells）。

对照：nbgrader 0.9.6 的 OverwriteCells 只记答案和测试单元的位置，补回这样的测试单元时抛 KeyError，
整份 notebook 被当成损坏、记 0 分。
"""
import copy
import os

import nbformat
import pytest

from conftest import ROOT
from course.grading.batch import selftest as st

STOCK = ('c.Autograde.sanitize_preprocessors = [p.replace("course.grading.sanitize.OverwriteCells", '
         '"nbgrader.preprocessors.OverwriteCells") for p in c.Autograde.sanitize_preprocessors]\n')
FULL = {"test_mul_forward": 2.0, "test_add_backward": 3.0, "test_square_grad": 5.0}


def _grade(root, extra):
    st.build_course(root, str(ROOT / "nbgrader_config.py"), "c.Execute.timeout = 30\n" + extra)
    path = os.path.join(root, "source", st.ASSIGNMENT, st.NOTEBOOK + ".ipynb")
    nb = nbformat.read(path, as_version=4)
    at = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells].index("test_add_backward")
    given = nbformat.v4.new_code_cell("GIVEN = 1  # 课程给出的代码（只读）", metadata=st._meta("add_given"))
    given["id"] = "given"
    nb.cells.insert(at, given)  # 只读单元紧挨在测试单元前面
    nbformat.write(nb, path)
    res = st.run_nbgrader(root, "generate_assignment", st.ASSIGNMENT, "--force")
    assert res.returncode == 0, res.stderr[-3000:]
    release = st.release_notebook(root)
    for student, drop in (("dan", ["test_add_backward"]), ("eve", ["test_add_backward", "add_given"]),
                          ("ann", [])):
        nb = st.answer(copy.deepcopy(release))
        for gid in drop:
            nb.cells.remove(st.find_cell(nb, gid))
        st.submit(root, student, nb)
    res = st.run_nbgrader(root, "autograde", st.ASSIGNMENT)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    return {s: st.scores(root, s) for s in ("dan", "eve", "ann")}, res.stdout + res.stderr


@pytest.mark.parametrize("stock", [True, False], ids=["nbgrader-0.9.6", "course"])
def test_a_test_cell_deleted_after_a_read_only_cell_is_restored_and_graded(tmp_path, stock):
    got, out = _grade(str(tmp_path / "course"), STOCK if stock else "")
    assert got["ann"] == FULL
    if stock:  # 对照：原版把这两份提交当成损坏，全记 0 分
        assert "KeyError: 'add_given'" in out
        assert got["dan"] == got["eve"] == dict.fromkeys(FULL, 0.0)
    else:
        assert "KeyError" not in out and got["dan"] == got["eve"] == FULL
        assert "提交里缺了测试单元 test_add_backward：评分时已补回" in out
