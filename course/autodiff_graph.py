"""把学生自己写的自动微分引擎算出的计算过程画成 course.graph.Graph，并核对每个梯度。

只靠“鸭子类型”读取节点：.data（正向值）、.grad（引擎算出的梯度）、._prev（输入节点）、
._op（运算名），可选 .label。所以第 06 课的 Value、micrograd 之类的小引擎都能画。
边的上方是正向值，下方是这条边上传回去的反向值：终点节点的 grad × 局部导数（和前几课一致）。
局部导数按运算名重新算一遍（'+'、'*'、'**k'、'exp'、'tanh'、'relu'），不用引擎自己的闭包，
于是引擎哪里算错了，图上就能标出来：红色粗边下面写着“应为多少”。
"""
import math
import numbers
import re

from .fmt import fmt
from .graph import Graph

__all__ = ["graph_nodes", "local_derivatives", "expected_grads", "to_graph"]

OP_LABELS = {"+": "+", "*": "×", "exp": "exp", "tanh": "tanh", "relu": "ReLU"}
MAX_NODES = 200


def _require_node(v, what):
    missing = [a for a in ("data", "_prev", "_op") if not hasattr(v, a)]
    if missing:
        raise TypeError("%s 应当是计算图里的节点（比如你写的 Value，带 .data、.grad、._prev、._op），"
                        "它却是 %s，没有 .%s" % (what, type(v).__name__, missing[0]))


def _inputs(v):
    try:
        return list(v._prev)
    except TypeError:
        raise TypeError("节点的 ._prev 应当是由输入节点组成的 tuple，你的是 %s" % type(v._prev).__name__) from None


def graph_nodes(root, max_nodes=None):
    """root 所在计算图的全部节点，按拓扑顺序（每个节点都排在它的输入之后）。

    用显式的栈代替递归，很深的链也不会超出 Python 的递归深度。
    """
    _require_node(root, "root")
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        v, done = stack.pop()
        if done:
            order.append(v)
            continue
        if id(v) in seen:
            continue
        _require_node(v, "图里的某个节点")
        seen.add(id(v))
        if max_nodes is not None and len(seen) > max_nodes:
            raise ValueError("这张图有超过 %d 个节点，画出来看不清；换一个小一点的例子" % max_nodes)
        stack.append((v, True))  # 等它的输入都排好了再排它自己
        stack.extend((p, False) for p in reversed(_inputs(v)))
    return order


def local_derivatives(v):
    """节点 v 的输出对它每个输入的局部导数（与 v._prev 的顺序一致）；不认识的运算返回 None。"""
    op, xs = str(v._op), [p.data for p in _inputs(v)]
    if not all(isinstance(x, numbers.Real) for x in xs):
        return None
    if op == "+":
        return [1.0] * len(xs) if len(xs) == 2 else ([2.0] if len(xs) == 1 else None)  # set 里的 a + a 只剩一个
    if op == "*":
        return [xs[1], xs[0]] if len(xs) == 2 else ([2.0 * xs[0]] if len(xs) == 1 else None)  # 翻转值
    if len(xs) != 1:
        return None
    x = xs[0]
    if op.startswith("**"):
        try:
            k = float(op[2:])
        except ValueError:
            return None
        return [k * x ** (k - 1)]
    formulas = {"exp": lambda: math.exp(x), "tanh": lambda: 1.0 - math.tanh(x) ** 2,
                "relu": lambda: 1.0 if x > 0 else 0.0}
    return [formulas[op]()] if op in formulas else None


def expected_grads(root, order=None):
    """按局部导数和链式法则重新算一遍：{id(节点): 正确的 grad}；不认识的运算下游记为 None。"""
    order = order or graph_nodes(root)
    grads = {id(v): 0.0 for v in order}
    grads[id(root)] = 1.0
    for v in reversed(order):  # 拓扑顺序的逆序：轮到 v 时，它的梯度已经收齐
        g, inputs = grads[id(v)], _inputs(v)
        local = local_derivatives(v) if inputs else None
        for i, p in enumerate(inputs):
            if g is None or local is None or grads[id(p)] is None:
                grads[id(p)] = None
            else:
                grads[id(p)] += g * local[i]  # 分叉处梯度相加
    return grads


