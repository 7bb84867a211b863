"""评分内核看不到答案（course/grading/sandbox/answers.py）：每课盖住哪些模块，以及盖住以后课程给出的代码照常运行。

沙箱里真正导入不了的检验在 tests/test_sandbox.py（越权提交试图导入参考的层、检查函数、读字节码）。
"""
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course.grading.sandbox import answers

ROOT = Path(__file__).resolve().parent.parent
ALL = answers.all_hidden()
# 每一课评分内核里盖住的课程模块：给出的单元评分时不导入的（递归，含函数里的导入），按模块算；
# 一个文件夹里全盖住时写文件夹。画图、回放、反向传播的引擎（graph/ 里的 svg、layout、backprop、trace、engine）
# 一课也看不到，同一个文件夹里的 Graph（graph/model.py）和标准图（graph/examples.py）却看得到；
# 参考答案（course/reference/）一课也看不到：第 05、06 课给出的代码用作业文件夹里的 layers.py
ENGINES = ["graph.backprop", "graph.engine", "graph.layout", "graph.svg", "graph.trace"]
ALWAYS = ["bench", "checks", "demo", "grading", "reference", "tools"]
LESSONS_01_04 = sorted(ALWAYS + ENGINES + ["data", "graph.autodiff", "plots.mlp", "toydata"])
EXPECTED = {
    "01-graph-chain-rule": LESSONS_01_04,
    "02-simple-layers": LESSONS_01_04,
    "03-activation-layers": LESSONS_01_04,
    "04-affine-softmax": LESSONS_01_04,
    "05-backprop-network": sorted(ALWAYS + ENGINES + ["graph.autodiff", "graph.examples", "plots.mlp", "toydata",
                                                      "widgets"]),
    "06-autodiff": sorted(ALWAYS + ENGINES + ["data"]),
}
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
    assert set(ENGINES + ["checks", "reference", "demo"]) <= set(hidden)


def test_every_course_module_is_hidden_unless_a_lesson_needs_it():
    """默认盖住：课程包里新加的模块不用登记，不在哪一课的需要里就看不到；内核一端的通信（course.boundary）除外。
    评分插件本身（course.grading）内核也看不到。"""
    assert "boundary" not in ALL and {"reference", "graph", "demo", "grading", "checks"} <= set(ALL)
    modules = answers.package_modules()
    assert {"graph.backprop", "grading.execute.robust", "reference.layers", "boundary.codec"} <= set(modules)
    top = {m.split(".")[0] for m in modules} - {"__init__", "__main__"}
    assert set(ALL) | {"boundary"} == top


def test_a_new_module_is_hidden_by_where_it_is_not_by_a_list(tmp_path):
    """在课程包的任何一层加一个模块，哪一课都不导入它，它就盖住；和它同一个文件夹的、要用的模块照常看得到。"""
    import shutil
    package = tmp_path / "course"
    shutil.copytree(ROOT / "course", package, ignore=shutil.ignore_patterns("__pycache__", "*.npz"))
    (package / "graph" / "answers_v2.py").write_text("def backward(): ...\n", encoding="utf-8")
    (package / "helpers.py").write_text("X = 1\n", encoding="utf-8")
    hidden = answers.hidden_parts(str(release("01-graph-chain-rule")), package=str(package))
    assert "graph.answers_v2" in hidden and "helpers" in hidden
    assert hidden == sorted(EXPECTED["01-graph-chain-rule"] + ["graph.answers_v2", "helpers"])
    # 对照：没有这两个新模块时，它们当然不在表里
    assert answers.hidden_parts(str(release("01-graph-chain-rule"))) == EXPECTED["01-graph-chain-rule"]


def test_without_the_boundary_only_the_demo_answers_are_hidden():
    assert answers.hidden_parts(str(release("02-simple-layers")), trusted_tests=False) == ["demo"]


def test_an_unreadable_release_hides_everything(tmp_path):
    assert answers.hidden_parts(str(tmp_path / "missing.ipynb")) == ALL
    assert "graph" in ALL and "widgets" in ALL  # 整个文件夹


