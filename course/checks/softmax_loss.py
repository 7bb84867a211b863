"""第04课 Softmax-with-Loss 层的检查：forward(x, t) 返回损失，backward(dout=1) 返回 (y - t) / N。

反向的结果与损失对 x 的数值微分比较；数值微分用不含 delta 的精确函数（log-sum-exp 写法），
所以比较的是数学上的梯度。先查随机的一批（常见错误在批上才分得清），再查书中的两个例子：
t = (0, 1, 0) 时 y = (0.3, 0.2, 0.5) → (0.3, -0.8, 0.5)，y = (0.01, 0.99, 0) → (0.01, -0.01, 0)。

学生的层和书里一样，直接调用 notebook 里的 softmax 和 cross_entropy_error（练习 2、3）。检查期间
reference_parts() 把这两个名字临时换成检查自己的正确版本（course.checks.softmax 里的 _softmax、_cee），结束后换回：练习 2、3 里的错误只扣那两个练习的分，
不在这一层上再扣一次。
"""
import contextlib

import numpy as np

from .. import boundary
from ..gradcheck import numerical_gradient
from ._core import call, check, diagnose, expect_array, expect_number, fail, passed, rng_for
from .softmax import _cee, _close, _need, _one_hot, _softmax

__all__ = ["check_softmax_with_loss_forward", "check_softmax_with_loss_backward", "reference_parts"]

SELF_T_HINT = "forward(x, t) 要把 t 存成 self.t，backward 里用 self.t 和 self.y，不要读全局变量。"


PARTS = {"softmax": _softmax, "cross_entropy_error": _cee}
_MISSING = object()


def _namespaces(cls):
    """cls 及其父类（object 除外）里各个函数所在模块的全局字典：学生的层就在这里按名字找 softmax。

    autograde 时学生的类在内核里（course/boundary/），字典也就在那边，按句柄改写。
    """
    if boundary.is_remote(cls):
        return boundary.remote_namespaces(cls)
    return boundary.class_namespaces(cls)


@contextlib.contextmanager
def reference_parts(SoftmaxWithLoss):
    """with reference_parts(SoftmaxWithLoss): ... —— 块内 softmax、cross_entropy_error 是检查自己的正确版本。

    换的是定义这个类的地方（notebook 里就是全局变量）的这两个名字，块结束后原样换回（原来没有的就删掉）。
    """
    saved = []
    try:
        for g in _namespaces(SoftmaxWithLoss):
            for name, ref in PARTS.items():
                saved.append((g, name, g.get(name, _MISSING)))
                g[name] = ref
        yield
    finally:
        for g, name, old in reversed(saved):
            if old is _MISSING:
                g.pop(name, None)
            else:
                g[name] = old


def _exact_loss(x, t):
    """不含 delta 的 softmax + 交叉熵（log-sum-exp 写法），数值微分用它作标准。"""
    m = x.max(axis=1, keepdims=True)
    logp = x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))
    return -np.sum(t * logp) / x.shape[0]


BOOK_CASES = [
    (np.log([[0.3, 0.2, 0.5]]), np.array([[0.0, 1.0, 0.0]])),
    (np.array([[np.log(0.01), np.log(0.99), -60.0]]), np.array([[0.0, 1.0, 0.0]])),
]


def _layer_cases(rng, cases):
    """先是随机的一批（常见错误在批上才分得清），再是书中的两个例子。"""
    out = []
    for N, C in cases or [(4, 5)]:
        out.append((rng.standard_normal((N, C)) * 2, _one_hot(rng.integers(0, C, N), C)))
    return out + BOOK_CASES


def _new_layer(SoftmaxWithLoss):
    __tracebackhide__ = True
    layer = call(SoftmaxWithLoss, what="SoftmaxWithLoss()",
                 step_hint="__init__(self) 不需要参数：Softmax-with-Loss 层没有权重，用不上 W、b。")
    for method in ("forward", "backward"):
        if not callable(getattr(layer, method, None)):
            fail("SoftmaxWithLoss 没有 %s 方法：检查方法名的拼写和缩进（方法要写在 class 里面）。" % method, show=False)
    return layer


def _forward(layer, x, t):
    __tracebackhide__ = True
    return call(layer.forward, x.copy(), t.copy(), what="SoftmaxWithLoss.forward(x, t)",
                step_hint=SELF_T_HINT)


