"""第04课 softmax 函数和交叉熵误差的检查（Softmax-with-Loss 层的检查在 softmax_loss.py）。

- softmax(x)：1 维输入或 2 维的一批（逐行），输入很大或很小时也不能溢出；
- cross_entropy_error(y, t)：t 是 one-hot 或标签下标，结果按批平均，log 里加 delta = 1e-7。
这里的参考实现和小工具也供 softmax_loss.py 使用。
"""
import numpy as np

from ._core import (call, check, diagnose, expect_array, expect_number, fail, own_class, passed, rng_for,
                    same_shape)

__all__ = ["check_softmax", "check_softmax_stable", "check_cross_entropy_onehot", "check_cross_entropy_labels"]

DELTA = 1e-7
ROW_HINT = "2 维输入是一批样本，每一行单独做 softmax：np.max 和 np.sum 都写 axis=-1, keepdims=True。"
ONEHOT_HINT = "t 是 one-hot（与 y 同形状）时，可以写 -np.sum(t * np.log(y + delta)) / N，或先用 t.argmax(axis=1) 变成标签下标。"
LABEL_HINT = "t 是标签下标（形状 (N,) 的整数数组）时，用 y[np.arange(N), t] 取出每个样本正确类别的概率。"
DELTA_HINT = ("np.log(0) 是 -inf（0 × (-inf) 还会得到 nan）：在 log 里加一个很小的 delta = 1e-7，"
              "写成 np.log(y + 1e-7)。")


# ---- 参考实现（只在检查内部使用） -------------------------------------------
def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _labels(y, t):
    t = np.asarray(t)
    return t.reshape(y.shape).argmax(axis=-1).reshape(-1) if t.size == y.size else t.reshape(-1).astype(int)


def _cee(y, t):
    lab = _labels(y, t)
    y2 = y.reshape(len(lab), -1)
    return -np.sum(np.log(y2[np.arange(len(lab)), lab] + DELTA)) / len(lab)


def _one_hot(labels, C):
    t = np.zeros((len(labels), C))
    t[np.arange(len(labels)), labels] = 1.0
    return t


# ---- 公共小工具 --------------------------------------------------------------
def _need(obj, name, kind):
    __tracebackhide__ = True
    if kind == "class" and obj is not None and not isinstance(obj, type):
        fail("检查函数需要类 %s 本身（写 %s，不带括号），你传入的是 %s 类型的对象。" % (name, name, type(obj).__name__),
             show=False)
    if kind == "function" and obj is not None and (isinstance(obj, type) or not callable(obj)):
        fail("检查函数需要函数 %s 本身（写 %s，不带括号），你传入的是 %s 类型的对象。" % (name, name, type(obj).__name__),
             show=False)
    own_class(obj, name)


def _close(got, expected, what, hint, inputs, candidates=()):
    __tracebackhide__ = True
    what = what + " " if what[-1].isascii() else what  # 英文词后空一格，汉字后不空
    if not same_shape(got, np.shape(expected)):  # 形状不同就是不对：先看形状，不做任何运算，也不广播比较
        fail("%s不对。" % what, expected, got, diagnose(got, candidates, hint), inputs)
    if not np.all(np.isfinite(got)) and np.all(np.isfinite(expected)):
        fail("%s里出现了 inf 或 nan。" % what, expected, got, hint, inputs)
    if not np.allclose(got, expected, rtol=1e-5, atol=1e-7):
        fail("%s不对。" % what, expected, got, diagnose(got, candidates, hint), inputs)


# ---- softmax -----------------------------------------------------------------
@check
def check_softmax(softmax, *, seed=0, report=True, shapes=None):
    """1 维输入与 2 维的一批（逐行）都要对，形状不变，不改动输入。"""
    _need(softmax, "softmax", "function")
    rng = rng_for(seed)
    for shape in shapes or [(5,), (4, 6)]:
        x = rng.standard_normal(shape) * 2
        x0 = x.copy()
        what = "%d 维输入的 softmax" % len(shape)
        y = call(softmax, x, what="softmax(x)", step_hint=ROW_HINT if len(shape) == 2 else "axis=-1 对 1 维、2 维输入都适用。")
        y = expect_array(y, shape, what, hint="softmax 不改变形状：输出与 x 形状相同（求和时加 keepdims=True）。")
        if not np.array_equal(x, x0):
            fail("softmax 改动了传入的 x。", show=False,
                 hint="x = x - np.max(...) 会新建一个数组；x -= ... 会改掉调用者手里的数据。")
        e = np.exp(x0)
        candidates = [(e, "忘了除以总和：softmax 的各个输出加起来应等于 1。")]
        if len(shape) == 2:
            candidates += [
                (e / e.sum(axis=0, keepdims=True), "按列（axis=0）归一化了。" + ROW_HINT),
                (e / e.sum(), "整批一起归一化了（np.sum 没有指定轴）。" + ROW_HINT),
            ]
            if shape[0] == shape[1]:  # 方阵时少了 keepdims 不会报错，只会按列广播
                no_keep = "np.max 或 np.sum 少了 keepdims=True，减法或除法按列广播了。" + ROW_HINT
                for shifted in (x0 - x0.max(axis=1, keepdims=True), x0 - x0.max(axis=1), x0):
                    es = np.exp(shifted)
                    candidates.append((es / es.sum(axis=1), no_keep))
                es = np.exp(x0 - x0.max(axis=1))
                candidates.append((es / es.sum(axis=1, keepdims=True), no_keep))
        _close(y, _softmax(x0), what, "softmax(x)_k = exp(x_k) / Σ exp(x_i)。", {"x": x0}, candidates)
    if report:
        passed("softmax 的结果正确")