def test_imports_under_not_grading_mode_do_not_count():
    cell = nbformat.v4.new_code_cell(
        "from course.graph import Graph\n"
        "if not grading_mode():\n    from course.checks.diagnosis import diagnose_apple_orange\n"
        "else:\n    import course.reference.net\n"
        "def f():\n    from course.reference import layers\n"
        "try:\n    from course.graph.trace import walk\nexcept ImportError:\n    import course.toydata\n")
    assert answers.given_course_modules([cell]) == {"graph", "graph.Graph", "reference.net", "reference",
                                                    "reference.layers", "toydata"}


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
    (tmp_path / "pkg" / "inner.py").write_text("from .. import c\n", encoding="utf-8")
    (tmp_path / "pkg" / "other.py").write_text("from ..d import y\n", encoding="utf-8")
    (tmp_path / "d.py").write_text("y = 1\n", encoding="utf-8")
    (tmp_path / "e.py").write_text("", encoding="utf-8")
    assert answers.visible_closure({"a"}, str(tmp_path)) == {"a", "b", "c"}
    assert answers.visible_closure({"pkg"}, str(tmp_path)) == {"pkg", "pkg.inner", "a", "b", "c"}
    # 导入 pkg.other 先运行 pkg/__init__.py：它（函数里）导入的 pkg.inner 也算
    assert answers.visible_closure({"pkg.other"}, str(tmp_path)) == {"pkg", "pkg.other", "pkg.inner", "d", "a", "b", "c"}
    # 真正的课程包：第 04 课的形状图不用参考的层，第 01–03 课的 Graph 评分时不用反向传播的引擎
    assert not {"reference", "reference.layers"} & answers.visible_closure({"graph.examples"})
    assert not set(ENGINES) & answers.visible_closure({"graph", "widgets"})
    assert not {"graph.engine", "graph.trace"} & answers.visible_closure({"graph.autodiff"})


def test_lesson05_kernel_sees_no_course_module_with_a_forward_pass():
    """第 05 课评分内核里看得到的课程模块都没有网络的 predict/loss：练习 1 没有现成的可以继承。
    作业文件夹里的 layers.py（第 03、04 课的层）也没有。"""
    nb = nbformat.read(ROOT / "release" / "05-backprop-network" / "two_layer_net.ipynb", as_version=4)
    visible = answers.visible_closure(answers.given_course_modules(nb.cells) | {"__init__"})
    assert not any(v.startswith("reference") for v in visible)
    modules, checked = answers.package_modules(), set()
    for name in visible:
        text = Path(modules[name]).read_text(encoding="utf-8")
        assert "def predict" not in text and "lastLayer" not in text, name
        checked.add(name)
    assert {"__init__", "gradcheck", "lesson", "data", "graph.model"} <= checked
    given = (ROOT / "release" / "05-backprop-network" / "layers.py").read_text(encoding="utf-8")
    assert "class Affine" in given and "def predict" not in given and "lastLayer" not in given


def test_dependencies_are_followed():
    checks = answers.visible_closure({m for m in answers.package_modules() if m.startswith("checks")})
    assert {"graph.examples", "graph", "boundary"} <= checks  # 诊断图、通信
    assert not any(m.startswith("reference") for m in checks)  # 检查不用参考答案
    mlp = answers.visible_closure({"plots.mlp"})  # 对照用的层由 notebook 传进来
    assert not any(m.startswith(("checks", "reference")) for m in mlp)


def test_part_paths_cover_files_folders_and_bytecode(tmp_path):
    (tmp_path / "checks").mkdir()
    (tmp_path / "layers.py").write_text("")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "layers.cpython-311.pyc").write_bytes(b"")
    (tmp_path / "graph" / "__pycache__").mkdir(parents=True)
    (tmp_path / "graph" / "svg.py").write_text("")
    (tmp_path / "graph" / "__pycache__" / "svg.cpython-311.pyc").write_bytes(b"")
    got = answers.part_paths(str(tmp_path), ["checks", "layers", "net", "graph.svg"])
    assert got == [str(tmp_path / "checks"), str(tmp_path / "layers.py"),
                   str(tmp_path / "__pycache__" / "layers.cpython-311.pyc"),
                   str(tmp_path / "graph" / "svg.py"), str(tmp_path / "graph" / "__pycache__" / "svg.cpython-311.pyc")]


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


def test_compile_package_writes_bytecode_even_when_python_is_told_not_to(tmp_path, monkeypatch):
    """沙箱里的内核和评判进程写不了字节码；工人先编译好课程包（PYTHONDONTWRITEBYTECODE 设了也一样）。"""
    import importlib.util

    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    for f in (pkg / "__init__.py", pkg / "a.py", pkg / "sub" / "__init__.py", pkg / "sub" / "b.py"):
        f.write_text("X = 1\n")
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    caches = [Path(importlib.util.cache_from_source(str(f))) for f in (pkg / "a.py", pkg / "sub" / "b.py")]
    assert not any(c.exists() for c in caches)
    assert answers.compile_package(str(pkg)) is True
    assert all(c.exists() for c in caches)
    (pkg / "broken.py").write_text("def (:\n")
    assert answers.compile_package(str(pkg)) is False  # 编译不了的文件：如实说没有全部成功，不抛异常
