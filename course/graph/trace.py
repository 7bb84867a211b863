"""读出 micrograd 风格的自动求导引擎里的一次计算：找出全部节点，写出每个运算的局部导数，转成 Graph。

这类引擎的每个标量对象有 data（正向值）、_prev（输入的集合或元组）、_op（运算名），
可选 label 和 grad。课程里“顺着 _prev 找节点”和“按运算名写局部导数”的代码只有这一份：
- Graph.from_value（BackwardStepper 回放用）调用 graph_from_value：局部导数挂在运算节点上，
  Graph.backward() 能一步一步记下“上游值 × 局部导数”；
- course.graph.autodiff.to_graph（核对学生的引擎）用 walk、build_nodes 和 local_derivatives，
  把引擎自己算出的 grad 和按局部导数重算的结果画在一起。
每个节点的 node.source 是原来的对象，可以拿它的 .grad 对照。
"""
import math
import numbers

from ..fmt import fmt

__all__ = ["graph_from_value", "walk", "inputs_of", "canonical_op", "local_rule", "local_derivatives", "build_nodes",
           "KNOWN_OPS"]

KNOWN_OPS = ("+", "*", "**k", "exp", "tanh", "relu", "neg", "log", "sigmoid", "-", "/")
_LABELS = {"+": "+", "*": "×", "exp": "exp", "tanh": "tanh", "relu": "ReLU", "neg": "×(-1)",
           "log": "log", "sigmoid": "σ", "-": "−", "/": "/"}


# ---- 遍历 -----------------------------------------------------------------------
def _require_value(v, what):
    if not (hasattr(v, "data") and hasattr(v, "_prev")):
        raise TypeError("Graph.from_value 需要 micrograd 风格的对象（带 .data 和 ._prev），%s 却是 %s"
                        % (what, type(v).__name__))


def inputs_of(v):
    """返回 (输入列表, 顺序是否确定)。_prev 是 set 时按 (label, data) 排序，让图每次画得一样。"""
    prev = getattr(v, "_prev", ()) or ()
    try:
        items = list(prev)
    except TypeError:
        raise TypeError("节点的 ._prev 应当是由输入节点组成的 tuple，你的是 %s" % type(prev).__name__) from None
    if isinstance(prev, (list, tuple)):
        return items, True
    items.sort(key=lambda p: (str(getattr(p, "label", "") or ""), _sort_number(p)))
    return items, len(items) <= 1


def _sort_number(p):
    d = getattr(p, "data", 0)
    return float(d) if isinstance(d, numbers.Real) else 0.0


def walk(root, max_nodes=None, require=_require_value):
    """root 所在计算图的全部节点，按拓扑顺序（每个节点都排在它的输入之后）。

    用显式的栈代替递归，很深的链也不会超出 Python 的递归深度。
    require(v, 说明) 检查一个对象是不是节点，不是就抛出 TypeError。
    """
    require(root, "root")
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        v, done = stack.pop()
        if done:
            order.append(v)
            continue
        if id(v) in seen:
            continue
        require(v, "计算过程中的某个节点")
        seen.add(id(v))
        if max_nodes is not None and len(seen) > max_nodes:
            raise ValueError("这次计算有超过 %d 个节点，画出来会看不清；换一个小一点的例子" % max_nodes)
        stack.append((v, True))  # 等它的输入都排好了再排它自己
        stack.extend((p, False) for p in reversed(inputs_of(v)[0]) if id(p) not in seen)
    return order


# ---- 局部导数 ---------------------------------------------------------------------
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


def _power(op):
    """'**2'、'**-1'、'**(0.5)'、'** 3' 里的指数；不是幂运算时返回 None。"""
    if not op.startswith("**"):
        return None
    text = op[2:].strip().strip("()").strip()
    try:
        return float(text)
    except ValueError:
        return None


# 同一个运算的别的常见写法（不分大小写）：_op 只是标签，'ReLU'、'max'、'add' 都该认得
_ALIASES = {"add": "+", "plus": "+", "sum": "+", "mul": "*", "times": "*", "×": "*", "·": "*",
            "max": "relu", "e^x": "exp", "e**x": "exp", "sub": "-", "div": "/", "÷": "/"}


def canonical_op(op):
    """运算名的标准写法：'ReLU'、'max' -> 'relu'，'add' -> '+'，'MUL' -> '*'；幂 '**2' 原样返回。"""
    op = str(op or "").strip()
    key = op.lower()
    return _ALIASES.get(key, key if key in _UNARY or key in ("+", "*", "-", "/") else op)


