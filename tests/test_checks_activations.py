"""course.checks.activations：正确的实现通过且不出声，每种常见错误都得到它自己的提示。"""
import warnings

import numpy as np
import pytest

from course.reference import layers
from course.checks import CheckFailure
from course.checks.activations import (
    check_relu_backward, check_relu_forward, check_sigmoid_backward, check_sigmoid_forward, check_sigmoid_steps,
)
from conftest import student


# ---- 正确的实现 -------------------------------------------------------------
@student
class Relu(layers.Relu):
    """学生写的正确 Relu：与参考实现相同（模块名改成了 __main__，检查函数才接受）。"""


@student
class ReluWhere:
    """另一种正确写法：不存 mask，存 x。"""

    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, dout):
        return np.where(self.x > 0, dout, 0.0)


@student
class Sigmoid(layers.Sigmoid):
    """学生写的正确 Sigmoid：与参考实现相同。"""


@student
class SigmoidStable(Sigmoid):
    """换一种写法：对任何 x 都不溢出；导数写成 y² exp(-x)。"""

    def forward(self, x):
        self.x = x
        self.out = np.exp(-np.logaddexp(0, -x))
        return self.out

    def backward(self, dout):
        return dout * self.out ** 2 * np.exp(-self.x)


@student
def sigmoid_backward_steps(x, dout):
    a = -x
    b = np.exp(a)
    c = 1 + b
    y = 1 / c
    dc = -dout * y ** 2
    db = dc * 1
    da = db * np.exp(a)
    dx = da * -1
    return dc, db, da, dx


def book_sigmoid(x):
    return 1 / (1 + np.exp(-x))  # x = -800 时 np.exp(800) 溢出成 inf，NumPy 会警告；结果 0 是对的


@student
class BookSigmoid:
    """照书上的写法：forward 调用全局的 sigmoid，存 self.out。"""

    def __init__(self):
        self.out = None

    def forward(self, x):
        out = book_sigmoid(x)
        self.out = out
        return out

    def backward(self, dout):
        dx = dout * (1.0 - self.out) * self.out
        return dx


def test_book_sigmoid_overflow_warning_is_silenced_inside_the_checks(capsys):
    """nbgrader 把写了 stderr 的测试单元判 0 分：书上那种会在 x = -800 处警告的写法，检查时不能出声。"""
    with np.errstate(all="warn"), warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeWarning, match="overflow"):  # 对照：检查之外它确实会警告
            BookSigmoid().forward(np.array([-800.0]))
        check_sigmoid_forward(BookSigmoid)
        check_sigmoid_backward(BookSigmoid)
        check_sigmoid_forward(BookSigmoid, seed=3201, shapes=[(1,), (5, 3), (2, 1, 4, 3)], report=False)
        check_sigmoid_backward(BookSigmoid, seed=3211, shapes=[(1,), (5, 3), (2, 1, 4, 3)], report=False)
    out, err = capsys.readouterr()
    assert err == "" and out.count("✔") == 2


