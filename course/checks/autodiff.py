"""第 06 课《自动微分》的检查函数（一）：学生自己写的标量自动微分引擎 Value 的各个运算。

练习 1：__add__、__mul__（正向、_backward 闭包、把普通的数包成 Value）  check_add_mul
练习 2：__pow__、exp、tanh、relu                                       check_unary_ops
每个运算单独检查：先看正向值和 _prev，再手动设好 out.grad 调用一次 _backward，
这样哪怕 backward() 还没写，也能知道闭包对不对。运算名 _op 只是画图用的标签：'ReLU'、'relu'、'max'、
'add' 都行，从不扣分；画图认不出的名字只在公开检查里提醒一句。backward()、分叉、zero_grad 和随机计算图
见 course.checks.autodiff_backward；与前几课的层对照、神经元见 course.checks.autodiff_apps。
学生版里还没写的方法仍然 raise NotImplementedError；别的检查经 run、call 用到它时，说的是“先完成练习 N”，
而不是把正在检查的这一项说成“还没有实现”。
"""
import math
import numbers
import re

import numpy as np

from ..boundary import getattrs
from ..graph.trace import local_rule
from ._core import CheckFailure, _student_line, call as _call, check, diagnose, expect_close, fail, own_class, \
    passed, rng_for

__all__ = ["check_add_mul", "check_unary_ops", "value_class", "run", "call", "unfinished", "expect_node", "grads_of",
           "probe_assign", "ASSIGN", "WRAP"]

ASSIGN = "闭包里写成了 self.grad = ... ，应当是 self.grad += ... ：同一个节点可能从好几处收到梯度（分叉），要加起来，不能覆盖。"
WRAP = "普通的数要先包成 Value：other = other if isinstance(other, Value) else Value(other)。"
NO_UPSTREAM = "忘了乘上游传来的 out.grad：链式法则是“上游值 × 局部导数”。"
PLAIN_NUMBER_ERRORS = ("'int' object", "'float' object", "operand type(s) for +", "operand type(s) for *")
# 引擎里每个要学生写的方法，和写它的练习（学生版里它们一开始都是 raise NotImplementedError()）
EXERCISE_OF = {"__add__": ("Value 的 __add__", "练习 1"), "__mul__": ("Value 的 __mul__", "练习 1"),
               "__pow__": ("Value 的 __pow__", "练习 2"), "exp": ("Value 的 exp", "练习 2"),
               "tanh": ("Value 的 tanh", "练习 2"), "relu": ("Value 的 relu", "练习 2"),
               "backward": ("Value 的 backward", "练习 3"), "zero_grad": ("zero_grad", "练习 4")}
SWAPPED = "乘法节点传回的是“翻转值”：self 得到 other.data * out.grad，other 得到 self.data * out.grad。"
HINTS = {
    "pow": [(lambda x, k, t: k * x ** k, "幂的导数是 k * x**(k - 1)，你写成了 k * x**k。"),
            (lambda x, k, t: x ** (k - 1), "幂的导数是 k * x**(k - 1)，你漏了系数 k。")],
    "exp": [(lambda x, k, t: 1.0, "exp 的局部导数是 exp(x)（正好等于 out.data），不是 1。")],
    "tanh": [(lambda x, k, t: t, "tanh 的局部导数是 1 - t**2（t = out.data），不是 out.data 本身。"),
             (lambda x, k, t: 1 - x * x, "tanh 的局部导数是 1 - t**2，t 是输出 out.data，不是输入 self.data。"),
             (lambda x, k, t: 1 - t, "tanh 的局部导数是 1 - t**2：t 要平方。")],
    # ReLU 按 (x > 0 时的局部导数, x < 0 时的局部导数) 诊断，"x" 表示等于 out.data
    "relu": [((0.0, 1.0), "ReLU 的导数写反了：x > 0 时为 1，x <= 0 时为 0。"),
             ((1.0, 1.0), "ReLU 在 x <= 0 时导数为 0：负半轴要把梯度截断。"),
             ((0.0, 0.0), "ReLU 在 x > 0 时导数为 1：正半轴的梯度要原样传回去。"),
             (("x", 0.0), "ReLU 在 x > 0 时导数是 1，不是 out.data。")],
}
UNARY = {  # 名字: (运行, 正向值, 局部导数, 画图时认得的一种写法)
    "pow": (lambda a, k: a ** k, lambda x, k: x ** k, lambda x, k: k * x ** (k - 1), lambda k: "**%g" % k),
    "exp": (lambda a, k: a.exp(), lambda x, k: math.exp(x), lambda x, k: math.exp(x), lambda k: "exp"),
    "tanh": (lambda a, k: a.tanh(), lambda x, k: math.tanh(x), lambda x, k: 1 - math.tanh(x) ** 2,
             lambda k: "tanh"),
    "relu": (lambda a, k: a.relu(), lambda x, k: max(x, 0.0), lambda x, k: float(x > 0), lambda k: "relu"),
}


