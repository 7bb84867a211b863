"""评分内核看不到答案（course/grading/answers.py）：每课盖住哪些模块，以及盖住以后课程给出的代码照常运行。

沙箱里真正导入不了的检验在 tests/test_sandbox.py（越权提交试图导入参考的层、检查函数、读字节码）。
"""
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course.grading import answers

ROOT = Path(__file__).resolve().parent.parent
ALL = list(answers.ANSWER_PARTS)
# 每一课评分内核里看得见的课程模块：给出的单元评分时真正导入的，连同它们（递归，含函数里的导入）导入的。
# 画图、回放、反向传播的引擎（svg、layout、backprop、trace、value_graph）一课也看不到；
# 参考答案（course/reference/）一课也看不到：第 05、06 课给出的代码用作业文件夹里的 layers.py
WIDGETS = ["example_graphs", "explorers", "fmt", "gradcheck", "graph", "lazy", "lesson", "liveview", "plots",
           "plotting", "stepper", "widgets"]
VISIBLE = {
    "01-graph-chain-rule": WIDGETS,
    "02-simple-layers": WIDGETS,
    "03-activation-layers": WIDGETS,
    "04-affine-softmax": WIDGETS,
    "05-backprop-network": ["data", "fmt", "gradcheck", "graph", "lesson", "plots", "plotting"],
    "06-autodiff": sorted(WIDGETS + ["autodiff_graph", "mlp_view", "toydata"]),
}
EXPECTED = {a: [p for p in ALL if p not in v] for a, v in VISIBLE.items()}
# 练习要写的算法所在的模块：哪一课的评分内核里都不该有
ENGINES = ("backprop", "trace", "value_graph", "svg", "layout", "checks", "reference", "demo")
BLOCK = """
import importlib.abc as _abc, sys as _sys
class _Hidden(_abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if any(name == 'course.' + p or name.startswith('course.' + p + '.') for p in %r):
            raise ModuleNotFoundError('沙箱里看不到 ' + name)
_sys.meta_path.insert(0, _Hidden())
"""


def release(assignment):
    return next((ROOT / "release" / assignment).glob("*.ipynb"))


@pytest.mark.parametrize("assignment", sorted(EXPECTED))
def test_each_lesson_hides_the_answer_modules_its_given_code_does_not_need(assignment):
    hidden = answers.hidden_parts(str(release(assignment)))
    assert hidden == EXPECTED[assignment]
    assert set(ENGINES) <= set(hidden)


def test_every_course_module_is_hidden_unless_a_lesson_needs_it():
    """默认盖住：课程包里新加的模块不用登记，不在哪一课的需要里就看不到；内核一端的通信（course.boundary）除外。
    评分插件本身（course.grading）内核也看不到。"""
    assert "boundary" not in ALL and {"reference", "backprop", "trace", "value_graph", "svg", "demo", "grading"} <= set(ALL)
    assert set(ALL) | {"boundary"} == set(answers.package_parts())


def test_without_the_boundary_only_the_demo_answers_are_hidden():
    assert answers.hidden_parts(str(release("02-simple-layers")), trusted_tests=False) == ["demo"]


def test_an_unreadable_release_hides_everything(tmp_path):
    assert answers.hidden_parts(str(tmp_path / "missing.ipynb")) == ALL


def test_imports_under_not_grading_mode_do_not_count():
    cell = nbformat.v4.new_code_cell(
        "from course.graph import Graph\n"
        "if not grading_mode():\n    from course.checks.diagnosis import diagnose_apple_orange\n"
        "else:\n    import course.net\n"
        "def f():\n    from course.layers import Affine\n"
        "try:\n    from course.trace import walk\nexcept ImportError:\n    import course.toydata\n")
    assert answers.given_course_modules([cell]) == {"graph", "net", "layers", "toydata"}


