"""二维的小数据集（用 NumPy 现造，不用下载）：两个半月形（moons）和两条螺旋（spirals）。

给第 06 课的小网络练手：两类点在平面上缠在一起，一条直线分不开，要靠隐藏层弯出分界线。
同一个 seed 总是得到同一份数据。返回 X: (N, 2) 的 float64 数组，y: (N,) 的标签 0 或 1。
"""
import numbers

import numpy as np

__all__ = ["moons", "spirals", "signed"]


def _check(n, noise, seed):
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 2:
        raise ValueError("样本数 n 应当是不小于 2 的整数，你给的是 %r" % (n,))
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not 0 <= noise < 10:
        raise ValueError("噪声 noise 应当是 0 到 10 之间的数（点的坐标抖动的标准差），你给的是 %r" % (noise,))
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise ValueError("seed 应当是整数，你给的是 %r" % (seed,))


def moons(n=100, noise=0.1, seed=0):
    """两个交错的半月：标签 0 的在上方（圆心 (0, 0)），标签 1 的在下方（圆心 (1, 0.5)，开口朝上）。"""
    _check(n, noise, seed)
    rng = np.random.default_rng(seed)
    n0 = n // 2
    t0, t1 = np.linspace(0, np.pi, n0), np.linspace(0, np.pi, n - n0)
    upper = np.column_stack([np.cos(t0), np.sin(t0)])
    lower = np.column_stack([1 - np.cos(t1), 0.5 - np.sin(t1)])
    X = np.vstack([upper, lower]) + rng.normal(0.0, noise, (n, 2))
    y = np.r_[np.zeros(n0, dtype=int), np.ones(n - n0, dtype=int)]
    order = rng.permutation(n)  # 打乱顺序：两类交替出现
    return X[order], y[order]


def spirals(n=100, noise=0.1, turns=1.5, seed=0):
    """两条互相缠绕的螺旋线（比 moons 难分），turns 是每条绕的圈数。"""
    _check(n, noise, seed)
    rng = np.random.default_rng(seed)
    n0 = n // 2
    X, y = [], []
    for label, count in ((0, n0), (1, n - n0)):
        r = np.linspace(0.15, 1.0, count)
        angle = 2 * np.pi * turns * r + np.pi * label  # 第二条转过半圈
        X.append(np.column_stack([r * np.cos(angle), r * np.sin(angle)]))
        y.append(np.full(count, label, dtype=int))
    X = np.vstack(X) + rng.normal(0.0, noise * 0.3, (n, 2))
    y = np.concatenate(y)
    order = rng.permutation(n)
    return X[order], y[order]


def signed(y):
    """标签 0/1 换成 -1/+1（合页损失要的写法）。"""
    y = np.asarray(y)
    return np.where(y > 0, 1.0, -1.0)
