"""“Run All，然后往下读”：学生打开一课，什么都还没写，就点 Run All。

JupyterLab 4 的 Run All 遇到第一个出错的单元就停下，除非那个单元带着 `raises-exception` 标签
（tests/test_browser.py 在真的 JupyterLab 里确认了这一点）。所以每一课的学生版要做到：
- 只有两种单元会出错：练习单元（学生版里是 raise NotImplementedError 的桩）和练习的检查单元（评分的测试单元），
  而且它们都带 raises-exception 标签，Run All 会越过它们继续往下运行；
- 检查单元出错时，学生看到的是检查函数的中文说明（CheckFailure 的 _render_traceback_），不是一长串 traceback；
- 依赖练习的演示单元用 course.lesson 的 needs / ready 说“先完成练习 N”，不抛 traceback；
  不依赖练习的讲解、交互控件和图照常显示。

做法与 tests/test_pipeline.py 相同：在临时副本里用 nbgrader 从 source/ 生成学生版，再用 nbclient 从头到尾执行
（allow_errors=True，像 Run All 越过带标签的单元那样一直运行到最后；不设 NBGRADER_EXECUTION，就像学生自己运行）。
另有一条不用执行的规则检查：source/ 里每个评分的测试单元都带 raises-exception 标签。
"""
import os
import re
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT, SOURCE, assignments, nbgrader, read_nb, source_notebooks

TAG = "raises-exception"
ASSIGNMENTS = assignments()
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def meta(cell):
    return cell.metadata.get("nbgrader", {})


def is_solution(cell):
    return bool(meta(cell).get("solution"))


def is_graded_test(cell):
    return bool(meta(cell).get("grade")) and not is_solution(cell)


def tags(cell):
    return cell.metadata.get("tags", [])


def where(nb_path, index, cell):
    first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
    return "%s 第 %d 个单元（%s）%s" % (nb_path.name, index, meta(cell).get("grade_id", "无 grade_id"), first[:60])


def error_text(output):
    return ANSI.sub("", "\n".join(output.get("traceback") or []))


# ---- 规则检查：不用执行 ---------------------------------------------------------------
@pytest.mark.parametrize("path", source_notebooks(), ids=lambda p: p.parent.name)
def test_every_graded_test_cell_is_tagged_raises_exception(path):
    nb = read_nb(path)
    missing = [where(path, i, c) for i, c in enumerate(nb.cells) if is_graded_test(c) and TAG not in tags(c)]
    assert not missing, "这些评分的测试单元没有 %s 标签，Run All 会停在它们那里：\n%s" % (TAG, "\n".join(missing))


# ---- 学生版从头到尾执行一遍 -----------------------------------------------------------
@pytest.fixture(scope="module")
def course(tmp_path_factory):
    d = tmp_path_factory.mktemp("run-all")
    shutil.copy(ROOT / "nbgrader_config.py", d)
    (d / "source").mkdir()
    return d


_executed = {}


def executed(course, assignment):
    """生成这份作业的学生版并执行其中每个 notebook，返回 [(路径, 执行后的 notebook)]。每份作业只做一次。"""
    if assignment not in _executed:
        shutil.copytree(SOURCE / assignment, course / "source" / assignment,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        nbgrader("generate_assignment", assignment, "--force", cwd=course)
        results = []
        saved = os.environ.pop("NBGRADER_EXECUTION", None)  # 学生自己运行：没有这个环境变量
        try:
            for path in sorted((course / "release" / assignment).glob("*.ipynb")):
                nb = nbformat.read(str(path), as_version=4)
                NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=True,
                               resources={"metadata": {"path": str(path.parent)}}).execute()
                results.append((path, nb))
        finally:
            if saved is not None:
                os.environ["NBGRADER_EXECUTION"] = saved
        _executed[assignment] = results
    return _executed[assignment]


def errors(nb):
    """[(单元序号, 单元, 错误输出)]：执行后以错误结束的代码单元。"""
    return [(i, c, o) for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_run_all_errors_only_in_exercises_and_their_checks(course, assignment):
    problems = []
    for path, nb in executed(course, assignment):
        for i, cell, out in errors(nb):
            if not (is_solution(cell) or is_graded_test(cell)):
                problems.append("%s 不是练习也不是检查，却出错了（%s: %s）：依赖练习的演示应当用 needs/ready 说“先完成练习 N”"
                                % (where(path, i, cell), out.get("ename"), ANSI.sub("", out.get("evalue", ""))[:200]))
            elif TAG not in tags(cell):
                problems.append("%s 出错了但没有 %s 标签：JupyterLab 的 Run All 会停在这里" % (where(path, i, cell), TAG))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_unfinished_exercise_checks_show_only_the_chinese_message(course, assignment):
    problems, failing_checks = [], 0
    for path, nb in executed(course, assignment):
        for i, cell, out in errors(nb):
            if not is_graded_test(cell):
                continue
            failing_checks += 1
            text = error_text(out)
            if "检查没有通过" not in text or "_core.py" in text or "Traceback" in text:
                problems.append("%s 出错时显示的不是检查的中文说明（%s）：\n%s"
                                % (where(path, i, cell), out.get("ename"), text[-800:]))
    assert not problems, "\n\n".join(problems)
    assert failing_checks > 0, "什么都没写的学生版里，至少应有一个检查单元报告练习还没完成"