def test_correct_implementations_pass_silently(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for cls in (Relu, ReluWhere):
            check_relu_forward(cls)
            check_relu_backward(cls)
            check_relu_forward(cls, seed=913, shapes=[(7,), (5, 2), (2, 2, 3, 2)], report=False)
            check_relu_backward(cls, seed=913, shapes=[(7,), (5, 2), (2, 2, 3, 2)], report=False)
        for cls in (Sigmoid, SigmoidStable):
            check_sigmoid_forward(cls)
            check_sigmoid_backward(cls)
            check_sigmoid_forward(cls, seed=7, shapes=[(1,), (4, 1, 3)], report=False)
            check_sigmoid_backward(cls, seed=7, shapes=[(1,), (4, 1, 3)], report=False)
        check_sigmoid_steps(sigmoid_backward_steps)
        check_sigmoid_steps(sigmoid_backward_steps, seed=55, report=False)
    out, err = capsys.readouterr()
    assert err == ""
    assert out.count("✔") == 9 and "隐藏测试" in out


def test_report_false_prints_nothing(capsys):
    check_relu_backward(Relu, seed=3, report=False)
    check_sigmoid_steps(sigmoid_backward_steps, seed=3, report=False)
    assert capsys.readouterr() == ("", "")


# ---- 错误的实现：每个都要得到自己的提示 -------------------------------------
def relu_variant(forward=None, backward=None):
    """在正确的 Relu 上替换 forward 或 backward。"""
    attrs = {}
    if forward:
        attrs["forward"] = forward
    if backward:
        attrs["backward"] = backward
    return student(type("BrokenRelu", (Relu,), attrs))


def sigmoid_variant(forward=None, backward=None):
    attrs = {}
    if forward:
        attrs["forward"] = forward
    if backward:
        attrs["backward"] = backward
    return student(type("BrokenSigmoid", (Sigmoid,), attrs))


def _dout_inplace(self, dout):
    dout[self.mask] = 0  # 书中示例代码的写法：改了调用者的数组
    return dout


def _x_inplace(self, x):
    self.mask = x <= 0
    x[self.mask] = 0
    return x


def _mask_lt(self, x):
    self.mask = x < 0
    out = x.copy()
    out[self.mask] = 0
    return out


def _raise(exc):
    def method(self, *args):
        raise exc
    return method


def _attribute_error(self, dout):
    return dout * self.maks


RELU_BROKEN = [
    # (名字, 类, 哪个检查, 提示里独有的片段)
    ("backward 原地改 dout", relu_variant(backward=_dout_inplace), check_relu_backward, "传进去的 dout 变了"),
    ("forward 原地改 x", relu_variant(forward=_x_inplace), check_relu_forward, "直接写 x[mask] = 0"),
    ("mask 写成 x < 0", relu_variant(forward=_mask_lt), check_relu_backward, "只在 x 恰好等于 0 的位置不对"),
    ("backward 忘了 dout", relu_variant(backward=lambda self, d: (~self.mask).astype(float)), check_relu_backward,
     "忘了乘上游传来的 dout"),
    ("backward 返回 mask", relu_variant(backward=lambda self, d: self.mask), check_relu_backward,
     "你返回的是 mask 本身"),
    ("backward 没置 0", relu_variant(backward=lambda self, d: d.copy()), check_relu_backward, "dx 和 dout 完全一样"),
    ("backward mask 反了", relu_variant(backward=lambda self, d: d * self.mask), check_relu_backward,
     "x > 0 的位置应传回 dout"),
    ("forward 原样返回", relu_variant(forward=lambda self, x: x.copy()), check_relu_forward, "负数没有被置 0"),
    ("forward 返回 mask", relu_variant(forward=lambda self, x: x <= 0), check_relu_forward, "你返回的像是 mask"),
    ("forward mask 反了", relu_variant(forward=lambda self, x: np.minimum(x, 0)), check_relu_forward,
     "应保留正数"),
    ("forward 返回 list", relu_variant(forward=lambda self, x: np.maximum(x, 0).tolist()), check_relu_forward,
     "你得到的是 list"),
    ("backward 返回 list", relu_variant(backward=lambda self, d: np.where(self.mask, 0, d).tolist()),
     check_relu_backward, "你得到的是 list"),
    ("forward 展平", relu_variant(forward=lambda self, x: np.maximum(x, 0).ravel()), check_relu_forward,
     "不要用 flatten"),
    ("backward 展平", relu_variant(backward=lambda self, d: np.where(self.mask, 0, d).ravel()), check_relu_backward,
     "不要用 flatten"),
    ("forward 返回 None", relu_variant(forward=lambda self, x: None), check_relu_forward, "是 None"),
    ("backward 返回 None", relu_variant(backward=lambda self, d: None), check_relu_backward, "是 None"),
    ("forward 未实现", relu_variant(forward=_raise(NotImplementedError())), check_relu_forward, "还没有实现"),
    ("backward 未实现", relu_variant(backward=_raise(NotImplementedError())), check_relu_backward, "还没有实现"),
    ("backward 抛异常", relu_variant(backward=_attribute_error), check_relu_backward,
     "抛出了异常 AttributeError"),
    ("forward 抛异常", relu_variant(forward=_raise(ValueError("坏了"))), check_relu_forward, "ValueError: 坏了"),
]


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _store_x(self, x):
    self.out = x  # 存错了：存的是输入
    return _sig(x)


def _dout_scaled_inplace(self, dout):
    dout *= self.out * (1 - self.out)
    return dout


def _unstable(self, x):
    self.out = np.exp(x) / (1 + np.exp(x))
    return self.out


SIGMOID_BROKEN = [
    ("漏了 (1 - y)", sigmoid_variant(backward=lambda self, d: d * self.out), check_sigmoid_backward,
     "少了因子 (1 - y)"),
    ("漏了 y", sigmoid_variant(backward=lambda self, d: d * (1 - self.out)), check_sigmoid_backward, "少了因子 y"),
    ("存成 x", sigmoid_variant(forward=_store_x), check_sigmoid_backward, "你用的是输入 x 而不是输出 y"),
    ("忘了 dout", sigmoid_variant(backward=lambda self, d: self.out * (1 - self.out)), check_sigmoid_backward,
     "忘了乘上游传来的 dout"),
    ("只算了一步", sigmoid_variant(backward=lambda self, d: -d * self.out ** 2), check_sigmoid_backward,
     "只算了“/”节点这一步"),
    ("backward 原地改 dout", sigmoid_variant(backward=_dout_scaled_inplace), check_sigmoid_backward,
     "传进去的 dout 变了"),
    ("符号反了", sigmoid_variant(forward=lambda self, x: 1 / (1 + np.exp(x))), check_sigmoid_forward, "符号反了"),
    ("漏了 1", sigmoid_variant(forward=lambda self, x: 1 / np.exp(-x)), check_sigmoid_forward, "分母里漏了 1"),
    ("没取倒数", sigmoid_variant(forward=lambda self, x: 1 + np.exp(-x)), check_sigmoid_forward, "忘了取倒数"),
    ("不稳定的写法", sigmoid_variant(forward=_unstable), check_sigmoid_forward, "exp 会溢出"),
    ("forward 展平", sigmoid_variant(forward=lambda self, x: _sig(x).reshape(-1)), check_sigmoid_forward,
     "不要用 flatten"),
    ("backward 展平", sigmoid_variant(backward=lambda self, d: (d * self.out * (1 - self.out)).ravel()),
     check_sigmoid_backward, "不要用 flatten"),
    ("forward 返回 list", sigmoid_variant(forward=lambda self, x: list(_sig(x))), check_sigmoid_forward,
     "你得到的是 list"),
    ("forward 返回 None", sigmoid_variant(forward=lambda self, x: None), check_sigmoid_forward, "是 None"),
    ("backward 返回 None", sigmoid_variant(backward=lambda self, d: None), check_sigmoid_backward, "是 None"),
    ("forward 未实现", sigmoid_variant(forward=_raise(NotImplementedError())), check_sigmoid_forward, "还没有实现"),
    ("backward 未实现", sigmoid_variant(backward=_raise(NotImplementedError())), check_sigmoid_backward,
     "还没有实现"),
    ("backward 抛异常", sigmoid_variant(backward=lambda self, d: d * self.y), check_sigmoid_backward,
     "抛出了异常 AttributeError"),
]


def _steps_variant(change):
    """在正确的逐步结果上改掉一个量，模拟某一步写错。"""
    def fn(x, dout):
        return change(x, dout, *sigmoid_backward_steps(x, dout))
    return student(fn)


def _y(x):
    return 1 / (1 + np.exp(-x))


STEPS_BROKEN = [
    ("漏了负号", _steps_variant(lambda x, d, dc, db, da, dx: (-dc, -db, -da, -dx)), "别漏了负号"),
    ("+1 节点加了 1", _steps_variant(lambda x, d, dc, db, da, dx: (dc, dc + 1, (dc + 1) * np.exp(-x),
                                                                    -(dc + 1) * np.exp(-x))), "不要再加 1"),
    ("exp(x)", _steps_variant(lambda x, d, dc, db, da, dx: (dc, db, db * np.exp(x), -db * np.exp(x))),
     "不是 exp(x)"),
    ("漏了 ×(-1)", _steps_variant(lambda x, d, dc, db, da, dx: (dc, db, da, da)), "局部导数 -1"),
    ("-y 而非 -y²", _steps_variant(lambda x, d, dc, db, da, dx: (-d * _y(x), db, da, dx)), "不是 -y"),
    ("list", _steps_variant(lambda x, d, *r: list(r)), "是 list，应当是 tuple"),
    ("只有 3 个", _steps_variant(lambda x, d, *r: r[:3]), "应当包含 4 个值"),
    ("None", _steps_variant(lambda x, d, *r: None), "是 None"),
    ("未实现", _steps_variant(lambda *a: _raise(NotImplementedError())(None)), "还没有实现"),
    ("抛异常", _steps_variant(lambda x, d, *r: (r[0], r[1], r[2], r[3] @ r[0])), "抛出了异常"),
]


@pytest.mark.parametrize("name, cls, check_fn, hint", RELU_BROKEN + SIGMOID_BROKEN, ids=lambda v: v if isinstance(v, str) else "")
def test_broken_layers_get_their_own_hint(name, cls, check_fn, hint):
    with pytest.raises(CheckFailure) as info:
        check_fn(cls, report=False)
    assert hint in str(info.value), "%s：提示里没有“%s”，实际信息：\n%s" % (name, hint, info.value)


@pytest.mark.parametrize("name, fn, hint", STEPS_BROKEN, ids=lambda v: v if isinstance(v, str) else "")
def test_broken_steps_get_their_own_hint(name, fn, hint):
    with pytest.raises(CheckFailure) as info:
        check_sigmoid_steps(fn, report=False)
    assert hint in str(info.value), "%s：提示里没有“%s”，实际信息：\n%s" % (name, hint, info.value)


def test_mask_lt_passes_forward_but_not_backward():
    """x < 0 的 mask 在正向上看不出差别（0 还是 0），只有反向在 0 处错。"""
    cls = relu_variant(forward=_mask_lt)
    check_relu_forward(cls, report=False)
    with pytest.raises(CheckFailure):
        check_relu_backward(cls, report=False)


def test_forward_inplace_is_not_counted_twice():
    """forward 原地改 x 只在 forward 的检查里扣分，backward 的检查照常通过。"""
    check_relu_backward(relu_variant(forward=_x_inplace), report=False)


def test_wrong_sign_forward_still_has_a_consistent_backward():
    """1/(1+exp(x)) = 1 - y，而 (1 - y)·y 与 y(1 - y) 相同：backward 的检查不因 forward 的错误再扣分。"""
    check_sigmoid_backward(sigmoid_variant(forward=lambda self, x: setattr(self, "out", 1 / (1 + np.exp(x)))
                                           or self.out), report=False)


def test_failure_message_shows_inputs_and_values_but_no_source():
    with pytest.raises(CheckFailure) as info:
        check_sigmoid_backward(SIGMOID_BROKEN[0][1], report=False)
    msg = str(info.value)
    assert "输入：x = " in msg and "期望：" in msg and "得到：" in msg
    assert "def " not in msg and "diagnose" not in msg


# ---- 传给检查函数本身的参数不对 ---------------------------------------------
@pytest.mark.parametrize("bad, hint", [
    (Relu(), "不要传 Relu()"),
    (3, "你传入的是 int"),
    (None, "是 None"),
    (layers.Relu, "来自模块 course.reference.layers"),
])
def test_bad_argument_to_relu_checks(bad, hint):
    for check_fn in (check_relu_forward, check_relu_backward):
        with pytest.raises(CheckFailure) as info:
            check_fn(bad, report=False)
        assert hint in str(info.value)


def test_bad_argument_to_sigmoid_checks():
    with pytest.raises(CheckFailure, match="来自模块 course.reference.layers"):
        check_sigmoid_forward(layers.Sigmoid, report=False)
    with pytest.raises(CheckFailure, match="不要传 Sigmoid"):
        check_sigmoid_backward(Sigmoid(), report=False)


def test_class_without_backward():
    cls = student(type("OnlyForward", (), {"forward": lambda self, x: x}))
    with pytest.raises(CheckFailure, match="没有 backward 方法"):
        check_relu_forward(cls, report=False)


@pytest.mark.parametrize("bad, hint", [(Relu, "你传入的是 type"), ("abc", "你传入的是 str"), (None, "是 None")])
def test_bad_argument_to_steps_check(bad, hint):
    with pytest.raises(CheckFailure) as info:
        check_sigmoid_steps(bad, report=False)
    assert hint in str(info.value)


def test_sigmoid_forward_that_changes_x_in_place():
    def forward(self, x):
        x *= -1  # 原地取负，调用者的 x 被改了
        self.out = 1 / (1 + np.exp(x))
        return self.out

    with pytest.raises(CheckFailure, match="x \\*= -1 这类原地运算"):
        check_sigmoid_forward(sigmoid_variant(forward=forward), report=False)
