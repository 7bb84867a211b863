"""第 02 课“反向传播与简单层”的检查（二）：用乘法层和加法层搭出买苹果和橘子的计算图。

学生的函数 apple_orange_with_layers(apple, apple_num, orange, orange_num, tax, MulLayer, AddLayer, dout=1)
返回 (values, grads) 两个 dict。检查时传给它的是检查自己的两个记录层，它们照常计算，同时记下
每一次调用：这样只评连线，不受学生自己的层写得对不对影响；记下的调用用来判断错在哪一步
（同一个层对象用在两个节点上、backward 的顺序反了、没把上一层的导数传下去……）。
反向值不对时，公开的检查（report=True）在报错之前先在 notebook 里画出诊断图：学生的反向值写在图上，
第一个出错的信号标红（course.checks.diagram）。
"""
import re
from collections import Counter, namedtuple

import numpy as np

from ..fmt import fmt
from ._core import check, diagnose, expect_close, expect_tuple, fail, own_class, passed, rng_for, same_shape
from .diagram import shop_diagnosis, show_diagnosis
from .simple_layers import _run

__all__ = ["check_apple_orange_forward", "check_apple_orange_backward"]

INPUTS = ("apple", "apple_num", "orange", "orange_num", "tax")
VALUES = ("apple_price", "orange_price", "all_price", "price")
GRADS = ("all_price", "tax", "apple_price", "orange_price", "apple", "apple_num", "orange", "orange_num")
BOOK_SHOP = {"apple": 100, "apple_num": 2, "orange": 150, "orange_num": 3, "tax": 1.1}
FN = "apple_orange_with_layers"
NODE_NAMES = {"tax": "消费税的乘法层", "add": "加法层", "apple": "苹果的乘法层", "orange": "橘子的乘法层"}
UPSTREAM = {"tax": "整个图的上游导数 dout", "add": "消费税层返回的 dall_price",
            "apple": "加法层返回的 dapple_price", "orange": "加法层返回的 dorange_price"}
SOURCES = {"apple_price": "苹果的乘法层的 forward", "orange_price": "橘子的乘法层的 forward",
           "all_price": "加法层的 forward", "price": "消费税的乘法层的 forward",
           "dall_price": "消费税层的 backward", "dtax": "消费税层的 backward",
           "dapple_price": "加法层的 backward", "dorange_price": "加法层的 backward",
           "dapple": "苹果的乘法层的 backward", "dapple_num": "苹果的乘法层的 backward",
           "dorange": "橘子的乘法层的 backward", "dorange_num": "橘子的乘法层的 backward"}
ORDER_HINT = "反向传播从输出端开始，顺序与正向相反：先消费税层，再加法层，最后苹果和橘子的乘法层。"
REUSE_HINT = ("同一个 MulLayer 对象被用在了两个节点上：第二次 forward 覆盖了它存下的 x、y，backward 时用的就是"
              "别的节点的值。计算图里每个乘法节点都要有自己的层对象，比如 mul_apple_layer = MulLayer()、"
              "mul_orange_layer = MulLayer()、mul_tax_layer = MulLayer()。")
_Call = namedtuple("_Call", "kind layer method args")


# 节点的正向值和两个局部导数：乘法节点翻转两个输入，加法节点原样传下去
_NODES = {"mul": ("MulLayer", lambda x, y: x * y, lambda x, y: (y, x)),
          "add": ("AddLayer", lambda x, y: x + y, lambda x, y: (1, 1))}


def _recording(kind, log):
    """记录层：按 _NODES 计算，同时把每次调用记进 log。"""
    name, value, local = _NODES[kind]

    class Recorded:
        remote_methods = ("forward", "backward")  # 评分时学生的函数在内核里，只能建这个类的对象、调用这两个方法

        def forward(self, x, y):
            log.append(_Call(kind, self, "forward", (x, y)))
            self.x, self.y = x, y
            return value(x, y)

        def backward(self, dout=1):
            log.append(_Call(kind, self, "backward", (dout,)))
            dx, dy = local(self.x, self.y)
            return dout * dx, dout * dy

    Recorded.__name__ = Recorded.__qualname__ = name
    return Recorded


def _wiring_hint(exc):
    m = re.search(r"'(\w+)'", str(exc))
    name = m.group(1) if m else None
    if isinstance(exc, UnboundLocalError) and name in SOURCES:
        return "%s 还没算出来就被用到了（它来自%s）。%s" % (name, SOURCES[name], ORDER_HINT)
    if isinstance(exc, NameError) and name in SOURCES:
        return "变量 %s 没有定义：它应当来自%s，函数最后的 return 要用到它。" % (name, SOURCES[name])
    if isinstance(exc, TypeError) and "keyword argument 'dout'" in str(exc):
        return "%s 要接受参数 dout（默认为 1），把它交给最后一个层的 backward。" % FN
    return None


