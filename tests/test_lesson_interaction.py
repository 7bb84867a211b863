"""课里的交互部分：检查没通过时先显示诊断图；to_graph 和 Graph.from_value 共用一份遍历和求导；
第 01–04、06 课里放了滑块、逐步反向传播和诊断图的单元。"""
import math
import re
import warnings
from types import SimpleNamespace

import IPython
import IPython.display
import nbformat
import pytest

from conftest import SOURCE, student
from course.graph.autodiff import to_graph
from course.checks import CheckFailure
from course.checks.apple_orange import check_apple_orange_backward
from course.checks.chain_rule import check_apple_orange_backward as check_backward_01
from course.checks.diagram import shop_diagnosis, shop_graph, show_diagnosis
from course.checks.diagnosis import Diagnosis
from course.graph.model import Graph
from course.widgets.stepper import BackwardStepper


@pytest.fixture(autouse=True)
def quiet(capfd):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
    assert capfd.readouterr().err == ""


@pytest.fixture
def notebook(monkeypatch):
    """假装在 Jupyter 内核里：get_ipython() 有 kernel，display 把要显示的对象记下来。"""
    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: SimpleNamespace(kernel=object()))
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.extend(objs))
    return shown


# ---- 第 02 课：apple_orange_with_layers 的连线 -----------------------------------------
def wiring_with(add_gets_dout=False, swap_apple=False):
    @student
    def apple_orange_with_layers(apple, apple_num, orange, orange_num, tax, MulLayer, AddLayer, dout=1):
        mul_apple, mul_orange, add, mul_tax = MulLayer(), MulLayer(), AddLayer(), MulLayer()
        ap = mul_apple.forward(apple, apple_num)
        op = mul_orange.forward(orange, orange_num)
        allp = add.forward(ap, op)
        price = mul_tax.forward(allp, tax)
        dall, dtax = mul_tax.backward(dout)
        dap, dop = add.backward(dout if add_gets_dout else dall)  # 错误示范：没把 dall_price 传下去
        da, dan = mul_apple.backward(dap)
        if swap_apple:
            da, dan = dan, da
        do, don = mul_orange.backward(dop)
        values = {"apple_price": ap, "orange_price": op, "all_price": allp, "price": price}
        grads = {"all_price": dall, "tax": dtax, "apple_price": dap, "orange_price": dop,
                 "apple": da, "apple_num": dan, "orange": do, "orange_num": don}
        return values, grads

    return apple_orange_with_layers


def wrong_edges(diag):
    return [e for e in diag.graph.edges if e.mark == "wrong"]


def test_broken_wiring_shows_the_first_wrong_signal_before_failing(notebook):
    with pytest.raises(CheckFailure, match="加法层的 backward 收到的 dout 是 1"):
        check_apple_orange_backward(wiring_with(add_gets_dout=True))
    (diag,) = notebook  # 恰好显示了一次，而且是在报错之前
    assert isinstance(diag, Diagnosis) and not diag.ok
    (edge,) = wrong_edges(diag)
    assert edge.name == diag.name == "dapple_price"  # 书上的例子：应为 1.1，得到 1
    assert edge.expected == pytest.approx(1.1) and edge.grad == pytest.approx(1.0)
    assert [e.mark for e in diag.graph.edges if e.name in ("dall_price", "dtax")] == ["ok", "ok"]
    svg = diag.to_svg()
    assert "应为 1.1" in svg and "第一个出错的反向值：dapple_price" in svg
    assert diag.graph.output.value == pytest.approx(715)  # 正向值是学生的函数算出来的


def test_swapped_gradients_point_at_the_apple_edge(notebook):
    with pytest.raises(CheckFailure, match="对调了"):
        check_apple_orange_backward(wiring_with(swap_apple=True))
    (diag,) = notebook
    assert diag.name == "dapple" and diag.edge.expected == pytest.approx(2.2) and diag.edge.grad == pytest.approx(110)


