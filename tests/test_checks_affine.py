"""course.checks.affine：正确的 Affine 通过且不出声，每种常见错误都得到它自己的提示。"""
import warnings

import numpy as np
import pytest

from course.reference import layers
from course.checks import CheckFailure
from course.checks.affine import (
    check_affine_backward_dx, check_affine_db, check_affine_dW, check_affine_forward, check_affine_nd,
)
from conftest import student

ALL_CHECKS = [check_affine_forward, check_affine_backward_dx, check_affine_dW, check_affine_db, check_affine_nd]


# ---- 正确的实现 -------------------------------------------------------------
@student
class Affine(layers.Affine):
    """学生写的正确 Affine：与参考实现相同（它的模块名改成了 __main__，检查函数才接受）。"""


@student
class AffineAlt:
    """另一种正确写法：存原始的 x，backward 里再展平；用 @ 和 einsum。"""

    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x_in = x
        return x.reshape(len(x), -1) @ self.W + self.b

    def backward(self, dout):
        flat = self.x_in.reshape(len(self.x_in), -1)
        self.dW = np.einsum("nd,nm->dm", flat, dout)
        self.db = dout.sum(axis=0)
        return (dout @ self.W.T).reshape(self.x_in.shape)


def test_correct_implementations_pass_silently(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for cls in (Affine, AffineAlt):
            for fn in ALL_CHECKS:
                fn(cls)
            for seed in (1, 913):
                kw = dict(seed=seed, report=False)
                check_affine_forward(cls, cases=[(3, 3, 3), (6, 2, 7), (1, 4, 1)], **kw)
                check_affine_backward_dx(cls, cases=[(3, 3, 3), (6, 2, 7), (1, 4, 1)], **kw)
                check_affine_dW(cls, cases=[(3, 3, 3), (6, 2, 7), (1, 4, 1)], **kw)
                check_affine_db(cls, cases=[(3, 3, 3), (6, 2, 7), (1, 4, 1)], **kw)
                check_affine_nd(cls, shapes=[((2, 3, 4, 2), 3), ((5, 1, 3), 2), ((3, 4), 2)], **kw)
    out, err = capsys.readouterr()
    assert err == ""
    assert out.count("✔") == 10 and "隐藏测试" in out


def test_reference_layer_is_rejected_and_report_false_is_silent(capsys):
    with pytest.raises(CheckFailure, match="来自模块 course.reference.layers"):
        check_affine_forward(layers.Affine, report=False)
    check_affine_db(Affine, seed=5, report=False)
    assert capsys.readouterr() == ("", "")


# ---- 错误的实现：每个都要得到自己的提示 -------------------------------------
def variant(**methods):
    """在正确的 Affine 上替换某些方法。"""
    return student(type("BrokenAffine", (Affine,), methods))


def _backward(dx=None, dW=None, db=None, reshape=True):
    """按给定的公式写一个 backward；没给的量用正确的公式。"""
    def backward(self, dout):
        self.dW = dW(self, dout) if dW else self.x.T @ dout
        self.db = db(self, dout) if db else dout.sum(axis=0)
        out = dx(self, dout) if dx else dout @ self.W.T
        return out.reshape(self.original_x_shape) if reshape else out
    return backward


def _lower_dw(self, dout):
    self.dw = self.x.T @ dout  # 教程里的笔误：小写 w
    self.db = dout.sum(axis=0)
    return (dout @ self.W.T).reshape(self.original_x_shape)


def _unflattened_forward(self, x):
    self.original_x_shape = x.shape
    self.x = x  # 没有展平就存了
    return x.reshape(x.shape[0], -1) @ self.W + self.b


def _no_flatten(self, x):
    self.original_x_shape = x.shape
    self.x = x
    return x @ self.W + self.b


def _inplace_forward(self, x):
    self.original_x_shape = x.shape
    x *= 1.5
    self.x = x.reshape(x.shape[0], -1) / 1.5
    return self.x @ self.W + self.b


def _returns_all(self, dout):
    dx = Affine.backward(self, dout)
    return dx, self.dW, self.db


def _raise(exc):
    def method(self, *args):
        raise exc
    return method


@student
class AffineNoArgs:
    def __init__(self):
        pass


BROKEN = [
    # (名字, 类, 哪个检查, 提示里独有的片段, 额外参数)
    ("忘了 b", variant(forward=lambda self, x: Affine.forward(self, x) - self.b), check_affine_forward,
     "忘了加上偏置 b", {}),
    ("减了 b", variant(forward=lambda self, x: Affine.forward(self, x) - 2 * self.b), check_affine_forward,
     "不是减掉", {}),
    ("forward 返回 None", variant(forward=lambda self, x: None), check_affine_forward, "是 None", {}),
    ("forward 返回 list", variant(forward=lambda self, x: Affine.forward(self, x).tolist()), check_affine_forward,
     "你得到的是 list", {}),
    ("forward 转置", variant(forward=lambda self, x: Affine.forward(self, x).T), check_affine_forward,
     "x·W + b 的形状是 (4, 3)", {}),
    ("forward 改 x", variant(forward=_inplace_forward), check_affine_forward, "改动了传入的 x", {}),
    ("forward 未实现", variant(forward=_raise(NotImplementedError())), check_affine_forward, "还没有实现", {}),
    ("forward 抛异常", variant(forward=_raise(KeyError("w"))), check_affine_forward, "抛出了异常 KeyError", {}),
    ("构造函数没有参数", AffineNoArgs, check_affine_forward, "__init__(self, W, b)", {}),
    ("没有 backward", student(type("NoBackward", (), {"__init__": lambda self, W, b: None,
                                                     "forward": lambda self, x: x})),
     check_affine_backward_dx, "没有 backward 方法", {}),
    # dx
    ("dx = W·doutᵀ", variant(backward=_backward(dx=lambda s, d: s.W @ d.T, reshape=False)), check_affine_backward_dx,
     "像是算成了 W·doutᵀ", {}),
    ("dx 少了转置（方阵）", variant(backward=_backward(dx=lambda s, d: d @ s.W)), check_affine_backward_dx,
     "少了转置", {"cases": [(3, 3, 3)]}),
    ("dx 少了转置（报错）", variant(backward=_backward(dx=lambda s, d: d @ s.W)), check_affine_backward_dx,
     "dx = dout·Wᵀ，dW = xᵀ·dout", {}),
    ("dx 返回 dout", variant(backward=_backward(dx=lambda s, d: d, reshape=False)), check_affine_backward_dx,
     "你的和 dout 一样", {}),
    ("dx 返回 dW", variant(backward=_backward(dx=lambda s, d: s.x.T @ d, reshape=False)), check_affine_backward_dx,
     "这是 dW 的形状", {}),
    ("dx 符号", variant(backward=_backward(dx=lambda s, d: -(d @ s.W.T))), check_affine_backward_dx,
     "符号反了", {}),
    ("backward 返回三个值", variant(backward=_returns_all), check_affine_backward_dx, "只返回 dx 一个数组", {}),
    ("backward 返回 None", variant(backward=lambda self, d: None), check_affine_backward_dx, "是 None", {}),
    ("backward 未实现", variant(backward=_raise(NotImplementedError())), check_affine_backward_dx, "还没有实现", {}),
    # dW
    ("dW 转置", variant(backward=_backward(dW=lambda s, d: d.T @ s.x)), check_affine_dW, "写成了 dout.T·x", {}),
    ("dW 转置（方阵）", variant(backward=_backward(dW=lambda s, d: d.T @ s.x)), check_affine_dW, "dW 被转置了",
     {"cases": [(3, 3, 3)]}),
    ("dW 用了 W", variant(backward=_backward(dW=lambda s, d: d @ s.W.T)), check_affine_dW, "dx 的公式", {}),
    ("dW 用了 W（同形状）", variant(backward=_backward(dW=lambda s, d: d @ s.W.T)), check_affine_dW,
     "你算的是 dout·Wᵀ", {"cases": [(3, 3, 3)]}),
    ("dW 除以 N", variant(backward=_backward(dW=lambda s, d: s.x.T @ d / len(d))), check_affine_dW,
     "多除了一个 N", {}),
    ("self.dw", variant(backward=_lower_dw), check_affine_dW, "你设置了 self.dw", {}),
    ("dW 没赋值", variant(backward=lambda self, d: d @ self.W.T), check_affine_dW, "仍然是 None", {}),
    # db
    ("db 没求和", variant(backward=_backward(db=lambda s, d: d)), check_affine_db, "没有对批求和", {}),
    ("db 求平均", variant(backward=_backward(db=lambda s, d: d.mean(axis=0))), check_affine_db, "求的是平均", {}),
    ("db 全部求和", variant(backward=_backward(db=lambda s, d: np.sum(d))), check_affine_db, "加成了一个数", {}),
    ("db 轴错了", variant(backward=_backward(db=lambda s, d: d.sum(axis=1))), check_affine_db, "求和的轴错了", {}),
    ("self.dB", variant(backward=_backward(db=lambda s, d: setattr(s, "dB", d.sum(axis=0)))), check_affine_db,
     "你设置了 self.dB", {}),
    # (N, d1, d2, ...)
    ("dx 没有还原形状", variant(backward=_backward(reshape=False)), check_affine_nd, "恢复成输入的形状", {}),
    ("存了没展平的 x", variant(forward=_unflattened_forward), check_affine_nd, "没有展平的 x", {}),
    ("forward 没展平", variant(forward=_no_flatten), check_affine_nd, "先把 x 展平成 (N, D)", {}),
]


@pytest.mark.parametrize("name, cls, check_fn, hint, kw", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_affine_gets_its_own_hint(name, cls, check_fn, hint, kw):
    with pytest.raises(CheckFailure) as info:
        check_fn(cls, report=False, **kw)
    assert hint in str(info.value), "%s：提示里没有“%s”，实际信息：\n%s" % (name, hint, info.value)


def test_broken_parts_are_not_counted_twice():
    """db 写错只在 db 的检查里扣分；dW 转置不影响 dx 的检查。"""
    no_sum = variant(backward=_backward(db=lambda s, d: d))
    for fn in (check_affine_forward, check_affine_backward_dx, check_affine_dW):
        fn(no_sum, report=False)
    transposed = variant(backward=_backward(dW=lambda s, d: d.T @ s.x))
    check_affine_backward_dx(transposed, report=False)
    check_affine_db(transposed, report=False)


def test_nd_check_does_not_count_two_dimensional_mistakes_again():
    """忘了 b、dW 转置、db 没求和：多维输入与展平输入的结果一致，check_affine_nd 不再扣分。"""
    for cls in (variant(forward=lambda self, x: Affine.forward(self, x) - self.b),
                variant(backward=_backward(dW=lambda s, d: d.T @ s.x)),
                variant(backward=_backward(db=lambda s, d: d))):
        check_affine_nd(cls, report=False)


def test_unflattened_x_passes_two_dimensional_checks():
    """没展平就存 x 的错误只在 N 维输入时出现，所以只有 check_affine_nd 抓得到。"""
    cls = variant(forward=_unflattened_forward)
    check_affine_dW(cls, report=False)
    with pytest.raises(CheckFailure):
        check_affine_nd(cls, report=False)


def test_failure_message_shows_inputs_and_values_but_no_source():
    with pytest.raises(CheckFailure) as info:
        check_affine_dW(variant(backward=_backward(dW=lambda s, d: s.x.T @ d / len(d))), report=False)
    msg = str(info.value)
    assert "输入：x = " in msg and "期望：" in msg and "得到：" in msg
    assert "def " not in msg and "lambda" not in msg


# ---- 传给检查函数本身的参数不对 ---------------------------------------------
@pytest.mark.parametrize("bad, hint", [
    (Affine(np.ones((2, 3)), np.zeros(3)), "你传入的是 Affine 类型的对象"),
    (3, "你传入的是 int"),
    (None, "是 None"),
    (layers.Affine, "来自模块 course.reference.layers"),
])
def test_bad_argument_to_affine_checks(bad, hint):
    for check_fn in ALL_CHECKS:
        with pytest.raises(CheckFailure) as info:
            check_fn(bad, report=False)
        assert hint in str(info.value)
