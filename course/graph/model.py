"""计算图（computational graph）的数据模型：节点、边，以及沿边流动的正向值和反向值。

图里的数字都来自真正的计算：要么由内置运算（mul、add、pow ...）当场算出，
要么由课程代码把学生的层算出的结果写到边上（set_value / set_grad）。
画图交给 course.graph.svg，这里不涉及任何绘制细节。

这里只有正向：内置运算只记下运算的名字（node.rule），局部导数的公式和 backward() 的算法在
course/graph/backprop.py。nbgrader 评分时学生的内核里没有 course.graph.backprop（也没有画图的 course.graph.svg，
见 course/grading/sandbox/answers.py）：Graph 照样能搭、能算正向值，backward() 什么也不做，
图显示成一句说明。这样第 01–03 课给出的演示代码评分时照常运行，学生的代码却借不到
“乘法节点翻转值、加法节点原样传”这些正是练习要写的东西。
"""
import math

import numpy as np

from ..lesson import grading_mode

__all__ = ["Graph", "Node", "Edge"]


class Node:
    """一个节点：kind 为 "input"（图左侧的输入）或 "op"（圆圈里的运算）。"""

    def __init__(self, graph, kind, label, inputs=(), value=None, local=None, name=None, rule=None):
        self.graph = graph
        self.kind = kind
        self.label = label
        self.name = name or label
        self.inputs = list(inputs)
        self.value = value
        self.grad = None  # 最终输出对这个节点的导数（所有出边反向值之和）
        self.mark = None  # 诊断用：None 或 "wrong"（节点收齐的梯度不对，course.graph.engine 设置）
        self._local = local  # 课程代码自己给的局部导数：values -> [∂out/∂in_i]
        self.rule = rule  # 内置运算的名字和常数，例如 ("pow", 2)；公式在 course/graph/backprop.py

    def __repr__(self):
        return "Node(%r, value=%r, grad=%r)" % (self.label, self.value, self.grad)


class Edge:
    """一条边 src -> dst：上方写正向值 src.value，下方写反向值 grad。"""

    def __init__(self, src, dst, index):
        self.src, self.dst, self.index = src, dst, index
        self.grad = None
        self.mark = None  # 供高亮/诊断使用：None、"active"、"wrong"、"ok"
        self.expected = None  # 诊断图里“应当是多少”
        self.name = None  # 可选：这条边上反向值的名字，例如 "dapple"（诊断信息里用）

    @property
    def value(self):
        return self.src.value

    def describe(self):
        """给人看的名字：有 name 时写成 "dapple（苹果单价 → ×）"，否则写成 "苹果单价 → ×"。"""
        text = "%s → %s" % (self.src.label or self.src.name, self.dst.label)
        return "%s（%s）" % (self.name, text) if self.name else text

    def __repr__(self):
        return "Edge(%s -> %s, value=%r, grad=%r)" % (self.src.label, self.dst.label, self.value, self.grad)


