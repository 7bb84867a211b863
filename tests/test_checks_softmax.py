"""course.checks.softmax：softmax 与交叉熵误差的检查，对的不出声，错的各有提示。"""
import warnings

import numpy as np
import pytest

from course.reference import layers
from course.checks import CheckFailure
from course.checks.softmax import (
    check_cross_entropy_labels, check_cross_entropy_onehot, check_softmax, check_softmax_stable,
)
from conftest import student


# ---- 正确的实现 -------------------------------------------------------------
@student
def softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(x)
    return e / np.sum(e, axis=-1, keepdims=True)


@student
def softmax_2d_branch(x):
    """另一种正确写法：按维数分开处理。"""
    if x.ndim == 2:
        x = x.T - x.max(axis=1)
        y = np.exp(x) / np.exp(x).sum(axis=0)
        return y.T
    x = x - x.max()
    return np.exp(x) / np.exp(x).sum()


@student
def cross_entropy_error(y, t):
    if y.ndim == 1:
        t = np.asarray(t).reshape(1, -1)
        y = y.reshape(1, -1)
    if t.size == y.size:
        t = t.argmax(axis=1)
    n = y.shape[0]
    return -np.sum(np.log(y[np.arange(n), t] + 1e-7)) / n


@student
def cross_entropy_clip(y, t):
    """另一种写法：都转成 one-hot，用 clip 代替 + delta（y = 0 时与 + 1e-7 一致）。"""
    y = np.atleast_2d(y)
    t = np.asarray(t)
    if t.size != y.size:
        t = np.eye(y.shape[1])[t.reshape(-1)]
    t = t.reshape(y.shape)
    return -np.sum(t * np.log(np.clip(y, 1e-7, None))) / y.shape[0]


def test_correct_implementations_pass_silently(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fn in (softmax, softmax_2d_branch):
            check_softmax(fn)
            check_softmax_stable(fn)
            check_softmax(fn, seed=77, shapes=[(1,), (9,), (3, 3), (1, 4), (6, 2)], report=False)
            check_softmax_stable(fn, seed=77, scale=5000.0, report=False)
        for fn in (cross_entropy_error, cross_entropy_clip):
            check_cross_entropy_onehot(fn)
            check_cross_entropy_labels(fn)
            check_cross_entropy_onehot(fn, seed=31, cases=[(3, 3), (1, 4), (8, 10)], report=False)
            check_cross_entropy_labels(fn, seed=31, cases=[(3, 3), (1, 4), (8, 10)], report=False)
    out, err = capsys.readouterr()
    assert err == ""
    assert out.count("✔") == 8 and "隐藏测试" in out


def test_report_false_prints_nothing(capsys):
    check_softmax(softmax, seed=2, report=False)
    check_cross_entropy_labels(cross_entropy_error, seed=2, report=False)
    assert capsys.readouterr() == ("", "")


# ---- softmax 的错误写法 -----------------------------------------------------
def _softmax_naive(x):
    e = np.exp(x)
    return e / np.sum(e, axis=-1, keepdims=True)


def _softmax_global_max(x):
    e = np.exp(x - np.max(x))
    return e / np.sum(e, axis=-1, keepdims=True)


def _softmax_axis0(x):
    e = np.exp(x - np.max(x, axis=0))
    return e / np.sum(e, axis=0)


def _softmax_whole(x):
    e = np.exp(x - np.max(x))
    return e / np.sum(e)


def _softmax_no_keepdims(x):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1)


def _softmax_inplace(x):
    x -= np.max(x, axis=-1, keepdims=True)
    e = np.exp(x)
    return e / np.sum(e, axis=-1, keepdims=True)


def _not_implemented(*args):
    raise NotImplementedError("还没有实现")


SOFTMAX_BROKEN = [
    # (名字, 函数, 哪个检查, 提示里独有的片段, 额外参数)
    ("没减最大值", _softmax_naive, check_softmax_stable, "exp(1010) 超出了 float64 的范围", {}),
    ("减整个数组的最大值", _softmax_global_max, check_softmax_stable, "减去它自己那一行的最大值", {}),
    ("按列归一化", _softmax_axis0, check_softmax, "按列（axis=0）归一化了", {}),
    ("整批归一化", _softmax_whole, check_softmax, "整批一起归一化了", {}),
    ("少了 keepdims（方阵）", _softmax_no_keepdims, check_softmax, "少了 keepdims=True", {"shapes": [(4, 4)]}),
    ("少了 keepdims（报错）", _softmax_no_keepdims, check_softmax, "每一行单独做 softmax", {}),
    ("原地改 x", _softmax_inplace, check_softmax, "改动了传入的 x", {}),
    ("没有归一化", lambda x: np.exp(x), check_softmax, "忘了除以总和", {}),
    ("返回 None", lambda x: None, check_softmax, "是 None", {}),
    ("返回 list", lambda x: list(softmax(x)), check_softmax, "你得到的是 list", {}),
    ("展平", lambda x: softmax(x).ravel(), check_softmax, "softmax 不改变形状", {"shapes": [(3, 4)]}),
    ("未实现", _not_implemented, check_softmax, "还没有实现", {}),
    ("抛异常", lambda x: x[7], check_softmax, "抛出了异常 IndexError", {}),
]


