"""course.graph.model 与 course.graph.svg：图上的数字必须是真正算出来的数字。"""
import re

import numpy as np
import pytest

from course.fmt import fmt
from course.graph.model import Graph
from course.graph.svg import MARK_COLORS


def apple_orange():
    g = Graph("购买苹果和橘子", output_label="支付金额")
    a, n = g.input("苹果单价", 100), g.input("苹果个数", 2)
    o, m = g.input("橘子单价", 150), g.input("橘子个数", 3)
    t = g.input("消费税", 1.1)
    total = g.mul(g.add(g.mul(a, n), g.mul(o, m)), t)
    return g, (a, n, o, m, t, total)


def test_apple_orange_forward_and_backward_are_the_books_numbers():
    g, (a, n, o, m, t, total) = apple_orange()
    g.backward(total)
    assert total.value == pytest.approx(715)
    assert [a.grad, n.grad, o.grad, m.grad, t.grad] == pytest.approx([2.2, 110, 3.3, 165, 650])
    # 每条边都有一次反向传播步骤：上游 × 局部导数 = 写在边上的值
    assert len(g.steps) == len(g.edges)
    for edge, upstream, local, product in g.steps:
        assert edge.grad == pytest.approx(upstream * local) == pytest.approx(product)


def test_chain_rule_square_of_sum():
    g = Graph()
    x, y = g.input("x", 2.0), g.input("y", 3.0)
    t = g.add(x, y)
    z = g.pow(t, 2)
    g.backward(z)
    assert (z.value, t.grad, x.grad, y.grad) == (25.0, 10.0, 10.0, 10.0)


def test_gradients_accumulate_at_forks():
    g = Graph()
    a = g.input("a", 3.0)
    b = g.add(a, a)  # a 走两条边，两份梯度要相加
    g.backward(b)
    assert a.grad == 2.0
    assert [e.grad for e in g.out_edges(a)] == [1.0, 1.0]


def test_sigmoid_graph_collapses_to_y_times_one_minus_y():
    g = Graph()
    x = g.input("x", 0.7)
    y = g.reciprocal(g.shift(g.exp(g.scale(x, -1)), 1))
    g.backward(y)
    s = 1 / (1 + np.exp(-0.7))
    assert y.value == pytest.approx(s)
    assert x.grad == pytest.approx(s * (1 - s))


def test_svg_shows_forward_and_backward_numbers():
    g, (*_, total) = apple_orange()
    g.backward(total)
    svg = g._repr_svg_()
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    forward = re.findall(r'class="forward">([^<]*)<', svg)
    backward = re.findall(r'class="backward">← ([^<]*)<', svg)
    for number in ["100", "2", "150", "3", "1.1", "200", "450", "650", "715"]:
        assert number in forward
    for number in ["2.2", "110", "3.3", "165", "650", "1.1", "1"]:
        assert number in backward
    assert "支付金额" in svg and "消费税" in svg


def test_manual_annotation_with_set_grad():
    g = Graph()
    x, y = g.input("x", 10), g.input("y", 5)
    node = g.op("×", [x, y], value=50)
    g.set_grad(x, node, 6.5).set_grad(y, node, 13)
    assert (x.grad, y.grad) == (6.5, 13)
    svg = g.to_svg()
    assert "← 6.5" in svg and "← 13" in svg and ">50<" in svg


def test_marks_and_expected_values_are_drawn():
    g, (a, n, o, m, t, total) = apple_orange()
    g.backward(total)
    edge = g.edge(a, g.out_edges(a)[0].dst)
    edge.mark, edge.expected = "wrong", 2.2
    assert "应为 2.2" in g.to_svg()
    # 算错的边：橙色粗虚线加 ✗，图例写在说明里；红色只用于反向值
    svg = g.to_svg()
    assert 'class="edge wrong"' in svg and 'stroke="%s" stroke-width="3.5" stroke-dasharray' % MARK_COLORS["wrong"] in svg
    assert ">✗<" in svg and "图例" in svg
    edge.mark = None
    assert "图例" not in g.to_svg()


def test_errors_are_explained():
    g, h = Graph(), Graph()
    x = g.input("x", 1.0)
    with pytest.raises(ValueError, match="另一张图"):
        h.op("+", [x], 1.0)
    y = g.op("?", [x], value=2.0)
    with pytest.raises(ValueError, match="局部导数"):
        g.backward(y)
    with pytest.raises(KeyError, match="没有名为"):
        g.find("nope")


@pytest.mark.parametrize("value,text", [
    (3.3000000000000003, "3.3"), (110.00000000000001, "110"), (715.0000000000001, "715"),
    (-0.8, "-0.8"), (None, "None"), (np.float64(2.5), "2.5"),
])
def test_fmt_hides_float_noise(value, text):
    assert fmt(value) == text


def test_fmt_arrays_show_shape():
    assert fmt(np.zeros((2, 3))).startswith("数组(2, 3)")
    assert fmt(np.array([1.0, 2.0])) == "[1, 2]"
