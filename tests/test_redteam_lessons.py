"""红队（真正的一课）：第 02 课的一个班，一次 `nbgrader autograde 02-simple-layers`，每种手法一名学生。

判断都在评分之外做：分数从不高于同一份代码诚实交上来的分数；评分后的 notebook 里没有隐藏测试的源码；
别的学生的分数不受影响；整次评分在限定时间内结束。选择第 02 课，是因为它的练习（MulLayer、AddLayer）
在 course.layers 里有现成的参考实现。更多手法（伪造检查函数、线程和定时器反复打补丁、读调用者的帧、
把测试的输入留到后面打印……）在 tests/test_hostile.py 的小作业上，各有“测试回到内核里运行时确实得逞”的对照。
"""
import shutil
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from conftest import nbgrader, read_nb
from course.demo.mistakes import BUGS
from course.demo.students import Work, build_submission, edit_cell, move_cell, prefix
from course.grading.sandbox import bubblewrap as sandbox
from test_hostile import IMPORT_HOOK  # 伪造 course.checks 的导入钩子：与小作业上的红队同一段代码

ROOT = Path(__file__).resolve().parent.parent
A = "02-simple-layers"
NB = "simple_layers.ipynb"
FULL = 13.0
WRONG = dict(BUGS["mul_swapped"][2])  # 乘法层没有翻转：诚实交上来是 11 分
needs_bwrap = pytest.mark.skipif(not sandbox.probe().available, reason="没有可用的 bubblewrap")

SUBCLASS = ("import course.reference.layers as _ref\n\n\nclass MulLayer(_ref.MulLayer):\n    pass\n")
EXEC_SOURCE = ("import inspect as _inspect\nimport course.reference.layers as _ref\nexec(_inspect.getsource(_ref))\n")
REWRITE = ("import numpy\nnumpy.allclose.__code__ = (lambda *a, **k: True).__code__\n"
           "numpy.isclose = lambda *a, **k: True\n")
BLANK = ("import ast\n"
         "class _Blank(ast.NodeTransformer):\n"
         "    def visit_Module(self, node):\n"
         "        return ast.Module(body=[ast.Pass()], type_ignores=[])\n"
         "get_ipython().ast_transformers.append(_Blank())\n")
READ_NOTEBOOKS = ("import glob as _glob, os as _os\n"
                  "for _p in _glob.glob('**/*.ipynb', recursive=True) + _glob.glob('/tmp/**/*.ipynb', recursive=True):\n"
                  "    try:\n"
                  "        print(open(_p).read())\n"
                  "    except OSError:\n"
                  "        pass\n")
# 学生 -> (Work, 分数的上限；None 表示必须恰好满分)
STUDENTS = {
    "solution": (Work("ref"), None),
    "honest_wrong": (Work("ref", WRONG), FULL - 2),
    "subclass_ref": (Work("ref", ops=(edit_cell("mul_layer", SUBCLASS),)), FULL - 3),
    "exec_source": (Work("ref", ops=(edit_cell("add_layer", EXEC_SOURCE),)), FULL - 2),
    "import_hook": (Work("ref", WRONG, ops=(prefix("mul_layer", IMPORT_HOOK),)), FULL - 2),
    "rewrite_numpy": (Work("ref", WRONG, ops=(prefix("mul_layer", REWRITE),)), FULL - 2),
    "blank_tests": (Work("ref", WRONG, ops=(prefix("mul_layer", BLANK),)), FULL - 2),
    "reads_notebooks": (Work("ref", ops=(prefix("mul_layer", READ_NOTEBOOKS),)), None),
}


# 借课程的计算图引擎写层的 backward（评分内核里没有 course.graph.backprop，Graph.backward() 什么也不做），
# 和同一份代码的诚实版本（backward 还没写）比
_LAYER = ("{imports}class {name}:\n"
          "    def __init__(self):\n        self.x = None\n        self.y = None\n\n"
          "    def forward(self, x, y):\n        self.x, self.y = x, y\n        return x {sym} y\n\n"
          "    def backward(self, dout):\n{body}")
