"""计算图（computational graph）的数据模型：节点、边，以及沿边流动的正向值和反向值。

图里的数字都来自真正的计算：要么由内置运算（mul、add、pow ...）当场算出，
要么由课程代码把学生的层算出的结果写到边上（set_value / set_grad）。
画图交给 course.svg，这里不涉及任何绘制细节。
"""
import math

import numpy as np

__all__ = ["Graph", "Node", "Edge"]


class Node:
    """一个节点：kind 为 "input"（图左侧的输入）或 "op"（圆圈里的运算）。"""

    def __init__(self, graph, kind, label, inputs=(), value=None, local=None, name=None):
        self.graph = graph
        self.kind = kind
        self.label = label
        self.name = name or label
        self.inputs = list(inputs)
        self.value = value
        self.grad = None  # 最终输出对这个节点的导数（所有出边反向值之和）
        self._local = local  # 局部导数：values -> [∂out/∂in_i]

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

    def op(self, label, inputs, value=None, local=None, name=None):
        """一般的运算节点。value 为正向结果；local(*input_values) 返回各输入的局部导数。"""
        node = self._add(Node(self, "op", label, inputs, value=value, local=local, name=name))
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
        所以 backward() 记录的每一步都能在 BackwardStepper 里回放。详见 course.trace。
        names: 可选的 {名字: 节点}，给没有 .label 的节点起名字（和 autodiff_graph.to_graph 一样）。
        """
        from .trace import graph_from_value

        if names is not None and not isinstance(names, dict):
            raise TypeError("names 应当是 {名字: 节点} 的字典，例如 dict(x=x, w=w)")
        return graph_from_value(root, cls(title, output_label), names=names)

    def _add(self, node):
        self.nodes.append(node)
        return node

    # 内置运算：正向值当场计算，局部导数写成公式
    def add(self, a, b, label="+"):
        return self.op(label, [a, b], a.value + b.value, lambda x, y: [1.0, 1.0])

    def mul(self, a, b, label="×"):
        # 乘法节点的局部导数是“翻转值”：对 a 的导数是 b，对 b 的导数是 a
        return self.op(label, [a, b], a.value * b.value, lambda x, y: [y, x])

    def pow(self, a, k, label=None):
        return self.op(label or "**%g" % k, [a], a.value ** k, lambda x: [k * x ** (k - 1)])

    def scale(self, a, c, label=None):
        return self.op(label or "×(%g)" % c, [a], c * a.value, lambda x: [c])

    def shift(self, a, c, label=None):
        return self.op(label or "%+g" % c, [a], a.value + c, lambda x: [1.0])

    def exp(self, a, label="exp"):
        return self.op(label, [a], _exp(a.value), lambda x: [_exp(x)])

    def reciprocal(self, a, label="/"):
        return self.op(label, [a], 1.0 / a.value, lambda x: [-1.0 / (x * x)])

    # ---- 反向传播 ---------------------------------------------------------
    def topo_order(self):
        """节点的拓扑顺序（每个节点排在它的所有输入之后）。"""
        order, seen = [], set()

        def visit(n):
            if id(n) in seen:
                return
            seen.add(id(n))
            for p in n.inputs:
                visit(p)
            order.append(n)

        for n in self.nodes:
            visit(n)
        return order

    def backward(self, out=None, dout=1.0):
        """从 out 出发，按拓扑逆序把 上游值 × 局部导数 写到每条边上，并在分叉处累加。"""
        out = out or self.output
        self.output = out
        for n in self.nodes:
            n.grad = None
        for e in self.edges:
            e.grad = None
        self.steps = []
        out.grad = dout
        for node in reversed(self.topo_order()):
            if node.kind != "op" or node.grad is None:
                continue
            if node._local is None:
                raise ValueError("节点 %r 没有局部导数公式，请用 set_grad 手动写反向值" % node.label)
            locals_ = node._local(*[p.value for p in node.inputs])
            for edge in self.in_edges(node):
                local = locals_[edge.index]
                edge.grad = node.grad * local
                self.steps.append((edge, node.grad, local, edge.grad))
                src = edge.src
                src.grad = edge.grad if src.grad is None else src.grad + edge.grad
        return self

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
        from .svg import render

        return render(self, **options)

    def _repr_svg_(self):
        return self.to_svg()


def _exp(x):
    return np.exp(x) if isinstance(x, np.ndarray) else math.exp(x)
