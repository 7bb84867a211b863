"""第 05 课另两个练习的检查：梯度确认函数 gradient_check(network, x, t) 和 SGD 的一步更新 sgd_step。"""
from collections.abc import Mapping

import numpy as np

from ..gradcheck import rel_error
from ._twolayer import PARAM_KEYS, FormulaNet
from ._core import call, check, diagnose, expect_number, fail, own_class, passed, rng_for, same_shape

__all__ = ["check_gradient_check", "check_sgd_step"]


class _PlantedNet(FormulaNet):
    """故意带错的网络：b1 的梯度多乘了 3，W2 的一个元素偏了一点。用来确认 gradient_check 真的在比较。"""

    def gradient(self, x, t):
        grads = {k: v.copy() for k, v in super().gradient(x, t).items()}
        grads["b1"] *= 3.0
        grads["W2"][0, 0] += 0.05
        return grads


def _expect_function(fn, name):
    """fn 应是在 notebook 里定义的函数（不是 None、不是类、不是别的对象）。"""
    __tracebackhide__ = True
    if fn is not None and (isinstance(fn, type) or not callable(fn)):
        kind = "类 %s" % fn.__name__ if isinstance(fn, type) else "一个 %s 对象" % type(fn).__name__
        fail("%s 应当是一个函数，你传入的是%s。" % (name, kind), show=False)
    own_class(fn, name)  # None 时提示先运行定义它的单元


@check
def check_gradient_check(fn, *, seed=0, report=True, sizes=(5, 4, 3), batch=4):
    """gradient_check(network, x, t) 返回 {键: 数值梯度与反向传播梯度的相对误差}。"""
    _expect_function(fn, "gradient_check")
    D, H, C = sizes
    for planted in (False, True):
        rng = rng_for(seed + planted)
        net = (_PlantedNet if planted else FormulaNet)(D, H, C, weight_init_std=0.5, seed=rng)
        net.params["b1"][...] = 0.5 * rng.standard_normal(H)
        x = rng.standard_normal((batch, D))
        t = np.eye(C)[rng.integers(0, C, batch)]
        num, bp = net.numerical_gradient(x, t), net.gradient(x, t)
        expected = {k: rel_error(num[k], bp[k]) for k in PARAM_KEYS}
        what = "gradient_check(network, x, t)"
        got = call(fn, net, x, t, what=what)
        if got is None:
            fail("%s 返回了 None：是不是忘了写 return？" % what, show=False)
        if not isinstance(got, Mapping):
            fail("%s 应返回字典 {键: 相对误差}，你返回的是 %s。" % (what, type(got).__name__), show=False)
        if set(got) != set(PARAM_KEYS):
            fail("%s 返回的键应是 W1, b1, W2, b2（和 network.params 一样），你的是 %s。"
                 % (what, ", ".join(map(repr, got)) or "空字典"), show=False,
                 hint="遍历 network.params 的键（for key in grads_num:），每个键算一个误差。")
        values = {k: expect_number(got[k], "%s['%s']" % (what, k)) for k in PARAM_KEYS}
        for key in PARAM_KEYS:
            if np.isclose(values[key], expected[key], rtol=1e-6, atol=1e-15):
                continue  # 学生用的是同一个网络的同一组梯度，结果应与这里完全一致
            a, b = num[key], bp[key]
            hint = diagnose(values[key], [
                (np.mean(np.abs(a - b)), "这是平均绝对误差，不是相对误差：用 rel_error(grad_numerical[key], grad_backprop[key])。"),
                (np.max(np.abs(a - b)), "这是最大绝对误差，不是相对误差：用 rel_error(grad_numerical[key], grad_backprop[key])。"),
            ], "对每个键 key 计算 rel_error(数值梯度[key], 反向传播梯度[key])。")
            if values[key] == 0:
                hint = "误差是 0：是不是把同一个梯度和它自己比较了？要比较 network.numerical_gradient 和 network.gradient 的结果。"
            fail("%s['%s'] 不对%s。" % (what, key, "（这个网络的 %s 梯度故意算错了）" % key if planted and key in ("b1", "W2") else ""),
                 expected[key], values[key], hint)
    if report:
        passed("gradient_check")


@check
def check_sgd_step(fn, *, seed=0, report=True, keys=PARAM_KEYS, lr=0.1):
    """sgd_step(params, grads, lr) 原地执行 params[key] -= lr * grads[key]，对 params 的每个键。"""
    _expect_function(fn, "sgd_step")
    rng = rng_for(seed)
    shapes = [(3, 4), (4,), (4, 2), (2,), (2, 5), (5,)]
    params = {k: rng.standard_normal(shapes[i % len(shapes)]) for i, k in enumerate(keys)}
    grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
    arrays = dict(params)  # 原来的数组对象：层里引用的就是它们
    before = {k: v.copy() for k, v in params.items()}
    grads_before = {k: v.copy() for k, v in grads.items()}
    call(fn, params, grads, lr, what="sgd_step(params, grads, lr=%g)" % lr)
    if set(params) != set(keys):
        fail("sgd_step 改动了 params 的键：原来是 %s，现在是 %s。" % (", ".join(keys), ", ".join(map(str, params))),
             show=False, hint="只更新每个键对应的数组，不要增删键。")
    if any(not np.array_equal(grads[k], grads_before[k]) for k in keys):
        fail("sgd_step 改动了 grads：它只应更新 params。", show=False)
    for key in keys:
        expected = before[key] - lr * grads_before[key]
        now = params[key]
        if now is not arrays[key]:
            if isinstance(now, np.ndarray) and now.shape == expected.shape and np.allclose(now, expected):
                hint = ("params['%s'] 被换成了一个新数组，Affine 层里引用的还是旧数组，网络其实没有更新。"
                        "用 params[key] -= lr * grads[key] 原地修改。" % key)
            else:
                hint = "用 params[key] -= lr * grads[key] 原地修改数组，不要给 params[key] 重新赋值。"
            fail("sgd_step 没有原地更新 params['%s']。" % key, show=False, hint=hint)
        # 先看形状：原地 resize 成 (4000000, 1) 的数组与 (4,) 的期望值广播比较，要占用上百 MB 内存
        if not (same_shape(now, expected.shape) and np.allclose(now, expected, rtol=1e-12, atol=1e-12)):
            hint = diagnose(now, [
                (before[key], "params['%s'] 没有变化：%s。" % (key, "只更新了一部分参数？要遍历 params 的每一个键"
                                                             if any(not np.array_equal(params[k], before[k]) for k in keys)
                                                             else "是不是忘了修改它")),
                (before[key] + lr * grads_before[key], "符号反了：梯度指向损失增大的方向，更新时要减去 lr * grad。"),
                (before[key] - grads_before[key], "忘了乘学习率 lr。"),
                (before[key] - 2 * lr * grads_before[key], "同一个参数被更新了两次。"),
            ], "更新规则是 params[key] -= lr * grads[key]。")
            fail("sgd_step 之后 params['%s'] 的值不对。" % key, expected, now, hint, {"lr": lr})
    if report:
        passed("sgd_step")
