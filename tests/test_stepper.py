"""course.widgets.stepper.BackwardStepper 与 Graph.from_value：一步一步回放反向传播。"""
import math
import re
import warnings

import pytest

from course.graph.examples import apple_orange_graph, sigmoid_graph, square_of_sum_graph
from course.graph.model import Graph
from course.widgets.stepper import BackwardStepper
from course.graph.svg import MARK_COLORS


@pytest.fixture(autouse=True)
def quiet(capfd):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
    assert capfd.readouterr().err == ""


def backward(svg):
    return re.findall(r'class="backward">← ([^<]*)<', svg)


def captions(svg):
    return re.findall(r'class="caption">([^<]*)<', svg)


# ---- 一个很小的 micrograd 风格引擎，只给测试用 ------------------------------------
class Value:
    """标量自动求导：_prev 是 set（和 micrograd 一样，没有顺序）。"""

    def __init__(self, data, children=(), op="", label=""):
        self.data, self.grad, self.label = float(data), 0.0, label
        self._prev, self._op = self._store(children), op
        self._backward = lambda: None

    @staticmethod
    def _store(children):
        return set(children)

    def _new(self, data, children, op, rule):
        out = type(self)(data, children, op)

        def run():
            for child, local in zip(children, rule()):
                child.grad += local * out.grad  # 分叉处累加

        out._backward = run
        return out

    def _lift(self, other):
        return other if isinstance(other, Value) else type(self)(other)

    def __add__(self, other):
        other = self._lift(other)
        return self._new(self.data + other.data, (self, other), "+", lambda: (1.0, 1.0))

    def __mul__(self, other):
        other = self._lift(other)
        return self._new(self.data * other.data, (self, other), "*", lambda: (other.data, self.data))

    def __pow__(self, k):
        return self._new(self.data ** k, (self,), "**%g" % k, lambda: (k * self.data ** (k - 1),))

    def __neg__(self):
        return self._new(-self.data, (self,), "neg", lambda: (-1.0,))

    def tanh(self):
        t = math.tanh(self.data)
        return self._new(t, (self,), "tanh", lambda: (1 - t * t,))

    def exp(self):
        e = math.exp(self.data)
        return self._new(e, (self,), "exp", lambda: (e,))

    def relu(self):
        return self._new(max(self.data, 0.0), (self,), "ReLU", lambda: (float(self.data > 0),))

    def softsign(self):  # 一个 course.graph.trace 不认识的运算
        d = 1 + abs(self.data)
        return self._new(self.data / d, (self,), "softsign", lambda: (1 / (d * d),))

    def backward(self):
        order, seen = [], set()

        def visit(v):
            if v not in seen:
                seen.add(v)
                for c in v._prev:
                    visit(c)
                order.append(v)

        visit(self)
        self.grad = 1.0
        for v in reversed(order):
            v._backward()


class OrderedValue(Value):
    """_prev 是 tuple 的引擎：这时减法和除法的两个输入分得清。"""

    @staticmethod
    def _store(children):
        return tuple(children)

    def __sub__(self, other):
        other = self._lift(other)
        return self._new(self.data - other.data, (self, other), "-", lambda: (1.0, -1.0))

    def __truediv__(self, other):
        other = self._lift(other)
        return self._new(self.data / other.data, (self, other), "/",
                         lambda: (1 / other.data, -self.data / other.data ** 2))


def leaves(*pairs, cls=Value):
    return [cls(v, label=name) for name, v in pairs]


# ---- BackwardStepper ----------------------------------------------------------
def test_stepper_walks_the_apple_graph_one_edge_at_a_time():
    g = apple_orange_graph()
    s = BackwardStepper(g)
    assert (s.position, s.total, s.current) == (0, 8, None)
    assert backward(s.to_svg()) == ["1"]  # 一开始只有输出处的 1
    assert s.buttons["prev"].disabled and not s.buttons["next"].disabled
    seen = []
    for k in range(1, 9):
        s.next()
        edge, up, local, prod = s.current
        assert s.position == k and prod == pytest.approx(up * local)
        seen.append(edge.name)
        svg = s.to_svg()
        assert len(backward(svg)) == k + 1  # 走过的 k 条边 + 输出
        assert svg.count('stroke="%s"' % MARK_COLORS["active"]) == 2  # 只点亮当前的边和它终点的节点
        assert s.status.value == "第 %d / 8 步" % k
    assert seen == ["dall_price", "dtax", "dapple_price", "dorange_price",
                    "dorange", "dorange_num", "dapple", "dapple_num"]
    assert s.buttons["next"].disabled and "反向传播完成" in " ".join(captions(s.to_svg()))
    s.next()
    assert s.position == 8  # 到头了就停在最后一步
    # 回放不会改动原来的图
    assert [e.grad for e in g.edges] == pytest.approx([2.2, 110, 3.3, 165, 1.1, 1.1, 1.1, 650])
    assert all(e.mark is None for e in g.edges)


def test_buttons_previous_and_reset():
    s = BackwardStepper(apple_orange_graph())
    s.buttons["next"].click()
    s.buttons["next"].click()
    s.buttons["next"].click()
    assert s.position == 3
    s.buttons["prev"].click()
    assert s.position == 2 and s.current[0].name == "dtax"
    lines = captions(s.to_svg())
    assert "上游传来的导数 1 × 局部导数 650 = 650" in lines
    s.buttons["reset"].click()
    assert s.position == 0 and s.buttons["prev"].disabled
    s.prev()
    assert s.position == 0
    with pytest.raises(ValueError, match="0 到 8 之间的整数"):
        s.go(9)


