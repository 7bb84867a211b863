"""第 02 课“反向传播与简单层”的检查（一）：乘法层 MulLayer 和加法层 AddLayer。

每个层分 forward 和 backward 两项检查。backward 先用书上的数（10 和 5，上游传来 1.3）与公式比较，
再用随机的标量、数组和随机的上游导数 dout 与数值微分比较；常见错误（x、y 用反，忘了乘 dout，
只返回一个值，forward 没有存输入，原地修改数组……）各有各的提示。
用这些层连成计算图的检查在 apple_orange.py。
"""
import numbers

import numpy as np

from ..gradcheck import eval_numerical_gradient_array, numerical_diff
from ._core import (CheckFailure, _exception_hint, _student_line, call, check, diagnose, expect_array, expect_close,
                    expect_tuple, fail, own_class, passed, rng_for)

__all__ = ["check_mul_forward", "check_mul_backward", "check_add_forward", "check_add_backward"]

SHAPES = ((), (3,), (2, 4))
BOOK_NODE = (10, 5, 1.3)  # 书上加法节点和乘法节点的例子：x = 10，y = 5，上游传来 1.3
STORE_HINT = ("backward 要用到正向时的 x 和 y，但它们没有存下来：在 forward 里写 self.x = x、self.y = y，"
              "backward 里再用 self.x、self.y。")
ELEMENTWISE_HINT = "层做的是逐元素运算（x * y、x + y），结果与 x 同形状；不要用 np.dot，也不要求和。"


# ---- 运行学生代码 ------------------------------------------------------------
def _run(fn, *args, what, hint_for=None, **kwargs):
    """像 _core.call 一样运行学生代码；hint_for(exc) 能给出更贴切的提示时用它，否则用 _core 里按 fn
    （层的 forward / backward，还是普通函数）给的提示。"""
    __tracebackhide__ = True
    if not callable(fn):
        return call(fn, what=what)
    try:
        return fn(*args, **kwargs)
    except CheckFailure:
        raise
    except (NotImplementedError, RecursionError) as exc:  # 这两种的说法与 fn 无关，交给 call
        error = exc
    except Exception as exc:  # 学生代码里的任何异常都要变成中文说明
        hint = (hint_for(exc) if hint_for else None) or _exception_hint(exc, fn)
        fail("运行 %s 时，你的代码抛出了异常 %s: %s%s" % (what, type(exc).__name__, exc, _student_line(exc)),
             show=False, hint=hint)
    return call(_raise, error, what=what)


def _raise(exc):
    raise exc


def _state_hint(exc):
    if isinstance(exc, AttributeError) or (isinstance(exc, TypeError) and "NoneType" in str(exc)):
        return STORE_HINT
    return _shape_hint(exc)


def _shape_hint(exc):
    if isinstance(exc, ValueError) and ("shape" in str(exc) or "aligned" in str(exc)):
        return ELEMENTWISE_HINT
    return None


def _layer_class(cls, name):
    __tracebackhide__ = True
    if cls is not None and not isinstance(cls, type):
        if hasattr(cls, "forward"):
            fail("要传入类 %s 本身，而不是它的对象：写 %s，不要写 %s()。" % (name, name, name), show=False)
        fail("要传入一个类（%s），你传入的是 %s。" % (name, type(cls).__name__), show=False)
    return own_class(cls, name)


def _method(obj, method, name):
    __tracebackhide__ = True
    fn = getattr(obj, method, None)
    if not callable(fn):
        fail("%s 没有 %s 方法：检查方法名和缩进（它要写在 class 里面）。" % (name, method), show=False)
    return fn


def _unchanged(arrays, copies, names, what):
    __tracebackhide__ = True
    for a, c, n in zip(arrays, copies, names):
        if isinstance(a, np.ndarray) and not np.array_equal(a, c):
            fail("%s 改动了传进来的数组 %s。" % (what, n), show=False,
                 hint="不要写 %s *= ...、%s += ... 这样的原地运算：调用者的数组会被改掉。用 out = x * y 这样的写法得到新数组。"
                 % (n, n))


def _forward(cls, name, x, y):
    __tracebackhide__ = True
    layer = _run(cls, what="%s()" % name)
    copies = [np.copy(x), np.copy(y)]
    out = _run(_method(layer, "forward", name), x, y, what="%s.forward(x, y)" % name, hint_for=_shape_hint)
    _unchanged((x, y), copies, ("x", "y"), "%s.forward" % name)
    return layer, out


def _backward(layer, name, dout):
    __tracebackhide__ = True
    copy = np.copy(dout)
    res = _run(_method(layer, "backward", name), dout, what="%s.backward(dout)" % name, hint_for=_state_hint)
    _unchanged((dout,), (copy,), ("dout",), "%s.backward" % name)
    what = "%s.backward(dout)" % name
    if isinstance(res, (numbers.Number, np.ndarray)) or (isinstance(res, tuple) and len(res) == 1):
        fail("%s 只返回了一个值。" % what, show=False,
             hint="节点有 x、y 两个输入，backward 要给每个输入各返回一个导数：return dx, dy。")
    return expect_tuple(res, 2, what, names=["dx", "dy"])


# ---- 乘法层和加法层 ------------------------------------------------------------
def _mul(x, y):
    return x * y


def _add(x, y):
    return x + y