GRAPH_BODY = ("        g = Graph()\n        x, y = g.input('x', self.x), g.input('y', self.y)\n"
              "        g.backward(g.{op}(x, y), dout=dout)\n        return x.grad, y.grad\n")
RULES_BODY = ("        from course.graph.backprop import RULES\n"
              "        dx, dy = RULES['{op}']()(self.x, self.y)\n        return dout * dx, dout * dy\n")
STUB_BODY = "        raise NotImplementedError('还没写')\n"


def _layers(body, imports=""):
    return (edit_cell("mul_layer", _LAYER.format(imports=imports, name="MulLayer", sym="*", body=body.format(op="mul"))),
            edit_cell("add_layer", _LAYER.format(imports=imports, name="AddLayer", sym="+", body=body.format(op="add"))))


BORROW02 = {
    "no_backward": Work("ref", ops=_layers(STUB_BODY)),  # 诚实的版本：两个 backward 都没写
    "borrow_graph": Work("ref", ops=_layers(GRAPH_BODY, "from course.graph.model import Graph\n\n\n")),
    "borrow_rules": Work("ref", ops=_layers(RULES_BODY)),
}


def grade_class(root, assignment, notebook, students):
    """在 root 里建课程、交上 students 的作业、一次 nbgrader autograde，返回 {学生: 分数}。"""
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "source" / assignment, root / "source" / assignment)
    nbgrader("generate_assignment", assignment, "--force", cwd=root)
    source = read_nb(ROOT / "source" / assignment / notebook)
    release = read_nb(root / "release" / assignment / notebook)
    for student, (work, _) in students.items():
        sub = build_submission(work, assignment, release, source, notebook)
        out = root / "submitted" / student / assignment / sub.filename
        out.parent.mkdir(parents=True)
        out.write_text(sub.text, encoding="utf-8")
    proc = nbgrader("autograde", assignment, "--force", cwd=root, check=False, timeout=900)
    assert proc.returncode == 0, proc.stderr[-5000:]
    with Gradebook("sqlite:///%s" % (root / "gradebook.db"), "backprop-zh") as gb:
        return {s: gb.find_submission(assignment, s).score for s in students}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("redteam")
    scores = grade_class(root, A, NB, {**STUDENTS, **{k: (w, None) for k, w in BORROW02.items()}})
    return {"root": root, "scores": scores, "source": read_nb(ROOT / "source" / A / NB)}


@needs_bwrap
@pytest.mark.parametrize("student", sorted(STUDENTS))
def test_no_trick_scores_above_the_honest_version(graded, student):
    _, ceiling = STUDENTS[student]
    got = graded["scores"][student]
    if ceiling is None:
        assert got == FULL, graded["scores"]
    else:
        assert got <= ceiling, graded["scores"]


@needs_bwrap
def test_the_honest_wrong_answer_loses_exactly_its_part(graded):
    assert graded["scores"]["honest_wrong"] == FULL - 2