def to_graph(root, names=None, title=None, output_label=None, check=True):
    """把 root 所在的计算图画成 Graph（在 notebook 里作为单元的最后一个表达式就会显示）。

    names: {名字: 节点}，给叶子节点起名字；没给名字的叶子用 .label，再没有就写出它的值（常数）
    check: 为 True 时，与 expected_grads 不一致的反向值标成红色，并写出应为多少
    有名字的叶子被用了不止一次时，名字后面写上它的 grad（∂…），因为这时它不等于任何一条边上的值；
    叶子的 grad 算错了，就写成“∂得到≠应为”。
    """
    order = graph_nodes(root, MAX_NODES)
    if names is not None and not isinstance(names, dict):
        raise TypeError("names 应当是 {名字: 节点} 的字典，例如 dict(a=a, b=b)")
    label_of = {id(v): str(k) for k, v in (names or {}).items()}
    want = expected_grads(root, order) if check else {}
    uses = {}
    for v in order:
        for p in _inputs(v):
            uses[id(p)] = uses.get(id(p), 0) + 1
    g = _Drawing(title=title, output_label=output_label)
    node_of = {}
    for v in order:
        inputs = _inputs(v)
        if not inputs:
            name = label_of.get(id(v)) or str(getattr(v, "label", "") or "")
            label = _leaf_label(name or fmt(v.data, 4), v, want.get(id(v)), bool(name) and uses.get(id(v), 0) > 1)
            node = g.input(label, value=v.data, name=name or None)
        else:
            op = str(v._op)
            node = g.op(OP_LABELS.get(op, op or "?"), [node_of[id(p)] for p in inputs], value=v.data,
                        name=label_of.get(id(v)))
        node.grad = getattr(v, "grad", None)
        node.source = v
        node_of[id(v)] = node
    for v in order:
        own, right = getattr(v, "grad", None), want.get(id(v))
        if not _inputs(v) and isinstance(own, numbers.Real) and right is not None and not _close(own, right):
            for e in g.out_edges(node_of[id(v)]):
                e.mark = "wrong"  # 叶子的 grad 与它该收到的梯度之和对不上
        local = local_derivatives(v) if _inputs(v) else None
        for e in g.in_edges(node_of[id(v)]):
            if local is None or not isinstance(own, numbers.Real):
                continue
            e.grad = own * local[e.index]  # 上游值 × 局部导数
            if check and right is not None and not _close(e.grad, right * local[e.index]):
                e.mark, e.expected = "wrong", right * local[e.index]
    g.output = node_of[id(root)]
    return g


class _Drawing(Graph):
    """和 Graph 一样，只是画图时给左边较长的叶子名字留出地方（course.svg 只留了约 86 像素）。"""

    def to_svg(self, **options):
        svg = super().to_svg(**options)
        pad = max([_text_width(n.label) - 80 for n in self.nodes if n.kind == "input"] + [0])
        m = _SIZE.search(svg)
        if not pad or m is None:
            return svg
        w, h, vw, vh = (float(x) for x in m.groups())
        scale = w / vw
        return svg.replace(m.group(0), 'width="%d" height="%d" viewBox="%d 0 %d %d"'
                           % (w + pad * scale, h, -pad, vw + pad, vh), 1)


_SIZE = re.compile(r'width="([\d.]+)" height="([\d.]+)" viewBox="0 0 ([\d.]+) ([\d.]+)"')


def _text_width(text, size=14):
    return int(sum(size if ord(ch) > 0x2E7F else 0.6 * size for ch in text))


def _leaf_label(label, v, right, show_grad):
    """叶子节点的名字；需要时后面写上它的 grad（叶子没有往回传的边，只能写在这里）。"""
    grad = getattr(v, "grad", None)
    if not isinstance(grad, numbers.Real):
        return label
    wrong = right is not None and not _close(grad, right)
    if wrong:
        return "%s ∂%s≠%s" % (label, fmt(grad, 3), fmt(right, 3))
    return "%s ∂%s" % (label, fmt(grad, 4)) if show_grad else label


def _close(a, b):
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))