# ---- 公共小工具 -------------------------------------------------------------
def value_class(Value):
    """确认传进来的是学生自己写的 Value 类（而不是它的实例），返回它。"""
    __tracebackhide__ = True
    if Value is not None and not isinstance(Value, type):
        fail("这里要传入类 Value 本身（不带括号），你传入的是 %s。" % type(Value).__name__, show=False)
    own_class(Value, "Value")
    leaf = run(lambda: Value(1.5), "Value(1.5)")
    for attr in ("data", "grad", "_prev", "_backward"):  # _op 只用来画图，没有也不影响计算
        if not hasattr(leaf, attr):
            fail("Value(1.5) 没有属性 .%s：不要改动给定的 __init__。" % attr, show=False)
    return Value


def run(fn, what):
    """运行学生代码 fn()。两种情况单独说明：普通的数没有包成 Value；用到的引擎方法还没写（先完成练习 N）。
    其余交给 course.checks._core.call 转成中文说明。"""
    __tracebackhide__ = True
    try:
        return fn()
    except CheckFailure:
        raise
    except Exception as exc:  # noqa: BLE001  学生代码里的任何错误都要变成能看懂的说明
        text = str(exc)
        if isinstance(exc, (AttributeError, TypeError)) and any(s in text for s in PLAIN_NUMBER_ERRORS):
            fail("运行 %s 时出错：%s: %s" % (what, type(exc).__name__, text), show=False, hint=WRAP)
        method = unfinished(exc)
        if method is not None:
            name, exercise = EXERCISE_OF[method]
            fail("%s：要用到 %s（%s），它还没有写完（仍然抛出 NotImplementedError）。先完成%s，再回来运行这个检查。"
                 % (what, name, exercise, exercise), show=False)

        def again():
            raise exc
        return _call(again, what=what)


def call(fn, *args, what, **kwargs):
    """像 course.checks._core.call 一样调用学生的 fn(*args, **kwargs)，出错时的说明同 run。"""
    __tracebackhide__ = True
    if not callable(fn):
        return _call(fn, *args, what=what, **kwargs)  # “不是可以调用的函数”
    return run(lambda: fn(*args, **kwargs), what)


def unfinished(exc):
    """exc 是学生版里还没写的引擎方法抛出的 NotImplementedError 时，返回方法名（EXERCISE_OF 的键），否则 None。

    在内核里运行时看 traceback 最里层的帧；评分时学生代码在另一个进程里，只能从那边写来的位置说明
    （“……（在 __add__ 里）”）读出方法名。
    """
    if not isinstance(exc, NotImplementedError):
        return None
    tb, name = exc.__traceback__, None
    while tb is not None:
        name, tb = tb.tb_frame.f_code.co_name, tb.tb_next
    if getattr(exc, "remote_where", None):
        found = re.findall(r"（在 (\w+) 里）", exc.remote_where)
        name = found[-1] if found else None
    elif not _student_line(exc):  # 最里层不是 notebook 里的代码（比如课程自己的函数）
        return None
    return name if name in EXERCISE_OF else None