def test_hidden_tests_and_correct_wiring_display_nothing(notebook, capfd):
    with pytest.raises(CheckFailure):
        check_apple_orange_backward(wiring_with(add_gets_dout=True), seed=77, report=False)
    check_apple_orange_backward(wiring_with(), seed=3)
    assert notebook == []
    out, err = capfd.readouterr()
    assert "✔" in out and err == ""


def test_outside_a_kernel_nothing_is_displayed(monkeypatch, capfd):
    calls = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: calls.append(objs))
    with pytest.raises(CheckFailure):
        check_apple_orange_backward(wiring_with(add_gets_dout=True))  # pytest 里 get_ipython() 是 None
    assert calls == [] and capfd.readouterr() == ("", "")


def test_a_failing_display_does_not_hide_the_check_result(monkeypatch):
    monkeypatch.setattr(IPython, "get_ipython", lambda: SimpleNamespace(kernel=object()))

    def broken(*objs, **kw):
        raise RuntimeError("前端断开了")

    monkeypatch.setattr(IPython.display, "display", broken)
    with pytest.raises(CheckFailure, match="grads\\['apple_price'\\] 不对"):
        check_apple_orange_backward(wiring_with(add_gets_dout=True))
    assert show_diagnosis(lambda: 1 / 0) is False  # 诊断本身出错也只是不画


# ---- 第 01 课：apple_orange_backward ------------------------------------------------------
@student
def apple_orange_backward(apple, apple_num, orange, orange_num, tax, dout=1.0):
    dall = dout * tax
    return {"all_price": dall, "tax": dout * (apple * apple_num + orange * orange_num), "apple_price": dall,
            "orange_price": dall, "apple": dall * apple_num, "apple_num": dall * apple,
            "orange": dall * orange_num, "orange_num": dall * orange}


@student
def forgets_dout(apple, apple_num, orange, orange_num, tax, dout=1.0):
    return apple_orange_backward(apple, apple_num, orange, orange_num, tax)


def test_lesson_01_check_draws_where_the_chain_broke(notebook):
    check_backward_01(apple_orange_backward)
    check_backward_01(forgets_dout, trials=0)  # dout = 1 时看不出来
    assert notebook == []
    with pytest.raises(CheckFailure, match="忘了乘上游传来的 dout"):
        check_backward_01(forgets_dout)
    (diag,) = notebook
    dout = diag.graph.output.grad
    assert dout != 1 and diag.name == "dall_price"
    assert diag.edge.expected == pytest.approx(dout * diag.graph.find("tax").value)
    notebook.clear()
    with pytest.raises(CheckFailure):
        check_backward_01(forgets_dout, seed=5, report=False)
    assert notebook == []


def test_shop_diagnosis_skips_what_it_cannot_draw():
    case = dict(apple=100, apple_num=2, orange=150, orange_num=3, tax=1.1)
    grads = apple_orange_backward(**case)
    assert shop_diagnosis(case, 1.0, grads).ok
    assert shop_graph(case, 1.0, dict(grads, apple=None)) is None
    assert shop_graph(dict(case, apple=[1.0, 2.0]), 1.0, grads) is None


# ---- to_graph 与 Graph.from_value 建在同一份代码上 ------------------------------------------
class V:
    """最小的 micrograd 风格引擎：只有 + * tanh，_prev 是 tuple。"""

    def __init__(self, data, children=(), op="", label=""):
        self.data, self.grad, self._prev, self._op, self.label = data, 0.0, tuple(children), op, label
        self._backward = lambda: None

    def _node(self, data, children, op, locals_):
        out = V(data, children, op)

        def run():
            for child, local in zip(children, locals_):
                child.grad += local * out.grad
        out._backward = run
        return out

    def __add__(self, other):
        other = other if isinstance(other, V) else V(other)
        return self._node(self.data + other.data, (self, other), "+", (1.0, 1.0))

    def __mul__(self, other):
        other = other if isinstance(other, V) else V(other)
        return self._node(self.data * other.data, (self, other), "*", (other.data, self.data))

    def tanh(self):
        t = math.tanh(self.data)
        return self._node(t, (self,), "tanh", (1 - t * t,))

    def backward(self):
        order, seen = [], set()

        def visit(v):
            if id(v) not in seen:
                seen.add(id(v))
                for c in v._prev:
                    visit(c)
                order.append(v)
        visit(self)
        self.grad = 1.0
        for v in reversed(order):
            v._backward()