def test_square_of_sum_signals_1_then_2t_then_2_x_plus_y():
    s = BackwardStepper(square_of_sum_graph(1.0, 2.5))
    s.next()
    assert "上游传来的导数 1 × 局部导数 7 = 7" in captions(s.to_svg())
    s.next()
    assert "上游传来的导数 7 × 局部导数 1 = 7" in captions(s.to_svg())
    assert [e.src.label for e, *_ in s.steps] == ["+", "x", "y"]


def test_sigmoid_steps_are_minus_y_squared_pass_through_times_exp_times_minus_one():
    x = 0.8
    y = 1 / (1 + math.exp(-x))
    s = BackwardStepper(sigmoid_graph(x))
    locals_ = [local for _, _, local, _ in s.steps]
    assert locals_ == pytest.approx([-1 / (1 + math.exp(-x)) ** 2, 1, math.exp(-x), -1])
    assert s.steps[0][3] == pytest.approx(-y * y)
    assert s.steps[-1][3] == pytest.approx(y * (1 - y))


def test_forks_show_how_the_gradients_add_up():
    g = Graph()
    a = g.input("a", 3.0)
    g.mul(a, g.add(a, g.input("b", 1.0)))  # a 用了两次
    s = BackwardStepper(g)
    fork_lines = {}
    for k in range(1, s.total + 1):
        fork_lines[k] = [line for line in captions(s.go(k).to_svg()) if "导数要相加" in line]
    # 第 3 步是 a 收到的第二份导数：经过 × 的 a + b = 4，经过 + 的 a = 3
    assert fork_lines == {1: [], 2: [], 3: ["a 分出了多条边，导数要相加：4 + 3 = 7"], 4: []}
    assert a.grad == pytest.approx(7.0)


def test_bad_input_is_explained():
    with pytest.raises(TypeError, match="需要一张 course.graph.model.Graph"):
        BackwardStepper(None)
    with pytest.raises(ValueError, match="没有运算节点"):
        g = Graph()
        g.input("x", 1.0)
        BackwardStepper(g)
    g = Graph()
    x = g.input("x", 1.0)
    g.op("?", [x], value=2.0)  # 手工标注的图没有局部导数
    with pytest.raises(ValueError, match="还不能逐步演示"):
        BackwardStepper(g)


# ---- Graph.from_value ---------------------------------------------------------
def test_from_value_matches_the_engines_gradients():
    x1, x2, w1, w2, b = leaves(("x1", 2.0), ("x2", -1.0), ("w1", -3.0), ("w2", 1.5), ("b", 0.7))
    h = (x1 * w1 + x2 * w2 + b).tanh()
    out = (h * h + (-h).exp() + (x1 * w2).relu() + w1 ** 2) * 0.5
    out.backward()
    g = Graph.from_value(out, title="micrograd")
    assert g.output.value == pytest.approx(out.data)
    for node in g.nodes:
        assert node.grad == pytest.approx(node.source.grad), node.label
    for edge, up, local, prod in g.steps:
        assert prod == pytest.approx(up * local)
    labels = {n.label for n in g.nodes if n.kind == "op"}
    assert {"+", "×", "tanh", "exp", "ReLU", "×(-1)", "**2"} <= labels
    assert "x1" in g.to_svg()


def test_from_value_without_calling_backward_first():
    a, b = leaves(("a", 3.0), ("b", -2.0))
    out = a * b + a
    g = Graph.from_value(out)  # 引擎的 grad 还全是 0，局部导数按运算重新算
    assert (g.find("a").grad, g.find("b").grad) == pytest.approx((-1.0, 3.0))


def test_from_value_ordered_subtraction_and_division():
    a, b = leaves(("a", 3.0), ("b", 4.0), cls=OrderedValue)
    out = (a - b) / (a * b)
    out.backward()
    g = Graph.from_value(out)
    assert (g.find("a").grad, g.find("b").grad) == pytest.approx((a.grad, b.grad))


def test_unknown_ops_are_read_from_the_engine_or_explained():
    a = Value(0.5, label="a")
    out = a.softsign() * 2
    out.backward()
    g = Graph.from_value(out)  # 只有一条路径：局部导数 = 输入的梯度 / 上游值
    assert g.find("a").grad == pytest.approx(a.grad)
    b = Value(0.5, label="b")
    out = b.softsign()  # 没有调用 backward：引擎里没有可用的梯度
    with pytest.raises(ValueError, match="不认识运算 'softsign'"):
        Graph.from_value(out)
    with pytest.raises(TypeError, match="micrograd 风格"):
        Graph.from_value(3.0)


def test_stepper_replays_a_micrograd_computation():
    x, w = leaves(("x", 2.0), ("w", -0.5))
    out = (x * w + 1.0).tanh()
    out.backward()
    s = BackwardStepper(out)  # 直接传入 Value
    assert s.total == len(s.graph.edges) == 5
    s.go(s.total)
    edge, up, local, prod = s.current
    assert prod == pytest.approx(edge.src.source.grad)
    assert "x" in s.to_svg()