class Graph:
    """一张小的计算图。内置运算会当场算出正向值，backward() 按链式法则填好反向值。

    >>> g = Graph()
    >>> x, y = g.input("x", 2.0), g.input("y", 3.0)
    >>> z = g.pow(g.add(x, y), 2)
    >>> g.backward(z); z.value, x.grad
    (25.0, 10.0)
    """

    def __init__(self, title=None, output_label=None):
        self.title = title
        self.output_label = output_label
        self.nodes = []
        self.edges = []
        self.steps = []  # backward() 记录的每一步：(edge, 上游值, 局部导数, 乘积)
        self.output = None

    # ---- 建图 -------------------------------------------------------------
    def input(self, label, value=None, name=None):
        return self._add(Node(self, "input", label, value=value, name=name))

    def op(self, label, inputs, value=None, local=None, name=None, rule=None):
        """一般的运算节点。value 为正向结果；local(*input_values) 返回各输入的局部导数。"""
        node = self._add(Node(self, "op", label, inputs, value=value, local=local, name=name, rule=rule))
        for i, src in enumerate(node.inputs):
            if src.graph is not self:
                raise ValueError("节点 %r 属于另一张图" % src.label)
            self.edges.append(Edge(src, node, i))
        self.output = node
        return node

    @classmethod
    def from_value(cls, root, title=None, output_label=None, names=None):
        """把 micrograd 风格的标量（有 .data、._prev、._op，可选 .label、.grad）的计算过程画成图。

        已知运算（+ * **k exp tanh relu neg - / log sigmoid）的局部导数重新计算，
        所以 backward() 记录的每一步都能在 BackwardStepper 里回放。详见 course.graph.trace。
        names: 可选的 {名字: 节点}，给没有 .label 的节点起名字（和 autodiff_graph.to_graph 一样）。
        """
        if not grading_mode():  # 评分内核里没有 course.graph.trace：评分时不回放学生的引擎
            from .trace import graph_from_value
        else:
            raise RuntimeError("nbgrader 评分时不把引擎的计算过程转成图（演示不计分）")
        if names is not None and not isinstance(names, dict):
            raise TypeError("names 应当是 {名字: 节点} 的字典，例如 dict(x=x, w=w)")
        return graph_from_value(root, cls(title, output_label), names=names)

    def _add(self, node):
        self.nodes.append(node)
        return node

    # 内置运算：正向值当场计算；局部导数的公式按 rule 的名字在 course/graph/backprop.py 里查
    def add(self, a, b, label="+"):
        return self.op(label, [a, b], a.value + b.value, rule=("add",))

    def mul(self, a, b, label="×"):
        return self.op(label, [a, b], a.value * b.value, rule=("mul",))

    def pow(self, a, k, label=None):
        return self.op(label or "**%g" % k, [a], a.value ** k, rule=("pow", k))

    def scale(self, a, c, label=None):
        return self.op(label or "×(%g)" % c, [a], c * a.value, rule=("scale", c))

    def shift(self, a, c, label=None):
        return self.op(label or "%+g" % c, [a], a.value + c, rule=("shift", c))

    def exp(self, a, label="exp"):
        return self.op(label, [a], _exp(a.value), rule=("exp",))

    def reciprocal(self, a, label="/"):
        return self.op(label, [a], 1.0 / a.value, rule=("reciprocal",))

    # ---- 反向传播 ---------------------------------------------------------
    def topo_order(self):
        """节点的拓扑顺序（每个节点排在它的所有输入之后）。

        节点只能接在图里已有的节点后面，所以加进图的顺序本来就是拓扑顺序。
        """
        return list(self.nodes)

    def backward(self, out=None, dout=1.0):
        """从 out 出发，按拓扑逆序把 上游值 × 局部导数 写到每条边上，并在分叉处累加（course/graph/backprop.py）。

        nbgrader 评分时学生的内核里没有 course.graph.backprop：什么也不做（演示单元不计分）。
        """
        try:
            from .backprop import backward
        except ImportError:
            if not grading_mode():
                raise
            return self
        return backward(self, out, dout)

    # ---- 查询与手动标注 ---------------------------------------------------
    def in_edges(self, node):
        return [e for e in self.edges if e.dst is node]

    def out_edges(self, node):
        return [e for e in self.edges if e.src is node]

    def edge(self, src, dst):
        for e in self.edges:
            if e.src is src and e.dst is dst:
                return e
        raise KeyError("图中没有 %s -> %s 这条边" % (src.label, dst.label))

    def find(self, name):
        for n in self.nodes:
            if n.name == name or n.label == name:
                return n
        raise KeyError("图中没有名为 %r 的节点" % name)

    def set_value(self, node, value):
        node.value = value
        return self

    def set_grad(self, src, dst, grad):
        """把反向值 grad 写到边 src -> dst 上（用学生的层算出的结果作图时使用）。"""
        e = self.edge(src, dst)
        e.grad = grad
        total = [x.grad for x in self.out_edges(src) if x.grad is not None]
        src.grad = None
        for g in total:  # 不用 sum()：边上也可以写字符串（例如形状），只有一条出边时原样保留
            src.grad = g if src.grad is None else src.grad + g
        return self

    def set_output_grad(self, dout=1.0):
        if self.output is not None:
            self.output.grad = dout
        return self

    # ---- 显示 -------------------------------------------------------------
    def to_svg(self, **options):
        try:
            from .svg import render
        except ImportError:  # nbgrader 评分时学生的内核里没有画图的模块（分层布局就是一种拓扑排序）
            if not grading_mode():
                raise
            return NOT_DRAWN
        return render(self, **options)

    def _repr_svg_(self):
        return self.to_svg()


# 评分时（内核里没有 course.graph.svg）图的位置上显示的说明；颜色和 course.graph.svg 一样跟着主题（深色时换成浅色的字）
NOT_DRAWN = ('<svg xmlns="http://www.w3.org/2000/svg" class="cgraph-note" width="260" height="24">'
             '<style>[data-jp-theme-light="false"] .cgraph-note{--cg-fg:#e6edf3}'
             '@media (prefers-color-scheme: dark){svg:root.cgraph-note{--cg-fg:#e6edf3}}</style>'
             '<text x="4" y="16" font-size="13" fill="#1f2328" '
             'style="fill:var(--jp-content-font-color0, var(--cg-fg, #1f2328))">（nbgrader 评分时不画计算图）</text></svg>')


def _exp(x):
    return np.exp(x) if isinstance(x, np.ndarray) else math.exp(x)