def expect_node(out, Value, what, inputs=()):
    """out 应是新的 Value 节点，_prev 里恰好是 inputs。"""
    __tracebackhide__ = True
    if out is None:
        fail("%s 得到 None：方法最后是不是忘了 return out？" % what, show=False)
    if not isinstance(out, Value):
        fail("%s 应当得到一个新的 Value 节点，你得到的是 %s。" % (what, type(out).__name__), show=False,
             hint="把结果包成 Value(结果, (self, other), '运算名')，图才记得住它是怎么来的。")
    if any(out is p for p in inputs):
        fail("%s 直接返回了输入节点本身：要新建一个 Value 作为输出，不要改动输入。" % what, show=False)
    try:
        prev = list(out._prev)
    except TypeError:
        fail("%s 的 ._prev 应当是输入节点组成的 tuple。" % what, show=False)
    if inputs and {id(p) for p in prev} != {id(p) for p in inputs}:
        fail("%s 的 ._prev 里应当是它的输入节点。" % what, show=False,
             hint="创建输出时写 Value(..., (self, other), ...)：backward 要靠 _prev 找到输入。")
    return out


def grads_of(nodes, what="节点"):
    """各节点的 grad 组成的数组；有不是数的 grad（比如 None）就直接报错。"""
    __tracebackhide__ = True
    out = []
    for g in getattrs(nodes, "grad", None):  # 评分时节点在学生的内核里：一条消息读完
        if isinstance(g, bool) or not isinstance(g, numbers.Real):
            fail("有%s的 grad 不是数，而是 %s。" % (what, type(g).__name__), show=False,
                 hint="grad 一开始是 0.0，之后只用 += 累加；清零时也设成 0.0。")
        out.append(float(g))
    return np.array(out)


def probe_assign(Value):
    """单独跑一次 a + a 和 a * a 的闭包：a.grad 只算了一份，说明闭包里用了 = 而不是 +=。"""
    try:
        for build, once in ((lambda a: a + a, 1.0), (lambda a: a * a, 0.5)):
            a = Value(0.5)
            b = build(a)
            b.grad = 1.0
            b._backward()
            if abs(a.grad - once) < 1e-12:
                return True
    except Exception:  # noqa: BLE001  诊断用，出错就当作没看出来
        pass
    return False


def label_note(out, n_inputs, what, usual, notes):
    """_op 只是画图用的标签：画图认不出时记下一句提醒（公开检查最后打印），从不判错。"""
    op = getattr(out, "_op", None)
    if local_rule(op, n_inputs) is None and str(op) not in notes:
        notes[str(op)] = ("ℹ %s 的 _op 是 %r：算得对，不扣分；只是画计算图时认不出这个运算名，"
                          "那条边上就不标局部导数（常用的写法是 %r）。" % (what, op, usual))


# ---- 练习 1 ----------------------------------------------------------------
@check
def check_add_mul(Value, *, seed=0, report=True, part="all"):
    """part: "forward" 只查正向和 _prev；"backward" 只查 _backward 闭包；"all" 都查。"""
    Value = value_class(Value)
    rng = rng_for(seed)
    notes = {}
    for op in ("+", "*"):
        x, y = (float(v) for v in rng.choice([-1, 1], 2) * rng.uniform(0.5, 3, 2))
        a, b = Value(x), Value(y)
        out = expect_node(run(lambda: a + b if op == "+" else a * b, "a %s b" % op), Value, "a %s b" % op, (a, b))
        inputs = dict(a=x, b=y)
        if part in ("forward", "all"):
            expect_close(out.data, x + y if op == "+" else x * y, "(a %s b).data" % op, inputs=inputs)
            label_note(out, len(list(out._prev)), "a %s b" % op, op, notes)
            for c, make in ((2.5, lambda: a + 2.5), (3.0, lambda: 3.0 * a), (-2.0, lambda: a * -2.0)):
                r = run(make, "a + 2.5、3.0 * a 这类带普通数的运算")
                expect_node(r, Value, "a 与普通数 %g 的运算" % c)
        if part in ("backward", "all"):
            a.grad, b.grad, g = 0.25, -0.5, float(rng.uniform(0.5, 2))
            out.grad = g
            run(out._backward, "(a %s b)._backward()" % op)
            grads_of([a, b], "输入节点")
            da, db = (g, g) if op == "+" else (g * y, g * x)
            inputs = dict(a=x, b=y, out_grad=g, a_grad_before=0.25, b_grad_before=-0.5)
            for name, got, want, old, mine in (("a", a.grad, da, 0.25, x), ("b", b.grad, db, -0.5, y)):
                cands = [(want, ASSIGN), (old, "_backward 没有改动 %s.grad：是不是忘了 out._backward = _backward？" % name),
                         (old + want / g, NO_UPSTREAM)]
                if op == "*":
                    cands = [(old + g * mine, SWAPPED)] + cands
                expect_close(got, old + want, "调用 _backward 后的 %s.grad" % name,
                             hint=diagnose(got, cands, "检查 %s 的局部导数。" % op), inputs=inputs)
    if part in ("backward", "all"):
        a = Value(float(rng.uniform(1, 2)))
        out = run(lambda: 3.0 * a, "3.0 * a")
        out.grad = 2.0
        run(out._backward, "(3.0 * a)._backward()")
        expect_close(a.grad, 6.0, "(3.0 * a) 的 _backward 之后的 a.grad", hint=SWAPPED)
    if report:
        passed({"forward": "加法、乘法的正向传播", "backward": "加法、乘法的 _backward"}.get(part, "加法和乘法"))
        for note in notes.values():
            print(note)