def _cases(seed, shapes):
    """先是书上的数，再是随机的标量和数组：[(x, y, dout), ...]"""
    rng = rng_for(seed)
    cases = [BOOK_NODE]
    for shape in shapes:
        if tuple(shape) == ():
            cases.append(tuple(float(v) for v in rng.uniform(-3, 3, size=3)))
        else:
            cases.append(tuple(rng.standard_normal(shape) for _ in range(3)))
    return cases


def _compare(got, expected, what, hint, inputs):
    __tracebackhide__ = True
    if np.ndim(expected):
        expect_array(got, np.shape(expected), what, hint=ELEMENTWISE_HINT)
    expect_close(got, expected, what, hint, inputs)


def _check_forward(cls, name, op, wrong, seed, shapes):
    __tracebackhide__ = True
    cls = _layer_class(cls, name)
    for x, y, _ in _cases(seed, shapes):
        _, out = _forward(cls, name, x, y)
        hint = diagnose(out, [(wrong[0](x, y), wrong[1])])
        _compare(out, op(x, y), "%s.forward(x, y)" % name, hint, {"x": x, "y": y})


def _check_backward(cls, name, op, local, mistakes, seed, shapes):
    """op(x, y) 是节点的运算，local(x, y) -> (∂out/∂x, ∂out/∂y)；
    mistakes(x, y, dout, 第几个输入) -> [(常见错误会得到的结果, 提示), ...]
    """
    __tracebackhide__ = True
    cls = _layer_class(cls, name)
    for k, (x, y, dout) in enumerate(_cases(seed, shapes)):
        layer, _ = _forward(cls, name, x, y)
        grads = _backward(layer, name, dout)
        inputs = {"x": x, "y": y, "dout": dout}
        for i, (got, var) in enumerate(zip(grads, ("dx", "dy"))):
            what = "%s.backward 返回的 %s" % (name, var)
            if k == 0:  # 书上的例子：与公式比较
                expected = dout * local(x, y)[i]
            else:  # 随机的输入和 dout：与数值微分比较（数组用向量-雅可比积的数值版本）
                f = (lambda t: op(t, y)) if i == 0 else (lambda t: op(x, t))
                if np.ndim(x) == 0:
                    expected = dout * numerical_diff(f, (x, y)[i])
                else:
                    expected = eval_numerical_gradient_array(f, (x, y)[i].copy(), dout)
            hint = diagnose(got, mistakes(x, y, dout, i), default="%s 应等于 dout 乘以局部导数 ∂out/∂%s。" % (var, var[1]))
            _compare(got, expected, what, hint, inputs)


@check
def check_mul_forward(MulLayer, *, seed=0, report=True, shapes=SHAPES):
    """MulLayer().forward(x, y) 应返回 x * y（标量和任意形状的数组）。"""
    _check_forward(MulLayer, "MulLayer", _mul,
                   (_add, "乘法层的 forward 应返回 x * y，你的结果像是 x + y。"), seed, shapes)
    if report:
        passed("MulLayer.forward")


def _mul_mistakes(x, y, dout, i):
    mine, other, var, o = (x, y, "dx", "y") if i == 0 else (y, x, "dy", "x")
    return [
        (dout * mine, "%s 应当是 dout * %s：乘法节点乘的是“另一个”输入（翻转值）。你的结果像是 dout * %s，x 和 y 用反了。"
         % (var, o, "xy"[i])),
        (other, "%s 等于 %s，少了上游传来的 dout：反向传播要把 dout 乘上局部导数。" % (var, o)),
        (dout * dout * other, "dout 被乘了两次：%s = dout * %s，dout 只乘一次。" % (var, o)),
        (dout * x * y, "%s 不是 dout * x * y：对 %s 求导时 %s 本身消失，只剩下 %s。" % (var, "xy"[i], "xy"[i], o)),
    ]


@check
def check_mul_backward(MulLayer, *, seed=0, report=True, shapes=SHAPES):
    """MulLayer 的 backward(dout) 应返回 (dout * y, dout * x)。"""
    _check_backward(MulLayer, "MulLayer", _mul, lambda x, y: (y, x), _mul_mistakes, seed, shapes)
    if report:
        passed("MulLayer.backward")


@check
def check_add_forward(AddLayer, *, seed=0, report=True, shapes=SHAPES):
    """AddLayer().forward(x, y) 应返回 x + y。"""
    _check_forward(AddLayer, "AddLayer", _add,
                   (_mul, "加法层的 forward 应返回 x + y，你的结果像是 x * y。"), seed, shapes)
    if report:
        passed("AddLayer.forward")


def _add_mistakes(x, y, dout, i):
    var = ("dx", "dy")[i]
    ones = np.ones_like(np.asarray(dout, dtype=float))
    return [
        (0 * ones, "%s 是 0：加法节点对 x 和 y 的局部导数都是 1，两个输入都应得到 dout。" % var),
        (ones, "%s 是 1：那只是局部导数，还要乘上游传来的 dout。" % var),
        (dout * dout, "dout 被乘了两次：加法节点把 dout 原样传下去。"),
        (dout * (y, x)[i], "加法节点不用翻转值（那是乘法节点的规则）：它把 dout 原样传给两个输入。"),
    ]


@check
def check_add_backward(AddLayer, *, seed=0, report=True, shapes=SHAPES):
    """AddLayer 的 backward(dout) 应返回 (dout, dout)。"""
    _check_backward(AddLayer, "AddLayer", _add, lambda x, y: (1.0, 1.0), _add_mistakes, seed, shapes)
    if report:
        passed("AddLayer.backward")