def _shop_cases(seed, shapes):
    """书上的例子（dout = 1），再加上随机的金额、个数和 dout。"""
    rng = rng_for(seed)
    cases = [(dict(BOOK_SHOP), 1)]
    for shape in shapes:
        size = tuple(shape) or None
        num = (lambda: float(rng.integers(1, 10))) if size is None else (lambda: rng.integers(1, 10, size) * 1.0)
        case = {"apple": rng.uniform(50, 300, size), "apple_num": num(), "orange": rng.uniform(50, 300, size),
                "orange_num": num(), "tax": rng.uniform(1.0, 1.3, size)}
        cases.append((case, rng.uniform(0.5, 2.0, size)))
    return cases


def _expected(c, dout):
    ap, op = c["apple"] * c["apple_num"], c["orange"] * c["orange_num"]
    dall = dout * c["tax"]  # 乘法节点：翻转值；加法节点：原样传给苹果和橘子
    values = {"apple_price": ap, "orange_price": op, "all_price": ap + op, "price": (ap + op) * c["tax"]}
    grads = {"all_price": dall, "tax": dout * (ap + op), "apple_price": dall, "orange_price": dall,
             "apple": dall * c["apple_num"], "apple_num": dall * c["apple"],
             "orange": dall * c["orange_num"], "orange_num": dall * c["orange"]}
    return values, grads


def _run_shop(fn, case, dout=None):
    __tracebackhide__ = True
    log = []
    layers = (_recording("mul", log), _recording("add", log))
    kwargs = {} if dout is None else {"dout": dout}
    res = _run(fn, *[case[k] for k in INPUTS], *layers, what="%s(...)" % FN, hint_for=_wiring_hint, **kwargs)
    values, grads = expect_tuple(res, 2, "%s 的返回值" % FN, names=["values", "grads"])
    for d, keys, name in ((values, VALUES, "values"), (grads, GRADS, "grads")):
        if not isinstance(d, dict):
            fail("返回值里的 %s 应当是 dict，你的是 %s。" % (name, type(d).__name__), show=False)
        missing = [k for k in keys if k not in d]
        if missing:
            fail("返回值里的 %s 缺少键 %s。" % (name, ", ".join(missing)), show=False,
                 hint="按说明返回这几个键：%s。" % ", ".join(keys))
    return values, grads, log


def _matches(got, expected):
    if not same_shape(got, np.shape(expected)):  # 先看形状：形状不同就不相符，不为它转换类型、比较
        return False
    try:
        g, e = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return g.shape == e.shape and bool(np.allclose(g, e, rtol=1e-6, atol=1e-8))


def _node_of(call_, case, values):
    """一次 forward 调用属于图里的哪个节点（按它收到的输入判断）。"""
    if call_.kind == "add":
        return "add"
    pairs = {"apple": (case["apple"], case["apple_num"]), "orange": (case["orange"], case["orange_num"]),
             "tax": (values["all_price"], case["tax"])}
    x, y = call_.args
    for name, (a, b) in pairs.items():
        if (_matches(x, a) and _matches(y, b)) or (_matches(x, b) and _matches(y, a)):
            return name
    return None


def _used_layers(log, case, values):
    """{节点名: 层对象}，以及每个乘法层对象做过几次 forward。"""
    nodes = {_node_of(c, case, values): c.layer for c in log if c.method == "forward"}
    counts = Counter(id(c.layer) for c in log if c.method == "forward" and c.kind == "mul")
    return nodes, counts


