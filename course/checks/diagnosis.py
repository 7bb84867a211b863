"""诊断图：学生的层或计算图没通过检查时，把学生算出的反向值和应有的值画在同一张图上。

反向传播从右往左走，所以按反向的顺序比较，只把第一个出错的信号（离输出最近的那个）标出来：
它之后的错误多半只是连锁反应，先把它改对就行。对的边标绿；出错的边画成橙色粗虚线，带一个 ✗ 记号，
下方写“应为 ...”（红色留给反向值本身）。图下方的图例由 course.graph.svg 自动加上。
diagnose_graph 对任意一张图做这件事；diagnose_apple_orange 直接拿学生的 MulLayer、AddLayer
搭出买苹果和橘子的图再诊断。
"""
import numpy as np

from ._core import CheckFailure, call, expect_number, expect_tuple
from ..graph.examples import apple_orange_graph
from ..fmt import fmt
from ..graph.model import Edge, Graph

__all__ = ["Diagnosis", "backward_order", "diagnose_graph", "diagnose_apple_orange"]


class Diagnosis:
    """诊断的结果。g, name = diagnosis 可以直接拆开；在 notebook 里显示为标好颜色的图。

    graph: 标好 mark / expected 的图；edge: 第一个出错的边（全对时为 None）；
    name: 它的名字（例如 "dorange"）；message: 中文说明；ok: 是否全对。
    """

    def __init__(self, graph, edge, lines):
        self.graph, self.edge = graph, edge
        self.name = None if edge is None else (edge.name or edge.describe())
        self.lines = lines  # [(None / "ok" / "wrong", 文字)]，画在图的下方

    @property
    def ok(self):
        return self.edge is None and not any(mark == "wrong" for mark, _ in self.lines)

    @property
    def message(self):
        return "\n".join(text for _, text in self.lines)

    def __iter__(self):
        return iter((self.graph, self.name))

    def to_svg(self):
        return self.graph.to_svg(caption=self.lines)

    def _repr_svg_(self):
        return self.to_svg()

    def __repr__(self):
        return "Diagnosis(%s)" % ("全部正确" if self.ok else self.message)

    def show(self):
        """在 notebook 里显示诊断图（检查函数报错前调用）；不在 IPython 内核里时什么也不做。"""
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:
            return
        if get_ipython() is not None:
            display(self)


def backward_order(graph):
    """反向传播经过各条边的顺序：运算节点按拓扑逆序，同一节点的输入边按序号。"""
    edges = []
    for node in reversed(graph.topo_order()):
        edges += sorted(graph.in_edges(node), key=lambda e: e.index)
    return edges


def diagnose_graph(graph, expected, rtol=1e-6, atol=1e-9):
    """比较图上每条边的反向值与期望值，标出第一个错的，返回 Diagnosis。

    expected: 结构相同、已经做过 backward() 的参考图；或者字典，
    键是 Edge、边的名字（Edge.name，如 "dapple"）或 (起点名, 终点名)，值是应有的反向值。
    """
    if not isinstance(graph, Graph):
        raise TypeError("diagnose_graph 的第一个参数应当是 course.graph.model.Graph，收到的是 %s" % type(graph).__name__)
    want, locals_ = _expected_map(graph, expected)
    first, later = None, 0
    for e in backward_order(graph):
        e.mark, e.expected = None, None
        if id(e) not in want:
            continue
        if _close(e.grad, want[id(e)], rtol, atol):
            e.mark = "ok"
        elif first is None:
            first, e.mark, e.expected = e, "wrong", want[id(e)]
        elif e.grad is not None:  # 还没算到（None）的边不算在连锁反应里
            later += 1
    if first is None:
        return Diagnosis(graph, None, [("ok", "所有反向值都和期望一致")])
    lines = [("wrong", "第一个出错的反向值：%s，应为 %s，你的是 %s"
              % (first.describe(), fmt(first.expected, 5), fmt(first.grad, 5)))]
    upstream, local = first.dst.grad, locals_.get(id(first))
    if upstream is not None and local is not None:
        lines.append((None, "在节点 %s 处：上游传来的导数 %s × 局部导数 %s = %s"
                      % (first.dst.label, fmt(upstream, 5), fmt(local, 5), fmt(first.expected, 5))))
    if later:
        lines.append((None, "另外还有 %d 个反向值也不对；先改这一处，后面的往往跟着就对了" % later))
    return Diagnosis(graph, first, lines)


