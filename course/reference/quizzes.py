"""概念题的参考答案：每道题一个函数，隐藏测试按题号取来交给 course.checks.concepts.check_quiz。

每道概念题要学生写一个小函数 qN(...)：它从题目给的具体数字算出答案。公开测试用题目里的那组数，
只带着参考答案的摘要（check_quiz 的 expect）；隐藏测试换几组学生没见过的数，在评判进程里和这里的函数比。
本模块在答案文件夹 course/reference/ 里：学生版的课程包不装它，评分时学生的内核也看不到它。
"""
import math

import numpy as np

__all__ = ["REFERENCES", "reference"]

_E = math.e
_EPS = np.finfo(float).eps


def _l01_q1(n):
    """n 个输入：反向传播走 1 趟；中心差分每个输入要把整张图正向算 2 遍。"""
    return 1, 2 * n


def _l01_q2(apple, apple_num, orange, orange_num, tax):
    """苹果单价那条边的导数：dout(=1) × tax 传到加法节点，原样传下，再乘另一个输入 apple_num。"""
    return apple_num * tax


def _l01_q3(h):
    """e^x 在 x = 1 处的中心差分：截断误差约 e·h²/6，舍入误差约 ε·e/h，哪个大。"""
    return "截断" if _E * h * h / 6 > _EPS * _E / h else "舍入"


def _l02_q1(op, x, y, dout):
    if op == "+":
        return dout, dout
    if op == "*":
        return dout * y, dout * x
    if op == "max":
        return (dout, 0.0) if x > y else (0.0, dout)
    raise ValueError(op)


_NEEDS_STATE = {"+": False, "-": False, "*": True, "max": True, "*3": False, "**2": True, "exp": True}


def _l02_q2(op):
    """backward 要不要用到 forward 时存下的东西（输入、输出或由它们算出的掩码）。"""
    return _NEEDS_STATE[op]


_LAST = ("mul_tax_layer", "add_apple_orange_layer")


def _l02_q3(order):
    """苹果橘子图的 backward 顺序可不可行：每一层被调用时，它的 dout 已经由右边的层算出。"""
    return len(order) == 4 and tuple(order[:2]) == _LAST and set(order[2:]) == {"mul_apple_layer", "mul_orange_layer"}


def _l03_q1(x, dout):
    x, dout = np.asarray(x, float), np.asarray(dout, float)
    return np.where(x > 0, dout, 0.0)


def _l03_q2(x, dout):
    """书上原地改 dout 的 Relu.backward 先运行，另一条支路拿到的是同一个（已被改过的）数组。"""
    masked = np.where(np.asarray(x, float) > 0, np.asarray(dout, float), 0.0)
    return masked + masked


def _l03_q3(n, c):
    """n 个“先乘 c、再 Sigmoid”的块：每块的局部导数之积不超过 c × 0.25。"""
    return (c * 0.25) ** n


def _l04_q1(dY, V):
    """Y = X·Vᵀ，V 的形状 (M, D)：X_i 经 V_ji 影响 Y_j，∂L/∂X = ∂L/∂Y · V。"""
    return np.dot(np.asarray(dY, float), np.asarray(V, float))


def _l04_q2(dout):
    """一个标量偏置加到 (N, M) 的每个元素上：N·M 条分叉，导数全部加起来。"""
    return float(np.sum(dout))


def _l04_q3(y, t):
    """损失是整批的和（不除以 N）时，对得分的导数就是 y − t。"""
    return np.asarray(y, float) - np.asarray(t, float)


def _l05_q1(xs, w, dout):
    """乘法层依次 forward 了 xs 里的每个 x，再 backward：用的是最后一次存下的 x。"""
    return dout * w, dout * xs[-1]


WRONG = 1e-2  # 第 5 课的判断标准：相对误差 1e-2 以上几乎可以肯定有错


def _l05_q2(errors):
    bad = {k for k, v in errors.items() if v >= WRONG}
    if bad == {"W1", "b1", "W2", "b2"}:
        return "SoftmaxWithLoss"
    if bad and bad <= {"W2", "b2"}:
        return "Affine2"
    if len(bad) == 1 and bad <= {"W1", "b1"}:
        return "Affine1"
    raise ValueError("这组误差不能唯一确定出错的层：%r" % (errors,))


def _l05_q3(k):
    return k, k * k


def _l06_q1(a, b, k):
    """c = a·b，d = c·k + 1，out = c + d。一层层处理时 c 只收到直接那份 1，正确的是 1 + k。"""
    return b, b * (1 + k)


def _l06_q2(gs):
    return list(np.cumsum(np.asarray(gs, float)))


def _l06_q3(z, y):
    """最后一层加了 ReLU：s = relu(z)，损失 max(0, 1 − y·s)，返回 (损失, ∂损失/∂z)。"""
    s = max(z, 0.0)
    loss = max(0.0, 1 - y * s)
    grad = (-y if 1 - y * s > 0 else 0.0) * (1.0 if z > 0 else 0.0)
    return loss, grad


REFERENCES = {
    "01-q1": _l01_q1, "01-q2": _l01_q2, "01-q3": _l01_q3,
    "02-q1": _l02_q1, "02-q2": _l02_q2, "02-q3": _l02_q3,
    "03-q1": _l03_q1, "03-q2": _l03_q2, "03-q3": _l03_q3,
    "04-q1": _l04_q1, "04-q2": _l04_q2, "04-q3": _l04_q3,
    "05-q1": _l05_q1, "05-q2": _l05_q2, "05-q3": _l05_q3,
    "06-q1": _l06_q1, "06-q2": _l06_q2, "06-q3": _l06_q3,
}


def reference(qid):
    """题号对应的参考答案函数；没有这道题时抛出 KeyError。"""
    return REFERENCES[qid]