@pytest.mark.parametrize("name, fn, check_fn, hint, kw", SOFTMAX_BROKEN, ids=[b[0] for b in SOFTMAX_BROKEN])
def test_broken_softmax_gets_its_own_hint(name, fn, check_fn, hint, kw):
    with pytest.raises(CheckFailure) as info:
        check_fn(student(fn), report=False, **kw)
    assert hint in str(info.value), "%s：提示里没有“%s”，实际信息：\n%s" % (name, hint, info.value)


def test_naive_softmax_is_right_for_small_inputs():
    """没减最大值的 softmax 只在大输入时出错，所以只扣稳定性那一项。"""
    check_softmax(student(_softmax_naive), report=False)


# ---- 交叉熵误差的错误写法 ---------------------------------------------------
def _onehot_only(delta=1e-7, average=True, sign=-1.0, mean_all=False):
    def cee(y, t):
        y = np.atleast_2d(y)
        t = np.asarray(t).reshape(y.shape) if np.size(t) == y.size else t
        total = sign * np.sum(t * np.log(y + delta))
        if mean_all:
            return total / y.size
        return total / y.shape[0] if average else total
    return cee


def _labels_only(y, t):
    y = np.atleast_2d(y)
    t = np.atleast_1d(t)
    n = y.shape[0]
    return -np.sum(np.log(y[np.arange(n), t] + 1e-7)) / n


def _mean_all_for_batches(y, t):
    if y.ndim == 1:
        return cross_entropy_error(y, t)
    return -np.mean(t * np.log(y + 1e-7))


def _batch_is_shape0(y, t):
    return -np.sum(t * np.log(y + 1e-7)) / y.shape[0]


CEE_BROKEN = [
    ("没有按批平均", _onehot_only(average=False), check_cross_entropy_onehot, "没有按批平均", {}),
    ("没有 delta", _onehot_only(delta=0.0), check_cross_entropy_onehot, "np.log(0) 是 -inf", {}),
    ("delta 太小", _onehot_only(delta=1e-12), check_cross_entropy_onehot, "delta 取 1e-7", {}),
    ("少了负号", _onehot_only(sign=1.0), check_cross_entropy_onehot, "前面有负号", {}),
    ("np.mean", _onehot_only(mean_all=True), check_cross_entropy_onehot, "或者用了 np.mean", {}),
    ("np.mean（批）", _mean_all_for_batches, check_cross_entropy_onehot, "除以了 N×C", {}),
    ("1 维按 shape[0] 平均", _batch_is_shape0, check_cross_entropy_onehot, "把 y.shape[0] 当成了批大小", {}),
    ("只支持标签", _labels_only, check_cross_entropy_onehot, "t 是 one-hot（与 y 同形状）时", {}),
    ("只支持 one-hot（报错）", _onehot_only(), check_cross_entropy_labels, "用 y[np.arange(N), t]", {}),
    ("只支持 one-hot（方阵）", _onehot_only(), check_cross_entropy_labels, "把标签下标当成 one-hot 用了",
     {"cases": [(4, 4)]}),
    ("返回 None", lambda y, t: None, check_cross_entropy_onehot, "是 None", {}),
    ("返回数组", lambda y, t: -np.log(y + 1e-7) * t, check_cross_entropy_onehot, "应当是一个数", {}),
    ("未实现", _not_implemented, check_cross_entropy_labels, "还没有实现", {}),
]


@pytest.mark.parametrize("name, fn, check_fn, hint, kw", CEE_BROKEN, ids=[b[0] for b in CEE_BROKEN])
def test_broken_cross_entropy_gets_its_own_hint(name, fn, check_fn, hint, kw):
    with pytest.raises(CheckFailure) as info:
        check_fn(student(fn), report=False, **kw)
    assert hint in str(info.value), "%s：提示里没有“%s”，实际信息：\n%s" % (name, hint, info.value)


# ---- 传给检查函数本身的参数不对 ---------------------------------------------
@pytest.mark.parametrize("check_fn, bad, hint", [
    (check_softmax, type("Softmax", (), {}), "需要函数 softmax 本身"),
    (check_softmax, 3.0, "你传入的是 float"),
    (check_softmax_stable, None, "是 None"),
    (check_softmax, layers.softmax, "来自模块 course.reference.layers"),
    (check_cross_entropy_onehot, "abc", "你传入的是 str"),
    (check_cross_entropy_labels, layers.cross_entropy_error, "来自模块 course.reference.layers"),
])
def test_bad_argument_to_checks(check_fn, bad, hint):
    with pytest.raises(CheckFailure) as info:
        check_fn(bad, report=False)
    assert hint in str(info.value)
