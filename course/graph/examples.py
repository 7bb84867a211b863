"""本章的几张标准计算图，按给定的数值现场搭建（交互图、逐步反向传播和诊断图都用它们）。

- apple_orange_graph：买苹果和橘子（5.1、5.3.3），边上的反向值按书里的变量命名（dapple ...）
- square_of_sum_graph：z = (x + y)²（5.2），节点 "+" 和 "**2"
- sigmoid_graph：x → ×(-1) → exp → +1 → / （5.5.2）
- affine_shapes_graph：Affine 层加 ReLU，边上写的是真正算出来的数组形状（5.5.1、5.6）
"""
import numbers

import numpy as np

from ..fmt import fmt_shape
from .model import Graph

__all__ = ["apple_orange_graph", "square_of_sum_graph", "sigmoid_graph", "affine_shapes_graph",
           "APPLE_EDGES"]

# 苹果图里每条边上的反向值在书中代码里的名字：(起点名, 终点名) -> 变量名
APPLE_EDGES = {
    ("apple", "apple_price"): "dapple", ("apple_num", "apple_price"): "dapple_num",
    ("orange", "orange_price"): "dorange", ("orange_num", "orange_price"): "dorange_num",
    ("apple_price", "all_price"): "dapple_price", ("orange_price", "all_price"): "dorange_price",
    ("all_price", "price"): "dall_price", ("tax", "price"): "dtax",
}


def _number(value, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError("%s 应当是一个数，收到的是 %s" % (what, type(value).__name__))
    return value


def apple_orange_graph(apple=100, apple_num=2, orange=150, orange_num=3, tax=1.1, backward=True):
    """苹果单价 × 个数 + 橘子单价 × 个数，再乘消费税。backward=True 时从 1 开始做完反向传播。"""
    for k, v in dict(apple=apple, apple_num=apple_num, orange=orange, orange_num=orange_num, tax=tax).items():
        _number(v, k)
    g = Graph("购买苹果和橘子", output_label="支付金额")
    a, n = g.input("苹果单价", apple, name="apple"), g.input("苹果个数", apple_num, name="apple_num")
    o, m = g.input("橘子单价", orange, name="orange"), g.input("橘子个数", orange_num, name="orange_num")
    t = g.input("消费税", tax, name="tax")
    apple_price = g.mul(a, n)
    orange_price = g.mul(o, m)
    apple_price.name, orange_price.name = "apple_price", "orange_price"
    all_price = g.add(apple_price, orange_price)
    all_price.name = "all_price"
    price = g.mul(all_price, t)
    price.name = "price"
    for e in g.edges:
        e.name = APPLE_EDGES[(e.src.name, e.dst.name)]
    if backward:
        g.backward(price)
    return g


def square_of_sum_graph(x=2.0, y=3.0, backward=True):
    """z = t²，t = x + y。反向传播时信号依次是 1 → 2t → 2(x + y)。"""
    _number(x, "x"), _number(y, "y")
    g = Graph("z = (x + y)²", output_label="z")
    t = g.add(g.input("x", x), g.input("y", y))
    t.name = "t"
    z = g.pow(t, 2)
    z.name = "z"
    if backward:
        g.backward(z)
    return g


def sigmoid_graph(x=0.0, backward=True):
    """sigmoid 的计算图：x → ×(-1) → exp → +1 → /，输出 y = 1 / (1 + exp(-x))。"""
    _number(x, "x")
    g = Graph("sigmoid 的计算图", output_label="y")
    y = g.reciprocal(g.shift(g.exp(g.scale(g.input("x", float(x)), -1)), 1))
    y.name = "y"
    if backward:
        g.backward(y)
    return g


def affine_shapes_graph(N=2, D=3, M=4, seed=0):
    """Affine 层（x·W + b）后接 ReLU，边上写形状。

    形状由正向的矩阵乘法和“梯度与变量同形状”这条规则得出：dx 与 x 同形，dW 与 W 同形，db 与 b 同形。
    返回 (graph, shapes)，shapes 是 {"x": (N, D), "W": (D, M), ..., "mask": (N, M)}。
    seed 保留给旧的调用方式（形状与随机数无关）。
    """
    for k, v in dict(N=N, D=D, M=M).items():
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError("%s 应当是正整数，收到的是 %r" % (k, v))
    x, W, b = np.zeros((N, D)), np.zeros((D, M)), np.zeros(M)
    out = x @ W + b  # 正向：(N, D)·(D, M) + (M,) 广播成 (N, M)；ReLU 不改形状
    shapes = {"x": x.shape, "W": W.shape, "b": b.shape, "out": out.shape, "dout": out.shape,
              "dx": x.shape, "dW": W.shape, "db": b.shape, "mask": out.shape}
    dx_shape, dW_shape, db_shape, da_shape = x.shape, W.shape, b.shape, out.shape

    g = Graph("Affine 层 + ReLU 层：每条边上的形状", output_label="out")
    gx, gW, gb = g.input("x", fmt_shape(x.shape)), g.input("W", fmt_shape(W.shape)), g.input("b", fmt_shape(b.shape))
    dot = g.op("dot", [gx, gW], value=fmt_shape((N, M)))
    plus = g.op("+", [dot, gb], value=fmt_shape((N, M)))
    r = g.op("ReLU", [plus], value=fmt_shape(out.shape))
    g.set_output_grad(fmt_shape(out.shape))
    g.set_grad(gx, dot, fmt_shape(dx_shape)).set_grad(gW, dot, fmt_shape(dW_shape))
    g.set_grad(dot, plus, fmt_shape(da_shape)).set_grad(gb, plus, fmt_shape(db_shape))
    g.set_grad(plus, r, fmt_shape(da_shape))
    return g, shapes
