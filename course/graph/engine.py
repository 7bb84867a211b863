"""把学生自己写的自动微分引擎算出的计算过程画成 course.graph.model.Graph，并核对每个梯度。

只靠“鸭子类型”读取节点：.data（正向值）、.grad（引擎算出的梯度）、._prev（输入节点）、
._op（运算名），可选 .label。所以第 06 课的 Value、micrograd 之类的小引擎都能画。
边的上方是正向值，下方是这条边上传回去的反向值：终点节点的 grad × 局部导数（和前几课一致）。
遍历节点、按运算名重算局部导数都交给 course.graph.trace（Graph.from_value 用的也是它），
不用引擎自己的闭包，于是引擎哪里算错了，图上就能标出来，标法分两种：
- 一条边传回的值本身不对（终点的 grad 错了，乘上局部导数也就错了）：这条边画成带 ✗ 的橙色粗虚线，下面写着“应为多少”；
- 传进一个节点的各条边都对，只是加在一起的结果（节点的 grad）不对，比如闭包里把 += 写成了 =，
  或者节点在梯度收齐之前就往下传了：标的是这个节点（名字或圆圈变成橙色，带 ✗），它的边照常画。

第 06 课的 notebook 经 course.graph.autodiff 调用这里；nbgrader 评分时学生的内核里看不到本模块
（遍历加拓扑排序就是练习 backward 的答案），评分进程里的检查函数照常用它。
"""
import numbers

from ..fmt import fmt
from .model import Graph
from .trace import build_nodes, inputs_of, local_derivatives, walk

__all__ = ["graph_nodes", "local_derivatives", "expected_grads", "to_graph"]

MAX_NODES = 200


def _require_node(v, what):
    missing = [a for a in ("data", "_prev") if not hasattr(v, a)]  # _op 可以没有：只是画不出运算名
    if missing:
        raise TypeError("%s 应当是计算图里的节点（比如你写的 Value，带 .data、.grad、._prev、._op），"
                        "它却是 %s，没有 .%s" % (what, type(v).__name__, missing[0]))


def graph_nodes(root, max_nodes=None):
    """root 所在计算图的全部节点，按拓扑顺序（每个节点都排在它的输入之后）。"""
    return walk(root, max_nodes, require=_require_node)


def expected_grads(root, order=None):
    """按局部导数和链式法则重新算一遍：{id(节点): 正确的 grad}；不认识的运算下游记为 None。"""
    order = order or graph_nodes(root)
    grads = {id(v): 0.0 for v in order}
    grads[id(root)] = 1.0
    for v in reversed(order):  # 拓扑顺序的逆序：轮到 v 时，它的梯度已经收齐
        g, inputs = grads[id(v)], inputs_of(v)[0]
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
    check: 为 True 时，与 expected_grads 不一致的反向值标成带 ✗ 的橙色粗虚线，并写出应为多少；
           grad 与 expected_grads 不一致的节点标成橙色带 ✗（node.mark = "wrong"），它的出边只按自己的值标
    有名字的叶子被用了不止一次时，名字后面写上它的 grad（∂…），因为这时它不等于任何一条边上的值；
    叶子的 grad 算错了，就写成“∂得到≠应为”。
    运算都认识时，返回的图也能交给 BackwardStepper 一步一步回放（回放时按局部导数重算）。
    """
    order = graph_nodes(root, MAX_NODES)
    if names is not None and not isinstance(names, dict):
        raise TypeError("names 应当是 {名字: 节点} 的字典，例如 dict(a=a, b=b)")
    want = expected_grads(root, order) if check else {}
    uses = {}
    for v in order:
        for p in inputs_of(v)[0]:
            uses[id(p)] = uses.get(id(p), 0) + 1
    named = {id(v) for v in (names or {}).values()} | {id(v) for v in order if getattr(v, "label", "")}
    g = Graph(title=title, output_label=output_label)  # 叶子的长名字由 Graph 的版面自己留出地方
    node_of = build_nodes(order, g, names, unknown="skip")
    for v in order:
        node = node_of[id(v)]
        node.grad = getattr(v, "grad", None)  # 图上写的是引擎自己算出的梯度
        if node.kind == "input":
            node.label = _leaf_label(node.label, v, want.get(id(v)), id(v) in named and uses.get(id(v), 0) > 1)
    for v in order:
        own, right = getattr(v, "grad", None), want.get(id(v))
        if check and isinstance(own, numbers.Real) and right is not None and not _close(own, right):
            node_of[id(v)].mark = "wrong"  # 节点收齐的梯度不对：标节点，不标它那些值没错的出边
        local = local_derivatives(v) if node_of[id(v)].kind == "op" else None
        for e in g.in_edges(node_of[id(v)]):
            if local is None or not isinstance(own, numbers.Real):
                continue
            e.grad = own * local[e.index]  # 上游值 × 局部导数
            if check and right is not None and not _close(e.grad, right * local[e.index]):
                e.mark, e.expected = "wrong", right * local[e.index]
    g.output = node_of[id(root)]
    return g


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