@needs_bwrap
def test_no_hidden_test_source_in_any_graded_notebook(graded):
    hidden = []
    for cell in graded["source"].cells:
        src = cell.source
        if "BEGIN HIDDEN TESTS" in src:
            body = src.split("BEGIN HIDDEN TESTS", 1)[1].split("END HIDDEN TESTS", 1)[0]
            hidden += [ln.strip() for ln in body.splitlines() if len(ln.strip()) > 25]
    assert len(hidden) > 10
    for student in STUDENTS:
        nb = nbformat.read(graded["root"] / "autograded" / student / A / NB, as_version=4)
        text = "\n".join(str(o.get("text", "")) + str(o.get("evalue", "")) + str(o.get("data", ""))
                         for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
        leaked = [ln for ln in hidden if ln in text]
        assert not leaked, (student, leaked[:3])


@needs_bwrap
def test_without_the_boundary_the_tricks_win(graded, tmp_path):
    """对照：测试回到内核里运行（参考实现也就导入得了）时，继承参考实现的学生多拿了分。"""
    root = tmp_path / "copy"
    shutil.copytree(graded["root"], root)
    for student in ("subclass_ref",):
        proc = nbgrader("autograde", A, "--force", "--student", student, "--RobustExecute.trusted_tests=False",
                        cwd=root, check=False, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    with Gradebook("sqlite:///%s" % (root / "gradebook.db"), "backprop-zh") as gb:
        for student in ("subclass_ref",):
            assert gb.find_submission(A, student).score > STUDENTS[student][1]


@needs_bwrap
def test_lesson02_graph_engine_answers_nothing(graded):
    """Graph 的 mul/add 和 backward() 正是练习 1、2 的 backward：评分内核里借不到，不比没写 backward 的分高。"""
    scores = graded["scores"]
    assert scores["no_backward"] < FULL, scores
    for student in ("borrow_graph", "borrow_rules"):
        assert scores[student] <= scores["no_backward"], scores


@needs_bwrap
def test_lesson02_without_hiding_the_graph_engine_answers_backward(graded, tmp_path):
    """对照：内核里看得到 course.graph.backprop 时（测试回到内核里运行，只盖住 course.demo），借引擎的学生多拿了 backward 的分。"""
    root = tmp_path / "copy"
    shutil.copytree(graded["root"], root)
    for student in ("borrow_graph", "borrow_rules"):
        proc = nbgrader("autograde", A, "--force", "--student", student, "--RobustExecute.trusted_tests=False",
                        cwd=root, check=False, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    with Gradebook("sqlite:///%s" % (root / "gradebook.db"), "backprop-zh") as gb:
        for student in ("borrow_graph", "borrow_rules"):
            assert gb.find_submission(A, student).score > graded["scores"]["no_backward"]


# 第 05 课：完整的参考网络 course.net 在评分内核里导入不了；找错练习给出的、去掉 gradient 的网络
# TwoLayerNetBase 定义在只读单元里，排在练习 1 的测试之后（评分时单元顺序按学生版复原，sanitize.RestoreCellOrder）
A5, NB5 = "05-backprop-network", "two_layer_net.ipynb"
BORROW_NET = ("import course.reference.net as _ref\n\n\nclass TwoLayerNet(_ref.TwoLayerNet):\n"
              "    pass\n")
BORROW_FIX = ("class FixedTwoLayerNet(BuggyTwoLayerNet):\n"
              "    def gradient(self, x, t):\n"
              "        import course.reference.net as _ref\n"
              "        return _ref.TwoLayerNet.gradient(self, x, t)\n")
BASE_GRADIENT = ("class FixedTwoLayerNet(BuggyTwoLayerNet):\n"
                 "    def gradient(self, x, t):\n"
                 "        return TwoLayerNetBase.gradient(self, x, t)\n")
# 练习 1 只写 gradient，predict、loss 从找错练习给出的网络继承
INHERIT_BASE = ("class TwoLayerNet(TwoLayerNetBase):\n"
                "    def gradient(self, x, t):\n"
                "        self.loss(x, t)\n"
                "        dout = self.lastLayer.backward(1)\n"
                "        for layer in reversed(list(self.layers.values())):\n"
                "            dout = layer.backward(dout)\n"
                "        return {'W1': self.layers['Affine1'].dW, 'b1': self.layers['Affine1'].db,\n"
                "                'W2': self.layers['Affine2'].dW, 'b2': self.layers['Affine2'].db}\n")
IMPORT_BASE = "from course.netbase import TwoLayerNetBase\n\n\n" + INHERIT_BASE  # 旧版本课程包里的位置


def _late_binding(source_nb):
    """练习 1 的参考答案，只是 predict、loss 调用时才去找 TwoLayerNetBase（那时它还没定义）。"""
    cell = next(c for c in source_nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "two_layer_net")
    src = cell.source.replace("for layer in self.layers.values():\n            x = layer.forward(x)\n        return x",
                              "return TwoLayerNetBase.predict(self, x)")
    src = src.replace("y = self.predict(x)\n        return self.lastLayer.forward(y, t)",
                      "return TwoLayerNetBase.loss(self, x, t)")
    assert src.count("TwoLayerNetBase") == 2, "参考答案的写法变了，更新这名红队学生"
    return src


LESSON05 = {
    "solution": Work("ref"),
    "borrow_net": Work("ref", ops=(edit_cell("two_layer_net", BORROW_NET),)),
    "borrow_fix": Work("ref", ops=(edit_cell("fixed_network", BORROW_FIX),)),
    "base_gradient": Work("ref", ops=(edit_cell("fixed_network", BASE_GRADIENT),)),
    # 同一份继承 TwoLayerNetBase 的代码：原样交上来（诚实的版本），和把只读的基类拖到练习 1 上面再交
    "inherit_in_place": Work("ref", ops=(edit_cell("two_layer_net", INHERIT_BASE),)),
    "inherit_moved": Work("ref", ops=(move_cell("find_bug_base", before="two_layer_net"),
                                      edit_cell("two_layer_net", INHERIT_BASE))),
    "import_base": Work("ref", ops=(edit_cell("two_layer_net", IMPORT_BASE),)),
    # 不小心把一个测试拖到了答案上面：单元顺序复原后照常满分
    "moved_test": Work("ref", ops=(move_cell("test_sgd_step", before="sgd_step"),)),
}


@pytest.fixture(scope="module")
def graded05(tmp_path_factory):
    root = tmp_path_factory.mktemp("redteam05")
    source = read_nb(ROOT / "source" / A5 / NB5)
    students = {name: (work, None) for name, work in LESSON05.items()}
    students["late_binding"] = (Work("ref", ops=(edit_cell("two_layer_net", _late_binding(source)),)), None)
    return {"root": root, "scores": grade_class(root, A5, NB5, students)}


@needs_bwrap
def test_lesson05_reference_network_is_out_of_reach(graded05):
    scores = graded05["scores"]
    full = scores["solution"]
    assert full == 16.0
    assert scores["moved_test"] == full, scores
    for student in ("borrow_net", "borrow_fix", "base_gradient"):  # 借参考网络的 gradient 一律借不到
        assert scores[student] < full, scores
    # 借找错练习的 predict、loss：拖动单元、调用时才找、从课程包导入，都不比原样交上来的同一份代码分高，
    # 至少丢掉 predict/loss 那 2 分
    honest = scores["inherit_in_place"]
    assert honest <= full - 2, scores
    for student in ("inherit_moved", "late_binding", "import_base"):
        assert scores[student] <= honest, scores


@needs_bwrap
def test_lesson05_without_restoring_the_order_moving_the_base_wins(graded05, tmp_path):
    """对照：不复原单元顺序时，把基类拖到练习 1 上面的学生白拿了 predict、loss（以及 gradient）的分。"""
    root = tmp_path / "copy"
    shutil.copytree(graded05["root"], root)
    with open(root / "nbgrader_config.py", "a", encoding="utf-8") as f:
        f.write("\nc.Autograde.sanitize_preprocessors = [p for p in c.Autograde.sanitize_preprocessors"
                " if not p.endswith('RestoreCellOrder')]\n")
    proc = nbgrader("autograde", A5, "--force", "--student", "inherit_moved", cwd=root, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with Gradebook("sqlite:///%s" % (root / "gradebook.db"), "backprop-zh") as gb:
        assert gb.find_submission(A5, "inherit_moved").score > graded05["scores"]["inherit_in_place"]


# 第 06 课：拿参考的 Sigmoid 层包成一个自带 _backward 的节点，数值全对；评分内核里 course.layers 导入不了
A6, NB6 = "06-autodiff", "autodiff.ipynb"
BORROW_SIGMOID = ("import course.reference.layers as _ref\n\n\n"
                  "def buy_apple_orange(apple, apple_num, orange, orange_num, tax):\n"
                  "    return (apple * apple_num + orange * orange_num) * tax\n\n\n"
                  "def sigmoid(x):\n"
                  "    layer = _ref.Sigmoid()\n"
                  "    out = Value(float(layer.forward(np.array([x.data]))[0]), (x,), 'sigmoid')\n\n"
                  "    def _backward():\n"
                  "        x.grad += float(layer.backward(np.array([out.grad]))[0])\n"
                  "    out._backward = _backward\n"
                  "    return out\n")


# 借课程画图、回放用的遍历写 backward 和 zero_grad（红队当初 33/33，诚实的 12/33）
_BACKWARD = "@add_to_class(Value)\ndef backward(self):\n{body}"
_ZERO = "def zero_grad(root):\n{body}"
WALK = ("    from course.graph.trace import walk\n", "walk({})")
NODES = ("    from course.graph.autodiff import graph_nodes\n", "graph_nodes({})")
VALUE_GRAPH = ("    from course.graph.engine import graph_nodes\n", "graph_nodes({})")


def _engine(imports, order):
    back = imports + "    self.grad = 1.0\n    for v in reversed(%s):\n        v._backward()\n" % order.format("self")
    zero = imports + "    for v in %s:\n        v.grad = 0.0\n" % order.format("root")
    return (edit_cell("value_backward", _BACKWARD.format(body=back)), edit_cell("zero_grad", _ZERO.format(body=zero)))


LESSON06 = {
    "no_backward": Work("ref", ops=(edit_cell("value_backward", _BACKWARD.format(body="    raise NotImplementedError\n")),
                                    edit_cell("zero_grad", _ZERO.format(body="    raise NotImplementedError\n")))),
    "borrow_walk": Work("ref", ops=_engine(*WALK)),
    "borrow_graph_nodes": Work("ref", ops=_engine(*NODES)),
    "borrow_value_graph": Work("ref", ops=_engine(*VALUE_GRAPH)),
}


@pytest.fixture(scope="module")
def graded06(tmp_path_factory):
    root = tmp_path_factory.mktemp("redteam06")
    students = {"solution": (Work("ref"), None),
                "borrow_sigmoid": (Work("ref", ops=(edit_cell("apple_orange_sigmoid", BORROW_SIGMOID),)), None)}
    students.update({name: (work, None) for name, work in LESSON06.items()})
    return {"root": root, "scores": grade_class(root, A6, NB6, students)}


@needs_bwrap
def test_lesson06_tracing_helpers_answer_nothing(graded06):
    """画图、回放用的遍历和拓扑排序在评分内核里借不到：不比 backward、zero_grad 都没写的分高。"""
    scores = graded06["scores"]
    assert scores["no_backward"] < scores["solution"] - 5, scores
    for student in ("borrow_walk", "borrow_graph_nodes", "borrow_value_graph"):
        assert scores[student] <= scores["no_backward"], scores


@needs_bwrap
def test_lesson06_without_hiding_the_tracing_helpers_they_answer_backward(graded06, tmp_path):
    """对照：内核里看得到 course.graph.trace 等模块时（测试回到内核里运行），借来的遍历拿到了 backward 和后面练习的分。"""
    root = tmp_path / "copy"
    shutil.copytree(graded06["root"], root)
    borrowers = ("borrow_walk", "borrow_graph_nodes")
    for student in borrowers:
        proc = nbgrader("autograde", A6, "--force", "--student", student, "--RobustExecute.trusted_tests=False",
                        cwd=root, check=False, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    with Gradebook("sqlite:///%s" % (root / "gradebook.db"), "backprop-zh") as gb:
        got = {s: gb.find_submission(A6, s).score for s in borrowers}
    for student in borrowers:  # backward 和后面依赖它的练习都拿到了分
        assert got[student] > graded06["scores"]["no_backward"] + 5, (got, graded06["scores"])


@needs_bwrap
def test_lesson06_reference_layers_are_out_of_reach(graded06, tmp_path):
    scores = graded06["scores"]
    assert scores["borrow_sigmoid"] < scores["solution"], scores
    # 对照：测试回到内核里运行（course.layers 也就导入得了）时，借来的 sigmoid 拿满分
    root = tmp_path / "copy"
    shutil.copytree(graded06["root"], root)
    proc = nbgrader("autograde", A6, "--force", "--student", "borrow_sigmoid", "--RobustExecute.trusted_tests=False",
                    cwd=root, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with Gradebook("sqlite:///%s" % (root / "gradebook.db"), "backprop-zh") as gb:
        assert gb.find_submission(A6, "borrow_sigmoid").score == scores["solution"]
