"""第二层测试：source/ 里的 notebook 是否符合课程的约定。"""
import re

import nbformat
import pytest

from conftest import SOURCE, assignments, read_nb, source_notebooks

NOTEBOOKS = source_notebooks()
IDS = [str(p.relative_to(SOURCE)) for p in NOTEBOOKS]
MARKERS = ["BEGIN SOLUTION", "END SOLUTION"]
HIDDEN = ["BEGIN HIDDEN TESTS", "END HIDDEN TESTS"]
GUARD = "from course.checks.guard import restore as _restore; _restore()"


def nbmeta(cell):
    return cell.metadata.get("nbgrader", {})


def test_there_are_lessons():
    assert len(NOTEBOOKS) >= 2, "source/ 里至少要有前两课"


def test_assignment_folders_are_ascii_ordered_and_hold_one_notebook():
    names = assignments()
    for i, name in enumerate(names, start=1):
        assert re.fullmatch(r"\d\d-[a-z0-9-]+", name), name
        assert name.startswith("%02d-" % i), "作业文件夹应从 01 起连续编号：%s" % names
        files = [p for p in (SOURCE / name).iterdir() if p.name != ".ipynb_checkpoints"]
        notebooks = [p.name for p in files if p.name.endswith(".ipynb")]
        assert len(notebooks) == 1, "%s 里只能有一个 notebook：%s" % (name, notebooks)
        # 别的文件只能是随作业发下的 layers.py：指向课程包里参考实现的链接，不另存一份
        for p in files:
            if not p.name.endswith(".ipynb"):
                assert p.name == "layers.py" and p.is_symlink(), "%s 里多了 %s" % (name, p.name)
                assert p.resolve() == (SOURCE.parent / "course" / "reference" / "layers.py").resolve()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_valid_and_outputs_stripped(path):
    nb = read_nb(path)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    assert nb.metadata.kernelspec.language == "python"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "source/ 里的 notebook 不应带输出"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_grade_ids_unique_descriptive_and_points(path):
    nb = read_nb(path)
    seen = set()
    for cell in nb.cells:
        meta = nbmeta(cell)
        if not meta:
            continue
        gid = meta["grade_id"]
        assert re.fullmatch(r"[a-z][a-z0-9_]{2,}", gid) and not re.fullmatch(r"cell_?[0-9a-f]+", gid), gid
        assert gid not in seen, "重复的 grade_id: %s" % gid
        seen.add(gid)
        assert meta.get("schema_version") == 3
        if meta.get("grade"):
            assert float(meta.get("points", 0)) > 0, "%s 没有分值" % gid
            assert meta.get("locked") or meta.get("solution"), gid


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_markers_only_where_they_belong(path):
    nb = read_nb(path)
    for cell in nb.cells:
        meta = nbmeta(cell)
        if any(m in cell.source for m in MARKERS):
            assert meta.get("solution"), "解答标记只能出现在解答单元里：\n" + cell.source[:200]
        if any(m in cell.source for m in HIDDEN):
            assert meta.get("grade") and not meta.get("solution"), "隐藏测试只能在测试单元里：\n" + cell.source[:200]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_exercise_cells_follow_the_template(path):
    nb = read_nb(path)
    solutions = 0
    for i, cell in enumerate(nb.cells):
        meta = nbmeta(cell)
        if meta.get("solution") and cell.cell_type == "code":
            solutions += 1
            before = cell.source.split("### BEGIN SOLUTION")[0]
            assert before.strip(), "解答单元 %s 应当把函数签名和说明留在标记外面" % meta["grade_id"]
        if meta.get("grade") and not meta.get("solution"):
            first = cell.source.lstrip().splitlines()[0]
            assert first.startswith('"""'), "测试单元 %s 应以一行说明开头" % meta["grade_id"]
            hidden = cell.source.split("### BEGIN HIDDEN TESTS")[1:]
            for block in hidden:
                body = block.split("### END HIDDEN TESTS")[0]
                assert "print(" not in body, "隐藏测试不应打印"
                # 先复原学生可能改动过的 numpy、检查函数等（course/checks/guard.py），再测试
                first = body.strip().splitlines()[0].strip()
                assert first == GUARD, "%s 的隐藏测试第一行应是：%s" % (meta["grade_id"], GUARD)
    assert solutions >= 2, "每课至少有两个练习"
    # 每个解答单元后面（可以隔着几个解答单元）都要有带隐藏测试的测试单元
    pending = []
    for cell in nb.cells:
        meta = nbmeta(cell)
        if meta.get("solution"):
            pending.append(meta["grade_id"])
        elif meta.get("grade") and "BEGIN HIDDEN TESTS" in cell.source:
            pending = []
    assert not pending, "这些练习后面没有隐藏测试：%s" % pending


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_lesson_opens_and_closes_the_same_way(path):
    nb = read_nb(path)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# 第")
    opening = "\n".join(c.source for c in nb.cells[:4] if c.cell_type == "markdown")
    for heading in ["本节目标", "你将学到", "你需要"]:
        assert heading in opening, "开头缺少「%s」" % heading
    last = [c for c in nb.cells if c.cell_type == "markdown"][-1]
    assert "小结" in last.source