def test_imports_inside_functions_of_course_modules_count(tmp_path):
    """函数里的导入也算（example_graphs.py 画形状图时才导入参考的层）；评分时不运行的、写明可以没有的不算。"""
    (tmp_path / "a.py").write_text("def f():\n    from .b import x\n", encoding="utf-8")
    (tmp_path / "b.py").write_text("import course.c\n", encoding="utf-8")
    (tmp_path / "c.py").write_text("def g():\n    if not grading_mode():\n        from .d import y\n"
                                   "    try:\n        from . import e\n    except (ValueError, ImportError):\n"
                                   "        pass\n", encoding="utf-8")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("def h():\n    from ..a import f\n    from . import inner\n",
                                                  encoding="utf-8")
    assert answers.visible_closure({"a"}, str(tmp_path)) == {"a", "b", "c"}
    assert answers.visible_closure({"pkg"}, str(tmp_path)) == {"pkg", "a", "b", "c"}
    # 真正的课程包：第 04 课的形状图不用参考的层，第 01–03 课的 Graph 评分时不用反向传播的引擎
    assert "reference" not in answers.visible_closure({"example_graphs"})
    assert not {"backprop", "svg", "layout", "trace"} & answers.visible_closure({"graph", "widgets"})
    assert not {"value_graph", "trace"} & answers.visible_closure({"autodiff_graph"})


def test_lesson05_kernel_sees_no_course_module_with_a_forward_pass():
    """第 05 课评分内核里看得到的课程模块都没有网络的 predict/loss：练习 1 没有现成的可以继承。
    作业文件夹里的 layers.py（第 03、04 课的层）也没有。"""
    nb = nbformat.read(ROOT / "release" / "05-backprop-network" / "two_layer_net.ipynb", as_version=4)
    visible = answers.visible_closure(answers.given_course_modules(nb.cells) | {"__init__"})
    assert "reference" not in visible
    package, checked = ROOT / "course", set()
    for name in visible:  # 名字也可能是 course/__init__.py 里的对象（from course import Graph），那就不是模块
        files = [package / (name + ".py")] if (package / (name + ".py")).exists() else \
            sorted((package / name).glob("*.py"))
        for f in files:
            text = f.read_text(encoding="utf-8")
            assert "def predict" not in text and "lastLayer" not in text, f
            checked.add(name)
    assert {"__init__", "gradcheck", "lesson", "data"} <= checked
    given = (ROOT / "release" / "05-backprop-network" / "layers.py").read_text(encoding="utf-8")
    assert "class Affine" in given and "def predict" not in given and "lastLayer" not in given


def test_dependencies_are_followed():
    assert {"example_graphs", "graph", "boundary"} <= answers.visible_closure({"checks"})  # 诊断图、通信
    assert "reference" not in answers.visible_closure({"checks"})  # 检查不用参考答案
    assert not {"checks", "reference"} & answers.visible_closure({"mlp_view"})  # 对照用的层由 notebook 传进来


def test_part_paths_cover_files_folders_and_bytecode(tmp_path):
    (tmp_path / "checks").mkdir()
    (tmp_path / "layers.py").write_text("")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "layers.cpython-311.pyc").write_bytes(b"")
    got = answers.part_paths(str(tmp_path), ["checks", "layers", "net"])
    assert got == [str(tmp_path / "checks"), str(tmp_path / "layers.py"),
                   str(tmp_path / "__pycache__" / "layers.cpython-311.pyc")]


@pytest.mark.parametrize("assignment", sorted(EXPECTED))
def test_given_code_runs_under_grading_with_the_answers_hidden(assignment):
    """参考答案的 notebook 去掉测试单元，在 NBGRADER_EXECUTION=autograde 下、答案模块导入不了时从头跑到尾，不出错。"""
    src = next((ROOT / "source" / assignment).glob("*.ipynb"))
    nb = nbformat.read(src, as_version=4)
    nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get("grade")
                or c.metadata.get("nbgrader", {}).get("solution")]
    nb.cells.insert(0, nbformat.v4.new_code_cell(BLOCK % (answers.hidden_parts(str(release(assignment))),)))
    saved = os.environ.get("NBGRADER_EXECUTION")
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(src.parent)}},
                       allow_errors=False).execute()
        # 练习都填着参考答案：演示单元里的 needs() 不该吞下任何错误（例如盖住的模块导入不了）
        notices = [o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
                   if "⚠ 这个单元要用到" in o.get("text", "")]
        assert not notices, notices
    finally:
        if saved is None:
            os.environ.pop("NBGRADER_EXECUTION", None)
        else:
            os.environ["NBGRADER_EXECUTION"] = saved