def _diagnose_backward(log, case, dout, values, grads, exp):
    nodes, counts = _used_layers(log, case, values)
    if any(n > 1 for n in counts.values()):
        return REUSE_HINT
    missing = [n for n in ("apple", "orange", "add", "tax") if n not in nodes]
    if missing:
        return ("图里找不到%s：每个节点都要用传进来的层算 forward，输入也要对（先通过正向传播的测试）。"
                % "、".join(NODE_NAMES[n] for n in missing))
    name_of = {id(layer): name for name, layer in nodes.items()}
    calls = [(name_of.get(id(c.layer)), c.args[0]) for c in log if c.method == "backward"]
    order = [n for n, _ in calls]
    for n in ("tax", "add", "apple", "orange"):
        if n not in order:
            return "%s没有调用 backward：每个层都要做一次反向传播。" % NODE_NAMES[n]
    rank = {"tax": 0, "add": 1, "apple": 2, "orange": 2}
    if any(rank.get(a, 0) > rank.get(b, 3) for a, b in zip(order, order[1:])):
        return "backward 的调用顺序不对（你的顺序：%s）。%s" % (" → ".join(NODE_NAMES.get(n, "?") for n in order), ORDER_HINT)
    for a, b in (("all_price", "tax"), ("apple", "apple_num"), ("orange", "orange_num")):
        if _matches(grads[a], exp[b]) and _matches(grads[b], exp[a]):
            return ("%s 和 %s 对调了：backward 返回 (dx, dy)，顺序与 forward(x, y) 的参数一致，"
                    "forward 时先传哪个，backward 时第一个返回值就是它的导数。" % (a, b))
    upstream = {"tax": dout, "add": exp["all_price"], "apple": exp["apple_price"], "orange": exp["orange_price"]}
    for n, got in calls:
        if n in upstream and not _matches(got, upstream[n]):
            return ("%s的 backward 收到的 dout 是 %s，应当是%s（= %s）。每一层的 backward 要接收它后面那一层"
                    "（更靠近输出）传回来的导数。" % (NODE_NAMES[n], fmt(got), UPSTREAM[n], fmt(upstream[n])))
    return None


def _function(fn):
    __tracebackhide__ = True
    if fn is not None and not callable(fn):
        fail("要传入函数 %s 本身（不带括号），你传入的是 %s。" % (FN, type(fn).__name__), show=False)
    return own_class(fn, FN)


@check
def check_apple_orange_forward(fn, *, seed=0, report=True, shapes=((),)):
    """apple_orange_with_layers 的正向传播：values 里的四个金额，以及确实用了 3 个乘法层和 1 个加法层。"""
    fn = _function(fn)
    for case, _ in _shop_cases(seed, shapes):
        values, _, log = _run_shop(fn, case)
        exp, _ = _expected(case, 1.0)
        tax = case["tax"]
        candidates = {"price": [(exp["all_price"], "price 就是税前的合计金额：忘了最后的消费税层。"),
                                (exp["apple_price"] * tax, "price 里没有橘子的金额：合计要把苹果和橘子加起来。"),
                                (exp["orange_price"] * tax, "price 里没有苹果的金额：合计要把苹果和橘子加起来。")],
                      "all_price": [(exp["apple_price"] * exp["orange_price"], "合计金额要用加法层把两个金额相加。")]}
        for key in VALUES:
            hint = diagnose(values[key], candidates.get(key, []), default="对照计算图，检查 %s 来自哪个层。" % key)
            expect_close(values[key], exp[key], "values[%r]" % key, hint, inputs=case)
        kinds = Counter((c.kind, c.method) for c in log)
        if kinds[("mul", "forward")] < 3 or kinds[("add", "forward")] < 1:
            fail("结果是对的，但没有用传进来的层：图里 3 个乘法节点各用一个 MulLayer 对象、加法节点用一个 AddLayer 对象，"
                 "你调用了 %d 次 MulLayer 的 forward、%d 次 AddLayer 的 forward。"
                 % (kinds[("mul", "forward")], kinds[("add", "forward")]), show=False)
    if report:
        passed("%s 的正向传播" % FN)


@check
def check_apple_orange_backward(fn, *, seed=0, report=True, shapes=((),)):
    """apple_orange_with_layers 的反向传播：grads 里的八个导数（上游导数 dout 随机），以及层的调用方式。"""
    fn = _function(fn)
    for case, dout in _shop_cases(seed, shapes):
        values, grads, log = _run_shop(fn, case, dout)
        _, exp = _expected(case, dout)
        exp_values, _ = _expected(case, 1.0)
        for key in GRADS:
            if not _matches(grads[key], exp[key]):
                if report:  # 隐藏测试（report=False）不画图
                    show_diagnosis(lambda: shop_diagnosis(case, dout, grads, values))
                hint = _diagnose_backward(log, case, dout, exp_values, grads, exp)
                expect_close(grads[key], exp[key], "grads[%r]" % key,
                             hint or "对照计算图从右往左算：乘法节点乘翻转值，加法节点原样传递。",
                             inputs=dict(case, dout=dout))
        hint = _diagnose_backward(log, case, dout, exp_values, grads, exp)
        if hint:
            fail("导数的数值是对的，但层的用法有问题。", show=False, hint=hint)
    if report:
        passed("%s 的反向传播" % FN)
