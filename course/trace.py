"""把 micrograd 风格的自动求导引擎里的一次计算转成 course.graph.Graph（供 Graph.from_value 使用）。

这类引擎的每个标量对象有 data（正向值）、_prev（输入的集合或元组）、_op（运算名），
可选 label 和 grad。叶子变成输入节点，其余变成运算节点；已知运算的局部导数在这里重新写出，
于是 Graph.backward() 能一步一步记下“上游值 × 局部导数”，BackwardStepper 可以回放。
引擎自己算出的梯度没有被丢掉：每个节点的 node.source 就是原来的对象，可以拿 .grad 对照。
"""
import math
import numbers
import re

__all__ = ["graph_from_value", "KNOWN_OPS"]

KNOWN_OPS = ("+", "*", "**k", "exp", "tanh", "relu", "neg", "log", "sigmoid", "-", "/")
_LABELS = {"+": "+", "*": "×", "exp": "exp", "tanh": "tanh", "relu": "ReLU", "neg": "×(-1)",
           "log": "log", "sigmoid": "σ", "-": "−", "/": "/"}
_POW = re.compile(r"^\*\*\s*\(?\s*(-?\d+(?:\.\d*)?(?:[eE]-?\d+)?)\s*\)?$")


def graph_from_value(root, graph, max_nodes=200):
    """root: 最终输出的标量对象；graph: 一张空的 Graph。返回已经做完 backward() 的 graph。"""
    _require_value(root, "root")
    order = _topo(root, max_nodes)
    users = {}
    for v in order:
        for p in _parents(v)[0]:
            users[id(p)] = users.get(id(p), 0) + 1
    nodes = {}
    for v in order:
        parents, ordered = _parents(v)
        label = str(getattr(v, "label", "") or "")
        if not parents:
            n = graph.input(label, _data(v), name=label or "v%d" % len(graph.nodes))
        else:
            op = str(getattr(v, "_op", "") or "")
            local = _local(op, parents, ordered, v, users)
            n = graph.op(_op_label(op), [nodes[id(p)] for p in parents], value=_data(v), local=local,
                         name=label or None)
        n.source = v
        nodes[id(v)] = n
    graph.output = nodes[id(root)]
    return graph.backward(graph.output)


def _require_value(v, what):
    if not (hasattr(v, "data") and hasattr(v, "_prev")):
        raise TypeError("Graph.from_value 需要 micrograd 风格的对象（带 .data 和 ._prev），%s 却是 %s"
                        % (what, type(v).__name__))


def _parents(v):
    """返回 (输入列表, 是否有确定的顺序)。_prev 是 set 时按 (label, data) 排序，让图每次画得一样。"""
    prev = getattr(v, "_prev", ()) or ()
    if isinstance(prev, (list, tuple)):
        return list(prev), True
    items = list(prev)
    items.sort(key=lambda p: (str(getattr(p, "label", "") or ""), _sort_number(p)))
    return items, len(items) <= 1


def _sort_number(p):
    d = getattr(p, "data", 0)
    return float(d) if isinstance(d, numbers.Real) else 0.0


def _topo(root, max_nodes):
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        v, done = stack.pop()
        if done:
            order.append(v)
            continue
        if id(v) in seen:
            continue
        seen.add(id(v))
        _require_value(v, "计算过程中的某个节点")
        if len(seen) > max_nodes:
            raise ValueError("这次计算有超过 %d 个节点，画出来会看不清；换一个小一点的例子" % max_nodes)
        stack.append((v, True))
        for p in reversed(_parents(v)[0]):
            if id(p) not in seen:
                stack.append((p, False))
    return order


def _data(v):
    d = v.data
    return float(d) if isinstance(d, numbers.Real) and not isinstance(d, bool) else d


def _op_label(op):
    key = op.lower() if op.lower() in ("relu", "exp", "tanh", "log", "neg", "sigmoid") else op
    return _LABELS.get(key, op or "?")


def _local(op, parents, ordered, v, users):
    """按运算名写出局部导数；未知运算只在能从引擎的梯度里唯一推出时才接受。"""
    key, n = op.lower(), len(parents)
    if key == "+":
        return (lambda x: [2.0]) if n == 1 else (lambda *xs: [1.0] * len(xs))
    if key == "*" and n == 2:
        return lambda x, y: [y, x]  # 翻转值
    if key == "*" and n == 1:
        return lambda x: [2 * x]  # a * a：两个输入是同一个对象
    m = _POW.match(op)
    if m and n == 1:
        k = float(m.group(1))
        return lambda x: [k * x ** (k - 1)]
    if n == 1 and key in _UNARY:
        return _UNARY[key]
    if n == 2 and ordered and key == "-":
        return lambda x, y: [1.0, -1.0]
    if n == 2 and ordered and key == "/":
        return lambda x, y: [1.0 / y, -x / (y * y)]
    return _from_engine_grads(op, parents, v, users)


_UNARY = {
    "exp": lambda x: [math.exp(x)],
    "tanh": lambda x: [1.0 - math.tanh(x) ** 2],
    "relu": lambda x: [1.0 if x > 0 else 0.0],
    "neg": lambda x: [-1.0],
    "log": lambda x: [1.0 / x],
    "sigmoid": lambda x: [_sigmoid(x) * (1.0 - _sigmoid(x))],
}


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def _from_engine_grads(op, parents, v, users):
    p = parents[0]
    g_out, g_in = getattr(v, "grad", None), getattr(p, "grad", None)
    if (len(parents) == 1 and users.get(id(p)) == 1 and isinstance(g_out, numbers.Real)
            and isinstance(g_in, numbers.Real) and g_out != 0):
        local = float(g_in) / float(g_out)  # 只有一条路径时：输入的梯度 = 上游值 × 局部导数
        return lambda x: [local]
    raise ValueError(
        "不认识运算 %r（输入 %d 个），没法写出它的局部导数。认识的运算：%s；"
        "其他单输入运算需要先调用 backward()，而且它的输入只被用了一次"
        % (op, len(parents), " ".join(KNOWN_OPS)))