def local_rule(op, n, ordered=True):
    """运算 op（n 个输入）的局部导数公式：f(*输入的值) -> [∂out/∂输入_i]；不认识时返回 None。

    ordered 为 False（_prev 是 set）时分不清两个输入谁先谁后，减法和除法就不认。
    """
    op = canonical_op(op)
    key = op.lower()
    if key == "+":
        return (lambda x: [2.0]) if n == 1 else (lambda *xs: [1.0] * len(xs))  # set 里的 a + a 只剩一个
    if key == "*" and n == 2:
        return lambda x, y: [y, x]  # 翻转值
    if key == "*" and n == 1:
        return lambda x: [2 * x]  # a * a：两个输入是同一个对象
    k = _power(op)
    if k is not None and n == 1:
        return lambda x: [k * x ** (k - 1)]
    if n == 1 and key in _UNARY:
        return _UNARY[key]
    if n == 2 and ordered and key == "-":
        return lambda x, y: [1.0, -1.0]
    if n == 2 and ordered and key == "/":
        return lambda x, y: [1.0 / y, -x / (y * y)]
    return None


def local_derivatives(v):
    """节点 v 的输出对它每个输入的局部导数（与 inputs_of(v) 的顺序一致）。

    不认识的运算、输入不是实数、或者公式在这一点上算不出来（溢出、除以 0）时返回 None。
    """
    parents, ordered = inputs_of(v)
    xs = [getattr(p, "data", None) for p in parents]
    if not parents or not all(isinstance(x, numbers.Real) and not isinstance(x, bool) for x in xs):
        return None
    rule = local_rule(getattr(v, "_op", ""), len(parents), ordered)
    if rule is None:
        return None
    try:
        return [float(d) for d in rule(*xs)]
    except (ArithmeticError, ValueError):
        return None


def _from_engine_grads(op, parents, v, users):
    """不认识的单输入运算：只有一条路径时，输入的梯度 = 上游值 × 局部导数，可以反推出局部导数。"""
    p = parents[0]
    g_out, g_in = getattr(v, "grad", None), getattr(p, "grad", None)
    if (len(parents) == 1 and users.get(id(p)) == 1 and isinstance(g_out, numbers.Real)
            and isinstance(g_in, numbers.Real) and g_out != 0):
        local = float(g_in) / float(g_out)
        return lambda x: [local]
    raise ValueError(
        "不认识运算 %r（输入 %d 个），没法写出它的局部导数。认识的运算：%s；"
        "其他单输入运算需要先调用 backward()，而且它的输入只被用了一次"
        % (op, len(parents), " ".join(KNOWN_OPS)))


# ---- 转成 Graph ----------------------------------------------------------------------
def _data(v):
    d = v.data
    return float(d) if isinstance(d, numbers.Real) and not isinstance(d, bool) else d


def _op_label(op):
    return _LABELS.get(canonical_op(op), op or "?")


def build_nodes(order, graph, names=None, unknown="skip"):
    """按拓扑顺序 order 把节点加进 graph，返回 {id(原对象): 图里的节点}。

    names: {名字: 原对象}。叶子的名字依次取 names、.label，都没有就写出它的值（常数）。
    运算节点带上局部导数公式；unknown 决定不认识的运算怎么办：
    "skip" 不写局部导数（这张图就不能 backward()），"infer" 从引擎算好的 grad 里反推，推不出就抛出 ValueError。
    """
    label_of = {id(v): str(k) for k, v in (names or {}).items()}
    users = {}
    if unknown == "infer":
        for v in order:
            for p in inputs_of(v)[0]:
                users[id(p)] = users.get(id(p), 0) + 1
    nodes = {}
    for v in order:
        parents, ordered = inputs_of(v)
        name = label_of.get(id(v)) or str(getattr(v, "label", "") or "") or None
        if not parents:
            node = graph.input(name or fmt(_data(v), 4), _data(v), name=name)
        else:
            op = str(getattr(v, "_op", "") or "")
            local = local_rule(op, len(parents), ordered)
            if local is None and unknown == "infer":
                local = _from_engine_grads(op, parents, v, users)
            node = graph.op(_op_label(op), [nodes[id(p)] for p in parents], value=_data(v), local=local, name=name)
        node.source = v
        nodes[id(v)] = node
    return nodes


def graph_from_value(root, graph, max_nodes=200, names=None):
    """root: 最终输出的标量对象；graph: 一张空的 Graph。返回已经做完 backward() 的 graph。"""
    order = walk(root, max_nodes)
    nodes = build_nodes(order, graph, names, unknown="infer")
    graph.output = nodes[id(root)]
    return graph.backward(graph.output)