@check
def check_softmax_stable(softmax, *, seed=0, report=True, scale=1000.0):
    """很大或很小的输入（如 [1010, 1000, 990]）不能得到 inf 或 nan；批里每一行各自减去最大值。"""
    _need(softmax, "softmax", "function")
    rng = rng_for(seed)
    overflow = ("exp(1010) 超出了 float64 的范围（约 1.8e308），变成 inf，inf/inf 就是 nan："
                "先减去最大值 x - np.max(x)，softmax 的结果不变。")
    one_d = [np.array([1010.0, 1000.0, 990.0]), np.array([-1010.0, -1000.0, -990.0]),
             rng.standard_normal(6) + scale * rng.choice([-1.0, 1.0])]
    for x in one_d:
        y = call(softmax, x.copy(), what="softmax(x)")
        y = expect_array(y, x.shape, "1 维输入的 softmax")
        _close(y, _softmax(x), "大数值输入的 softmax", overflow, {"x": x})
    rows = np.array([[1010.0, 1000.0, 990.0], [1.0, 2.0, 3.0], [-1000.0, -1001.0, -999.0]])
    rows = np.vstack([rows, rng.standard_normal((2, 3)) + scale * rng.standard_normal((2, 1))])
    y = call(softmax, rows.copy(), what="softmax(x)", step_hint=ROW_HINT)
    y = expect_array(y, rows.shape, "2 维输入的 softmax", hint=ROW_HINT)
    _close(y, _softmax(rows), "各行数量级不同的一批输入的 softmax",
           "每一行要减去它自己那一行的最大值 np.max(x, axis=-1, keepdims=True)；"
           "只减去整个数组的最大值时，数值小的行会全部下溢成 0，0/0 得到 nan。", {"x": rows})
    if report:
        passed("softmax 不会溢出")


# ---- 交叉熵误差 -------------------------------------------------------------
def _cee_candidates(y, t, expected):
    c = []
    if y.ndim == 1:
        c.append((expected / y.size, "结果被多除了 C = %d：1 维的 y 是单个样本，批大小是 1。是不是把 y.shape[0] 当成了批大小，"
                  "或者用了 np.mean？先把 y、t reshape 成 (1, C)，再除以 N。" % y.size))
    else:
        c.append((expected * y.shape[0], "没有按批平均：求和之后要除以批大小 N = y.shape[0]。"))
        c.append((expected / y.shape[1], "np.mean 对所有元素求平均，除以了 N×C：应当只除以批大小 N。"))
    c.append((-expected, "符号反了：交叉熵误差是 -Σ t·log(y)，前面有负号。"))
    return c


@check
def check_cross_entropy_onehot(cross_entropy_error, *, seed=0, report=True, cases=None):
    """t 为 one-hot：单个样本（书中的例子）、一批样本（按批平均）、正确类别的概率为 0（delta）。"""
    _need(cross_entropy_error, "cross_entropy_error", "function")
    rng = rng_for(seed)
    y1 = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
    trials = [(y1, _one_hot([2], 10)[0], "1 维时是单个样本：先把 y、t reshape 成 (1, C)。" + ONEHOT_HINT)]
    for N, C in cases or [(4, 5)]:
        y = _softmax(rng.standard_normal((N, C)) * 2)
        trials.append((y, _one_hot(rng.integers(0, C, N), C), ONEHOT_HINT))
        y0 = y.copy()
        y0[0, 0] = 0.0  # 第一个样本的正确类别（下标 0）概率为 0
        y0[0] /= y0[0].sum()
        trials.append((y0, _one_hot([0] + list(rng.integers(0, C, N - 1)), C), None))
    for y, t, hint in trials:
        expected = _cee(y, t)
        got = call(cross_entropy_error, y.copy(), t.copy(), what="cross_entropy_error(y, t)", step_hint=hint)
        got = expect_number(got, "交叉熵误差")
        if not np.isfinite(got):
            fail("y 里有 0 时，交叉熵误差成了 %s。" % got, expected, got, DELTA_HINT, {"y": y, "t": t})
        _close(got, expected, "交叉熵误差", hint or "log 里加的 delta 取 1e-7：np.log(y + 1e-7)。",
               {"y": y, "t": t}, _cee_candidates(y, t, expected))
    if report:
        passed("t 为 one-hot 时交叉熵误差正确")


@check
def check_cross_entropy_labels(cross_entropy_error, *, seed=0, report=True, cases=None):
    """t 为标签下标：一批样本 t 的形状 (N,)，单个样本 t 是一个整数。"""
    _need(cross_entropy_error, "cross_entropy_error", "function")
    rng = rng_for(seed)
    trials = []
    for N, C in cases or [(4, 5)]:
        trials.append((_softmax(rng.standard_normal((N, C)) * 2), rng.integers(0, C, N), LABEL_HINT))
    y1 = _softmax(rng.standard_normal(6))
    trials.append((y1, np.int64(rng.integers(0, 6)), "单个样本时 y 是 (C,)、t 是一个整数：先把 y 变成 (1, C)，t 变成 np.array([t])。"))
    for y, t, hint in trials:
        expected = _cee(y, t)
        got = call(cross_entropy_error, y.copy(), t.copy(), what="cross_entropy_error(y, t)", step_hint=hint)
        got = expect_number(got, "交叉熵误差")
        candidates = _cee_candidates(y, t, expected)
        if y.ndim == 2 and y.shape[0] == y.shape[1]:
            wrong = -np.sum(t * np.log(y + DELTA)) / y.shape[0]
            candidates.insert(0, (wrong, "把标签下标当成 one-hot 用了。" + LABEL_HINT))
        _close(got, expected, "t 为标签下标时的交叉熵误差", hint, {"y": y, "t": t}, candidates)
    if report:
        passed("t 为标签下标时交叉熵误差正确")