def neuron():
    x1, x2, w1, w2, b = V(0.8), V(-1.2), V(0.5, label="w1"), V(0.9, label="w2"), V(0.3, label="b")
    out = (w1 * x1 + w2 * x2 + b).tanh()
    out.backward()
    return out, dict(x1=x1, x2=x2)


def test_to_graph_and_from_value_draw_the_same_graph():
    out, names = neuron()
    drawn, traced = to_graph(out, names=names), Graph.from_value(out, names=names)
    assert [(n.kind, n.label) for n in drawn.nodes] == [(n.kind, n.label) for n in traced.nodes]
    assert [n.label for n in traced.nodes if n.kind == "input"] == ["w1", "x1", "w2", "x2", "b"]
    for a, b in zip(drawn.edges, traced.edges):
        assert a.grad == pytest.approx(b.grad)  # 引擎的梯度（to_graph）= 按局部导数重算（from_value）


def test_to_graph_result_can_be_stepped_and_constants_are_labelled():
    out, names = neuron()
    s = BackwardStepper(to_graph(out, names=names))
    assert s.total == len(s.graph.edges) == 9
    s.go(s.total)
    assert s.graph.find("x1").grad == pytest.approx(names["x1"].grad)
    c = V(2.0, label="c")
    g = Graph.from_value((c * 0.5).tanh())  # 没有名字的常数叶子写出它的值
    assert [n.label for n in g.nodes if n.kind == "input"] == ["c", "0.5"]
    with pytest.raises(TypeError, match="names 应当是"):
        Graph.from_value(out, names=["x1"])


# ---- 课里的交互单元 -----------------------------------------------------------------------
LESSON_CELLS = {
    "01-graph-chain-rule": ["shopping_explorer()", "chain_rule_explorer()", "BackwardStepper("],
    "02-simple-layers": ["BackwardStepper(", "diagnose_apple_orange(MulLayer, AddLayer)"],
    "03-activation-layers": ["sigmoid_explorer()", "BackwardStepper("],
    "04-affine-softmax": ["shapes_playground()"],
    "06-autodiff": ["BackwardStepper("],
}


@pytest.mark.parametrize("lesson", sorted(LESSON_CELLS))
def test_lessons_contain_their_interactive_cells(lesson):
    (path,) = (SOURCE / lesson).glob("*.ipynb")
    nb = nbformat.read(str(path), as_version=4)
    plain = [c for c in nb.cells if c.cell_type == "code" and "nbgrader" not in c.metadata]
    for call in LESSON_CELLS[lesson]:
        cells = [c for c in plain if re.search(r"^[^#\n]*" + re.escape(call), c.source, re.M)]
        assert cells, "%s 里没有调用 %s 的单元" % (lesson, call)
        assert all(not c.outputs and c.execution_count is None for c in cells)


def test_shopping_explorer_is_shown_once_in_lessons_01_and_02():
    """问题2的滑块图只在第 01 课出现（练习 2 之后）；第 02 课的 5.3.3 只回顾，不再重复。"""
    found = []
    for lesson in ("01-graph-chain-rule", "02-simple-layers"):
        (path,) = (SOURCE / lesson).glob("*.ipynb")
        nb = nbformat.read(str(path), as_version=4)
        found += [lesson for c in nb.cells if c.cell_type == "code" and "shopping_explorer()" in c.source]
    assert found == ["01-graph-chain-rule"], found