def _expected_map(graph, expected):
    """返回 ({id(edge): 期望值}, {id(edge): 局部导数})；局部导数只有参考图才有。"""
    if isinstance(expected, Graph):
        if len(expected.edges) != len(graph.edges) or any(
                (a.src.label, a.dst.label) != (b.src.label, b.dst.label) for a, b in zip(graph.edges, expected.edges)):
            raise ValueError("参考图和要诊断的图结构不同（边的数目或节点不一致）")
        index = {id(ref): id(e) for e, ref in zip(graph.edges, expected.edges)}
        want = {index[id(ref)]: ref.grad for ref in expected.edges if ref.grad is not None}
        locals_ = {index[id(edge)]: local for edge, _, local, _ in expected.steps}
        return want, locals_
    if not isinstance(expected, dict):
        raise TypeError("expected 应当是参考图（Graph）或 {边: 期望值} 的字典，收到的是 %s" % type(expected).__name__)
    want = {}
    for key, value in expected.items():
        want[id(_find_edge(graph, key))] = value
    return want, {}


def _find_edge(graph, key):
    if isinstance(key, Edge):
        if any(e is key for e in graph.edges):
            return key
        raise KeyError("这条边 %s 不在要诊断的图里" % key.describe())
    for e in graph.edges:
        if (isinstance(key, str) and e.name == key) or (
                isinstance(key, tuple) and len(key) == 2 and key in ((e.src.name, e.dst.name), (e.src.label, e.dst.label))):
            return e
    raise KeyError("图里找不到边 %r：键可以是 Edge、边的名字或 (起点名, 终点名)" % (key,))


def _close(got, want, rtol, atol):
    if got is None:
        return want is None
    try:
        g, w = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return g.shape == w.shape and bool(np.allclose(g, w, rtol=rtol, atol=atol))


def diagnose_apple_orange(MulLayer, AddLayer, apple=100, apple_num=2, orange=150, orange_num=3, tax=1.1):
    """用学生的 MulLayer、AddLayer 按书里的顺序算买苹果和橘子的例子，返回 Diagnosis。

    正向：apple_price、orange_price、all_price、price；反向：从 dprice = 1 开始，
    依次经过消费税的乘法层、加法层、橘子和苹果的乘法层。学生代码出错时不抛异常，
    而是把出错的原因写进 message，图上画出已经算到的部分。
    """
    for cls, name in ((MulLayer, "MulLayer"), (AddLayer, "AddLayer")):
        if not isinstance(cls, type):
            raise TypeError("%s 应当传入类本身（写 %s，不要写 %s()），收到的是 %s" % (name, name, name, type(cls).__name__))
    ref = apple_orange_graph(apple, apple_num, orange, orange_num, tax)
    g = apple_orange_graph(apple, apple_num, orange, orange_num, tax, backward=False)
    node = {n.name: n for n in g.nodes}
    for n in g.nodes:
        if n.kind == "op":
            n.value = None  # 正向值全部由学生的层来算
    problems = []
    try:
        layers = {k: call(c, what="%s()" % c.__name__) for k, c in
                  (("apple_price", MulLayer), ("orange_price", MulLayer), ("all_price", AddLayer), ("price", MulLayer))}
        for out in ("apple_price", "orange_price", "all_price", "price"):  # 正向：从左到右
            a, b = node[out].inputs
            what = "%s.forward(%s, %s)" % (type(layers[out]).__name__, fmt(a.value), fmt(b.value))
            node[out].value = expect_number(call(layers[out].forward, a.value, b.value, what=what), what + " 的返回值")
        g.set_output_grad(1)
        for out in ("price", "all_price", "orange_price", "apple_price"):  # 反向：从右到左
            dout = node[out].grad
            what = "%s.backward(%s)" % (type(layers[out]).__name__, fmt(dout))
            pair = expect_tuple(call(layers[out].backward, dout, what=what), 2, what + " 的返回值", ["dx", "dy"])
            for src, d in zip(node[out].inputs, pair):
                g.set_grad(src, node[out], expect_number(d, what + " 的返回值"))
    except CheckFailure as exc:
        text = str(exc).splitlines()
        problems += [("wrong", "算到一半出错了：" + text[0])] + [("wrong", t) for t in text[1:]]
    for n in ref.nodes:
        mine = node[n.name].value
        if n.kind == "op" and mine is not None and not _close(mine, n.value, 1e-6, 1e-9):
            problems.append(("wrong", "正向传播已经不对：%s 应为 %s，你的是 %s" % (n.name, fmt(n.value, 6), fmt(mine, 6))))
            break
    diag = diagnose_graph(g, ref)
    if problems:
        diag.lines = problems + (diag.lines if diag.edge is not None else [])
    return diag