@check
def check_softmax_with_loss_forward(SoftmaxWithLoss, *, seed=0, report=True, cases=None):
    """forward(x, t) 返回 softmax 后的交叉熵误差（按批平均）；同一个层换一批数据也要对。"""
    _need(SoftmaxWithLoss, "SoftmaxWithLoss", "class")
    with reference_parts(SoftmaxWithLoss):
        _check_forward(SoftmaxWithLoss, rng_for(seed), cases)
    if report:
        passed("SoftmaxWithLoss.forward 正确")


def _check_forward(SoftmaxWithLoss, rng, cases):
    __tracebackhide__ = True
    layer = _new_layer(SoftmaxWithLoss)
    for x, t in _layer_cases(rng, cases):
        expected = _cee(_softmax(x), t)
        got = expect_number(_forward(layer, x, t), "forward 返回的损失")
        n = x.shape[0]
        candidates = [(_cee(_softmax(x), t) * n, "损失没有按批平均：除以批大小 N = x.shape[0]。")] if n > 1 else []
        _close(got, expected, "forward 返回的损失",
               "forward 先 self.y = softmax(x)，再 self.loss = cross_entropy_error(self.y, t)；t 用这次传入的那个。",
               {"x": x, "t": t}, candidates)


@check
def check_softmax_with_loss_backward(SoftmaxWithLoss, *, seed=0, report=True, cases=None):
    """backward() 返回 (y - t) / N，与损失对 x 的数值微分一致；书中两个例子的数值。"""
    _need(SoftmaxWithLoss, "SoftmaxWithLoss", "class")
    with reference_parts(SoftmaxWithLoss):
        _check_backward(SoftmaxWithLoss, rng_for(seed), cases)
    if report:
        passed("SoftmaxWithLoss.backward 正确")


def _check_backward(SoftmaxWithLoss, rng, cases):
    __tracebackhide__ = True
    for x, t in _layer_cases(rng, cases):
        layer = _new_layer(SoftmaxWithLoss)
        _forward(layer, x, t)
        dx = call(layer.backward, what="SoftmaxWithLoss.backward()",
                  step_hint="backward(self, dout=1) 不带参数也要能调用。" + SELF_T_HINT)
        if isinstance(dx, (tuple, list)):
            fail("SoftmaxWithLoss.backward 应只返回 dx 一个数组，你返回了 %d 个值的 %s。" % (len(dx), type(dx).__name__),
                 show=False)
        dx = expect_array(dx, x.shape, "backward 返回的 dx", hint="dx 与 x 的形状相同 (N, C)：(self.y - self.t) / N。")
        n, c = x.shape
        y = _softmax(x)
        num = numerical_gradient(lambda v: _exact_loss(v, t), x.copy())
        candidates = [((t - y) / n, "符号反了：应为 (y - t) / N，不是 (t - y) / N。"),
                      (t - y, "符号反了，也没有除以批大小：应为 (y - t) / N。"),
                      ((y - t) / c, "除以的是类别数 C，应除以批大小 N = self.t.shape[0]。"),
                      ((y - t) / (n * c), "除以了元素总数 (y.size)，应只除以批大小 N = self.t.shape[0]。")]
        if n > 1:  # N = 1 时没除以 N 也是对的
            candidates.insert(0, (y - t, "没有除以批大小：dx = (self.y - self.t) / N，N = self.t.shape[0]。"))
        hint = diagnose(dx, candidates) or _other_t_hint(dx, y, t)
        _close(dx, num, "backward 返回的 dx（与数值微分比较）", hint or "dx = (self.y - self.t) / N。", {"x": x, "t": t})
        _close(dx, (y - t) / n, "backward 返回的 dx", "dx = (self.y - self.t) / N。", {"x": x, "t": t})


def _other_t_hint(dx, y, t):
    """dx 若等于 (y - t') / N，而 t' 是另一个 one-hot，说明 backward 用了别处的 t。"""
    for scale in (y.shape[0], 1):
        t_used = y - dx * scale
        if t_used.shape == t.shape and np.allclose(t_used, np.round(t_used), atol=1e-6) \
                and not np.allclose(t_used, t) and np.all(np.abs(np.round(t_used)).sum(axis=1) <= 1):
            return "backward 用的 t 和 forward(x, t) 收到的不一样。" + SELF_T_HINT
    return None