# ---- 练习 2 ----------------------------------------------------------------
@check
def check_unary_ops(Value, *, ops=("pow", "exp", "tanh", "relu"), seed=0, report=True):
    Value = value_class(Value)
    rng = rng_for(seed)
    notes = {}
    for name in ops:
        if name not in UNARY:
            raise ValueError("ops 只能取 %s" % list(UNARY))
        apply, f, df, opname = UNARY[name]
        cases = [(float(rng.uniform(0.3, 2)), k) for k in (2, 3, -1.0, 0.5)] if name == "pow" else \
            [(float(rng.uniform(0.3, 2)), None), (float(-rng.uniform(0.3, 2)), None)]
        seen = []  # (x, 观察到的局部导数)：ReLU 要看正负两边才知道错在哪
        for x, k in cases:
            what = "a ** %g" % k if name == "pow" else "a.%s()" % name
            a = Value(x)
            out = expect_node(run(lambda: apply(a, k), what), Value, what, (a,))
            expect_close(out.data, f(x, k), "(%s).data" % what, inputs=dict(a=x))
            label_note(out, 1, what, opname(k), notes)
            old, g = 0.125, float(rng.uniform(0.5, 2))
            a.grad, out.grad = old, g
            run(out._backward, "(%s)._backward()" % what)
            grads_of([a], "输入节点")
            seen.append((x, k, a.grad, old, g))
        for x, k, got, old, g in seen:
            want = old + g * df(x, k)
            cands = [(want - old, ASSIGN), (old + df(x, k), NO_UPSTREAM)]
            if name != "relu":
                cands += [(old + g * bad(x, k, f(x, k)), hint) for bad, hint in HINTS[name]]
            hint = _relu_hint(seen) if name == "relu" else None
            expect_close(got, want, "(%s) 调用 _backward 后的 a.grad" % ("a ** %g" % k if k else "a.%s()" % name),
                         hint=hint or diagnose(got, cands, "检查 %s 的局部导数。" % name),
                         inputs=dict(a=x, out_grad=g, a_grad_before=old))
    if report:
        passed("、".join(ops) + " 的正向和 _backward")
        for note in notes.values():
            print(note)


def _relu_hint(seen):
    """根据正负两边观察到的局部导数，说出 ReLU 的导数错在哪一边。"""
    try:
        local = {x > 0: ((got - old) / g, x) for x, k, got, old, g in seen}
        (pos, xp), (neg, _) = local[True], local[False]
    except (TypeError, KeyError):
        return None
    for (p, n), hint in HINTS["relu"]:
        if abs(pos - (xp if p == "x" else p)) < 1e-9 and abs(neg - n) < 1e-9:
            return hint
    return None
