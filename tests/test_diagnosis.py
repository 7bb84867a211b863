"""course.checks.diagnosis：学生的层错了时，诊断图要标出反向传播顺序里第一个错的信号。"""
import re
import warnings

import numpy as np
import pytest

from course.checks.diagnosis import backward_order, diagnose_apple_orange, diagnose_graph
from course.graph.examples import apple_orange_graph
from course.graph.model import Graph


@pytest.fixture(autouse=True)
def quiet(capfd):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
    assert capfd.readouterr().err == ""


# 这两个类模拟学生在 notebook 里写的正确实现，下面的错误版本都从它们改出来
class MulLayer:
    def __init__(self):
        self.x = self.y = None

    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, dout):
        return dout * self.y, dout * self.x


class AddLayer:
    def forward(self, x, y):
        return x + y

    def backward(self, dout):
        return dout, dout


class MulSwapped(MulLayer):
    def backward(self, dout):
        return dout * self.x, dout * self.y  # 没有“翻转”


class MulNoDout(MulLayer):
    def backward(self, dout):
        return self.y, self.x  # 忘了乘上游传来的 dout


class AddDoutZero(AddLayer):
    def backward(self, dout):
        return dout, 0


class MulNone(MulLayer):
    def backward(self, dout):
        dx, dy = dout * self.y, dout * self.x  # noqa: F841  忘了 return


class MulList(MulLayer):
    def backward(self, dout):
        return [dout * self.y, dout * self.x]


class MulTodo(MulLayer):
    def backward(self, dout):
        raise NotImplementedError


class MulForgetsInputs(MulLayer):
    def __init__(self):
        pass

    def forward(self, x, y):
        return x * y  # 没有存下 self.x、self.y


class AddWrongForward(AddLayer):
    def forward(self, x, y):
        return x - y


def wrong_edges(g):
    return [e for e in g.edges if e.mark == "wrong"]


def test_show_outside_a_kernel_prints_nothing(capfd):
    diagnose_apple_orange(MulSwapped, AddLayer).show()
    assert capfd.readouterr().out == ""


def test_correct_layers_are_all_green():
    d = diagnose_apple_orange(MulLayer, AddLayer)
    assert d.ok and d.name is None and d.edge is None
    assert all(e.mark == "ok" for e in d.graph.edges)
    assert "所有反向值都和期望一致" in d.message
    assert 'stroke="#d1242f" stroke-width="3"' not in d.to_svg()
    assert "stroke-dasharray" not in d.to_svg() and "✗" not in d.to_svg() and "图例" not in d.to_svg()


@pytest.mark.parametrize("mul, add, name, expected, got", [
    (MulSwapped, AddLayer, "dall_price", 1.1, 650),  # 消费税的乘法层最先反向：dx 拿到了 x 自己
    (MulLayer, AddDoutZero, "dorange_price", 1.1, 0),
    (MulNoDout, AddLayer, "dorange", 3.3, 3),  # dout = 1 时看不出来，到 dout = 1.1 才露馅
])
def test_the_first_wrong_signal_is_highlighted(mul, add, name, expected, got):
    d = diagnose_apple_orange(mul, add)
    g, first = d
    assert first == name and not d.ok
    (edge,) = wrong_edges(g)  # 只标出一条
    assert edge.name == name and edge.expected == pytest.approx(expected) and edge.grad == pytest.approx(got)
    # 反向顺序里在它之前的边都是对的，标绿
    before = backward_order(g)[:backward_order(g).index(edge)]
    assert all(e.mark == "ok" for e in before)
    svg = d.to_svg()
    assert "应为 %s" % expected in svg
    assert re.search(r'class="caption">第一个出错的反向值：%s' % name, svg)
    # 出错的边和反向值不用同一种红色：橙色粗虚线、✗ 记号，图下方有图例
    assert svg.count('class="edge wrong"') == 1 and svg.count("stroke-dasharray") == 1 and svg.count(">✗<") == 1
    assert re.search(r'class="caption">图例：橙色粗虚线', svg)


def test_hint_shows_upstream_times_local_derivative():
    d = diagnose_apple_orange(MulNoDout, AddLayer)
    assert "上游传来的导数 1.1 × 局部导数 3 = 3.3" in d.message
    assert "另外还有 3 个反向值也不对" in d.message  # dorange_num、dapple、dapple_num


def test_other_prices_point_to_the_same_signal():
    d = diagnose_apple_orange(MulLayer, AddDoutZero, apple=80, apple_num=5, orange=120, orange_num=1, tax=1.08)
    assert d.name == "dorange_price" and d.edge.expected == pytest.approx(1.08)


@pytest.mark.parametrize("mul, add, hint", [
    (MulNone, AddLayer, "忘了写 return"),
    (MulList, AddLayer, "是 list，应当是 tuple"),
    (MulTodo, AddLayer, "NotImplementedError"),
    (MulForgetsInputs, AddLayer, "forward 里先存成 self.x"),
])
def test_broken_code_is_described_not_raised(mul, add, hint):
    d = diagnose_apple_orange(mul, add)
    assert not d.ok and hint in d.message
    assert d.message.startswith("算到一半出错了")
    assert d.name == "dall_price"  # 第一条反向的边还没有值
    assert d.to_svg().startswith("<svg")


def test_wrong_forward_is_reported():
    d = diagnose_apple_orange(MulLayer, AddWrongForward)
    assert "正向传播已经不对：all_price 应为 650，你的是 -250" in d.message


def test_passing_instances_instead_of_classes_is_explained():
    with pytest.raises(TypeError, match="应当传入类本身"):
        diagnose_apple_orange(MulLayer(), AddLayer)


def test_diagnose_graph_accepts_names_pairs_and_edges():
    g = apple_orange_graph()
    g.edge(g.find("apple"), g.find("apple_price")).grad = 2.0
    d = diagnose_graph(g, {"dapple": 2.2, ("apple_num", "apple_price"): 110, g.edges[-1]: 650})
    assert d.name == "dapple" and d.edge.expected == 2.2
    assert [e.mark for e in g.edges if e.mark] == ["wrong", "ok", "ok"]  # 没给期望值的边不标
    with pytest.raises(KeyError, match="找不到边"):
        diagnose_graph(g, {"dbanana": 1.0})
    with pytest.raises(TypeError, match="Graph"):
        diagnose_graph("graph", {})
    with pytest.raises(ValueError, match="结构不同"):
        diagnose_graph(g, Graph())


def test_diagnose_graph_with_arrays_and_a_reference_graph():
    def build(scale):
        g = Graph("数组")
        x, w = g.input("x", np.array([1.0, 2.0])), g.input("w", np.array([3.0, -1.0]))
        out = g.mul(g.mul(x, w), g.input("c", 2.0))
        g.backward(out, dout=np.ones(2))
        g.edge(x, g.out_edges(x)[0].dst).grad = g.edge(x, g.out_edges(x)[0].dst).grad * scale
        return g

    assert diagnose_graph(build(1.0), build(1.0)).ok
    d = diagnose_graph(build(-1.0), build(1.0))
    assert d.edge.src.label == "x" and np.allclose(d.edge.expected, [6.0, -2.0])
