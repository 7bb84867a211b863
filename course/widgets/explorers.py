"""本章几张计算图的交互版：拖动滑块，正向值和反向值（来自 Graph.backward）当场重算重画。

每个函数返回一个 Explorer：.sliders 是 {名字: 滑块}，.graph 是当前的计算图。
在 JupyterLab 里显示为控件；在 nbconvert / nbgrader / 测试里显示为当前状态的静态 SVG。
"""
import numpy as np

from ..graph.examples import affine_shapes_graph, apple_orange_graph, sigmoid_graph, square_of_sum_graph
from ..fmt import fmt, fmt_shape
from ..lesson import grading_mode
from .liveview import Explorer, slider

__all__ = ["shopping_explorer", "chain_rule_explorer", "sigmoid_explorer", "shapes_playground"]


class ShoppingExplorer(Explorer):
    title = "购买苹果和橘子的计算图"

    def build(self, **v):
        return apple_orange_graph(**v)

    def caption(self):
        g, v = self.graph, self.values
        grads = "，".join("%s %s" % (g.find(k).label, fmt(g.find(k).grad, 5)) for k in v)
        return ["支付金额 = (%s × %s + %s × %s) × %s = %s" % (
                    fmt(v["apple"]), fmt(v["apple_num"]), fmt(v["orange"]), fmt(v["orange_num"]),
                    fmt(v["tax"]), fmt(g.output.value, 6)),
                "支付金额对各输入的导数：" + grads]


def shopping_explorer(apple=100, apple_num=2, orange=150, orange_num=3, tax=1.1):
    """苹果单价、个数，橘子单价、个数和消费税五个滑块；图上是正向值和全部反向值。"""
    return ShoppingExplorer({
        "apple": slider("苹果单价", apple, 0, 500, 10, integer=True),
        "apple_num": slider("苹果个数", apple_num, 0, 10, 1, integer=True),
        "orange": slider("橘子单价", orange, 0, 500, 10, integer=True),
        "orange_num": slider("橘子个数", orange_num, 0, 10, 1, integer=True),
        "tax": slider("消费税", tax, 1.0, 1.5, 0.01, fmt=".2f"),
    })


class ChainRuleExplorer(Explorer):
    title = "z = (x + y)² 的链式法则"

    def build(self, x, y):
        return square_of_sum_graph(x, y)

    def caption(self):
        # 第 1 步在 **2 节点：1 × 2t；后两步在 + 节点：2t × 1
        (_, up0, loc0, prod0), (_, up1, loc1, prod1) = self.graph.steps[:2]
        t, z = self.graph.find("t"), self.graph.find("z")
        return ["t = x + y = %s，z = t² = %s" % (fmt(t.value, 5), fmt(z.value, 5)),
                "∂z/∂t = 2t：上游的 %s × 局部导数 %s = %s" % (fmt(up0), fmt(loc0, 5), fmt(prod0, 5)),
                "∂z/∂x = ∂z/∂t · ∂t/∂x = %s × %s = %s（∂z/∂y 也一样）" % (fmt(up1, 5), fmt(loc1), fmt(prod1, 5))]


def chain_rule_explorer(x=2.0, y=3.0):
    """x、y 两个滑块；反向传播的信号 1 → 2t → 2(x + y) 写在图上。"""
    return ChainRuleExplorer({"x": slider("x", x, -5, 5, 0.1, fmt=".1f"),
                              "y": slider("y", y, -5, 5, 0.1, fmt=".1f")})


class SigmoidExplorer(Explorer):
    title = "sigmoid 的正向和反向传播"

    def build(self, x):
        return sigmoid_graph(x)

    def caption(self):
        x, y = self.graph.find("x"), self.graph.output
        return ["y = 1 / (1 + exp(-x)) = %s" % fmt(y.value, 5),
                "反向传播到 x 的值 %s；y(1 - y) = %s" % (fmt(x.grad, 5), fmt(y.value * (1 - y.value), 5))]

    def curve(self):
        """y 和 y(1 - y) 的曲线，标出当前的 x。返回 course.plots.charts.Chart。"""
        from ..plots.charts import new_chart

        xs = np.linspace(-6, 6, 241)
        ys = 1 / (1 + np.exp(-xs))
        x, y = self.graph.find("x").value, self.graph.output.value
        chart, ax = new_chart(figsize=(6.4, 2.8))
        ax.plot(xs, ys, label="y = sigmoid(x)")
        ax.plot(xs, ys * (1 - ys), label="导数 y(1 - y)")
        ax.plot([x, x], [y, y * (1 - y)], "o", color="#d1242f")
        ax.axvline(x, color="#888888", linewidth=0.8)
        ax.set_xlabel("x")
        ax.legend(loc="upper left")
        ax.grid(alpha=0.3)
        return chart

    def render(self):
        if not grading_mode():  # 评分内核里没有画图的模块；评分时也不显示交互部件
            from ..graph.svg import stack
        else:
            raise RuntimeError("nbgrader 评分时不画交互部件")
        return stack([super().render(), self.curve().to_svg()])


def sigmoid_explorer(x=0.5):
    """x 的滑块；上面是 sigmoid 的计算图（含反向值），下面是 y 和 y(1 - y) 的曲线。"""
    if isinstance(x, (int, float)) and not isinstance(x, bool) and abs(x) > 30:
        raise ValueError("x = %r 太远了：sigmoid 在 -30 到 30 之外已经完全平了，取这个范围里的值" % x)
    return SigmoidExplorer({"x": slider("x", x, -6, 6, 0.1, fmt=".1f", continuous=False)})


class ShapesPlayground(Explorer):
    title = "Affine 层和 ReLU 层的形状"

    def build(self, N, D, M):
        g, self.shapes = affine_shapes_graph(N, D, M)
        return g

    def caption(self):
        s = {k: fmt_shape(v) for k, v in self.shapes.items()}
        wt, xt = fmt_shape(self.shapes["W"][::-1]), fmt_shape(self.shapes["x"][::-1])
        return ["dx = dout · Wᵀ：%s · %s → %s" % (s["dout"], wt, s["dx"]),
                "dW = xᵀ · dout：%s · %s → %s" % (xt, s["dout"], s["dW"]),
                "db = dout 沿第 0 轴（批的方向）求和：%s → %s" % (s["dout"], s["db"]),
                "ReLU 的 mask：%s，和 ReLU 的输入形状相同" % s["mask"]]


def shapes_playground(N=2, D=3, M=4):
    """批大小 N、输入大小 D、输出大小 M 三个滑块；图上写 x、W、b、out 和各个梯度的形状。"""
    return ShapesPlayground({"N": slider("批大小 N", N, 1, 8, 1, integer=True),
                             "D": slider("输入大小 D", D, 1, 8, 1, integer=True),
                             "M": slider("输出大小 M", M, 1, 8, 1, integer=True)})
