"""第04课 Affine层的检查：正向传播、dx、dW、db，以及 (N, d1, d2, ...) 形状的输入。

学生实现 Affine(W, b)：forward(x) 返回 x·W + b，backward(dout) 返回 dx，并把 dW、db 存成属性。
反向的结果先与数值微分（随机上游梯度 dout 的向量-雅可比积）比较，再与公式
dx = dout·Wᵀ、dW = xᵀ·dout、db = Σ dout（沿批的轴）比较。
默认的 (N, D, M) 三个数各不相同，写反的转置、漏掉的求和都会在形状上露出来。
多维输入的检查只比较“多维输入”和“展平后输入”两次运行的结果，同一个错误不重复扣分。
"""
import numpy as np

from ..fmt import fmt_shape
from ..gradcheck import eval_numerical_gradient_array
from ._core import call, check, diagnose, expect_array, fail, own_class, passed, rng_for, same_shape

__all__ = [
    "check_affine_forward", "check_affine_backward_dx", "check_affine_dW", "check_affine_db",
    "check_affine_nd",
]

CASES = [(4, 5, 3), (1, 2, 3)]  # (N, D, M)
ND_SHAPES = [((3, 2, 4), 5), ((2, 3, 1, 2), 4)]  # (x 的形状, M)

BACKWARD_HINT = ("写下每个数组的形状：x (N, D)、W (D, M)、dout (N, M)；"
                 "dx = dout·Wᵀ，dW = xᵀ·dout，db = np.sum(dout, axis=0)。")
FLATTEN_HINT = "forward 里先把 x 展平成 (N, D)：self.x = x.reshape(x.shape[0], -1)，并记下 x.shape 供 backward 还原。"


def _need_class(Affine):
    __tracebackhide__ = True
    if Affine is not None and not isinstance(Affine, type):
        fail("检查函数需要类 Affine 本身（写 Affine，不带括号），你传入的是 %s 类型的对象。"
             % type(Affine).__name__, show=False)
    own_class(Affine, "Affine")


def _data(rng, x_shape, M):
    D = int(np.prod(x_shape[1:]))
    return rng.standard_normal(x_shape), rng.standard_normal((D, M)), rng.standard_normal(M)


def _shape(v):
    """数组（或 numpy 标量）的形状；其他类型返回 None，留给 expect_array 说明。"""
    return np.shape(v) if isinstance(v, (np.ndarray, np.generic, float)) else None


def _ref_forward(x, W, b):
    return x.reshape(x.shape[0], -1) @ W + b


def _run(Affine, x, W, b, dout=None, hint=None):
    """新建一层、做一次 forward（给了 dout 再做 backward）。返回 (layer, out, dx)。

    x、W、b 原样交给学生的代码（forward 的检查要看它们有没有被改动），dout 传一个副本。
    """
    __tracebackhide__ = True
    layer = call(Affine, W, b, what="Affine(W, b)",
                 step_hint="Affine 的构造函数是 __init__(self, W, b)，把 W、b 存成 self.W、self.b。")
    for method in ("forward", "backward"):
        if not callable(getattr(layer, method, None)):
            fail("Affine 没有 %s 方法：检查方法名的拼写和缩进（方法要写在 class 里面）。" % method, show=False)
    out = call(layer.forward, x, what="Affine.forward(x)", step_hint=hint)
    if dout is None:
        return layer, out, None
    dx = call(layer.backward, dout.copy(), what="Affine.backward(dout)", step_hint=hint or BACKWARD_HINT)
    if isinstance(dx, (tuple, list)):
        fail("Affine.backward 只返回 dx 一个数组，你返回了 %d 个值的 %s。" % (len(dx), type(dx).__name__), show=False,
             hint="dW 和 db 不用返回，在 backward 里存成 self.dW 和 self.db。")
    return layer, out, dx


def _grad_attr(layer, name, others):
    """取出 self.dW / self.db；没有时看看是不是用了别的名字。"""
    __tracebackhide__ = True
    value = getattr(layer, name, None)
    if value is not None:
        return value
    for other in others:
        if getattr(layer, other, None) is not None:
            fail("backward 之后 self.%s 仍然是 None，但你设置了 self.%s。" % (name, other), show=False,
                 hint="属性名要和参数名对应：W 的梯度叫 self.dW（大写 W），b 的梯度叫 self.db。")
    fail("backward 之后 self.%s 仍然是 None（或者不存在）。" % name, show=False,
         hint="在 backward 里算出它并赋值给 self.%s；backward 只返回 dx。" % name)


def _compare(got, num, formula, what, candidates, inputs, hint):
    """先与数值微分比，再与公式比；不一致时按常见错误给提示。"""
    __tracebackhide__ = True
    # 先看形状：形状不同就是不一致，不做任何运算，也不与期望值广播比较
    same = same_shape(got, np.shape(formula)) and same_shape(got, np.shape(num))
    if same and not np.all(np.isfinite(got)):
        fail("%s 里出现了 inf 或 nan。" % what, formula, got, hint, inputs)
    if not (same and np.allclose(got, num, rtol=1e-5, atol=1e-6)):
        fail("%s 与数值微分（梯度确认）的结果不一致。" % what, formula, got, diagnose(got, candidates, hint), inputs)
    if not np.allclose(got, formula, rtol=1e-6, atol=1e-8):
        fail("%s 与公式的结果不一致。" % what, formula, got, hint, inputs)


def _backward_cases(Affine, seed, cases):
    """每组 (N, D, M)：随机的 x、W、b、dout，新建一层做一次 forward 和 backward。

    逐组产出 (N, D, M, x, W, b, dout, layer, dx)；x、W、b 交给学生代码的是副本。
    """
    __tracebackhide__ = True
    _need_class(Affine)
    rng = rng_for(seed)
    for N, D, M in cases or CASES:
        x, W, b = _data(rng, (N, D), M)
        dout = rng.standard_normal((N, M))
        layer, _, dx = _run(Affine, x.copy(), W.copy(), b.copy(), dout)
        yield N, D, M, x, W, b, dout, layer, dx


def _expect_shaped(value, shape, what, shape_hints, default_hint):
    """expect_array，但形状不对时按学生给出的形状挑一条针对性的提示。"""
    __tracebackhide__ = True
    return expect_array(value, shape, what, hint=shape_hints.get(_shape(value), default_hint))


@check
def check_affine_forward(Affine, *, seed=0, report=True, cases=None):
    """forward(x) 应返回 x·W + b，形状 (N, M)，并且不改动 x 和 W。"""
    _need_class(Affine)
    rng = rng_for(seed)
    for N, D, M in cases or CASES:
        x, W, b = _data(rng, (N, D), M)
        x0, W0 = x.copy(), W.copy()
        _, out, _ = _run(Affine, x, W, b)
        if not (np.array_equal(x, x0) and np.array_equal(W, W0)):
            fail("forward 改动了传入的 x 或 W。", show=False, hint="不要原地修改输入（例如 x -= ... 或 self.W += ...）。")
        x, W = x0, W0
        inputs = {"x": x, "W": W, "b": b}
        out = expect_array(out, (N, M), "forward 的输出",
                           hint="x 的形状是 %s，W 是 %s，x·W + b 的形状是 %s。"
                           % (fmt_shape(x.shape), fmt_shape(W.shape), fmt_shape((N, M))))
        expected = _ref_forward(x, W, b)
        if not np.allclose(out, expected, rtol=1e-6, atol=1e-8):
            hint = diagnose(out, [
                (x @ W, "结果正好是 x·W：忘了加上偏置 b。"),
                (x @ W - b, "偏置 b 要加上去，不是减掉。"),
            ], "正向传播是矩阵乘积 np.dot(x, self.W) 再加上 self.b。")
            fail("forward 的输出不对。", expected, out, hint, inputs)
    if report:
        passed("Affine.forward 正确")


@check
def check_affine_backward_dx(Affine, *, seed=0, report=True, cases=None):
    """backward(dout) 返回的 dx 应等于 dout·Wᵀ，形状与 x 相同。"""
    for N, D, M, x, W, b, dout, _, dx in _backward_cases(Affine, seed, cases):
        shape_hints = {(D, N): "dx 的形状应与 x 相同 (N, D)；(D, N) 像是算成了 W·doutᵀ，应为 dout·Wᵀ。",
                       (N, M): "dx 的形状应与 x 相同，你的和 dout 一样：是不是忘了乘 Wᵀ，或者返回了别的量？",
                       (D, M): "这是 dW 的形状：backward 要返回的是 dx = dout·Wᵀ，dW 存到 self.dW。"}
        dx = _expect_shaped(dx, (N, D), "backward 返回的 dx", shape_hints,
                            "(N, M)·(M, D) → (N, D)：dx = np.dot(dout, self.W.T)。")
        num = eval_numerical_gradient_array(lambda v: _ref_forward(v, W, b), x.copy(), dout)
        candidates = [(-(dout @ W.T), "符号反了：dx = dout·Wᵀ，前面没有负号。")]
        if D == M:
            candidates.append((dout @ W, "少了转置：dx = dout·Wᵀ，不是 dout·W。"))
        _compare(dx, num, dout @ W.T, "dx", candidates, {"x": x, "W": W, "dout": dout},
                 "dx = np.dot(dout, self.W.T)。")
    if report:
        passed("Affine.backward 返回的 dx 正确")


@check
def check_affine_dW(Affine, *, seed=0, report=True, cases=None):
    """backward 之后 self.dW 应等于 xᵀ·dout，形状与 W 相同 (D, M)。"""
    for N, D, M, x, W, b, dout, layer, _ in _backward_cases(Affine, seed, cases):
        shape_hints = {
            (M, D): "dW 与 W 同形状，你的正好是转置：是不是写成了 dout.T·x？应为 x.T·dout。",
            (N, D): "这是 dout·Wᵀ 的形状，也就是 dx 的公式：dW 要用正向时存下的输入 x，dW = np.dot(self.x.T, dout)。",
        }
        dW = _expect_shaped(_grad_attr(layer, "dW", ["dw", "dweight", "grad_W"]), (D, M), "self.dW", shape_hints,
                            "(D, N)·(N, M) → (D, M)：dW = np.dot(self.x.T, dout)。")
        num = eval_numerical_gradient_array(lambda v: _ref_forward(x, v, b), W.copy(), dout)
        candidates = [
            (x.T @ dout / N, "dW 多除了一个 N：批里各样本的贡献要加起来，不要求平均。"),
            (-(x.T @ dout), "符号反了：dW = xᵀ·dout，前面没有负号。"),
        ]
        if D == M:
            candidates.append((dout.T @ x, "dW 被转置了：应为 x.T·dout，不是 dout.T·x。"))
        if N == D:
            candidates.append((dout @ W.T, "你算的是 dout·Wᵀ（dx 的公式）：dW 要用输入 x，dW = np.dot(self.x.T, dout)。"))
        _compare(dW, num, x.T @ dout, "self.dW", candidates, {"x": x, "W": W, "dout": dout},
                 "dW = np.dot(self.x.T, dout)，其中 self.x 是 forward 时存下的输入。")
    if report:
        passed("self.dW 正确")


@check
def check_affine_db(Affine, *, seed=0, report=True, cases=None):
    """backward 之后 self.db 应等于 dout 沿批的轴（axis=0）求和，形状 (M,)。"""
    for N, D, M, x, W, b, dout, layer, _ in _backward_cases(Affine, seed, cases):
        sum_hint = "b 加到了批里的每一个样本上，各样本传回的梯度要加起来：db = np.sum(dout, axis=0)。"
        shape_hints = {
            (N, M): "db 与 b 同形状，你的和 dout 一样：没有对批求和。" + sum_hint,
            (): "np.sum(dout) 把所有元素加成了一个数：只沿批的轴求和，np.sum(dout, axis=0)。",
            (N,): "求和的轴错了：axis=1 把每个样本的 M 个值加在一起；应沿批的轴 axis=0 求和。",
        }
        db = _expect_shaped(_grad_attr(layer, "db", ["dB", "dbias", "grad_b"]), (M,), "self.db", shape_hints, sum_hint)
        num = eval_numerical_gradient_array(lambda v: _ref_forward(x, W, v), b.copy(), dout)
        candidates = [
            (dout.mean(axis=0), "db 求的是平均（np.mean）：要求和 np.sum(dout, axis=0)，每个样本的贡献都要算上。"),
            (-dout.sum(axis=0), "符号反了：db = np.sum(dout, axis=0)。"),
        ]
        if N == 1:
            candidates = candidates[1:]  # 只有一个样本时平均与求和相同
        _compare(db, num, dout.sum(axis=0), "self.db", candidates, {"dout": dout}, sum_hint)
    if report:
        passed("self.db 正确")


@check
def check_affine_nd(Affine, *, seed=0, report=True, shapes=None):
    """输入 x 的形状为 (N, d1, d2, ...) 时，结果应与先展平成 (N, D) 再输入时相同，dx 恢复成 x 的形状。

    两次运行都用学生的代码：2 维情形里的错误（忘了 b、dW 转置……）由各自的检查扣分，这里不重复扣分。
    """
    _need_class(Affine)
    rng = rng_for(seed)
    for x_shape, M in shapes or ND_SHAPES:
        x, W, b = _data(rng, x_shape, M)
        N, k = x_shape[0], len(x_shape)
        dout = rng.standard_normal((N, M))
        inputs = {"x": x, "W": W, "b": b, "dout": dout}
        # 同一组数据先以展平后的 (N, D) 输入一次，作为比较的标准
        flat_layer, out2, dx2 = _run(Affine, x.reshape(N, -1), W.copy(), b.copy(), dout)
        out2 = expect_array(out2, None, "forward 的输出")
        dx2 = expect_array(dx2, None, "backward 返回的 dx")
        dW2 = expect_array(_grad_attr(flat_layer, "dW", ["dw"]), None, "self.dW")

        layer, out, dx = _run(Affine, x.copy(), W.copy(), b.copy(), dout, hint=FLATTEN_HINT)
        what = "%d 维输入时 forward 的输出" % k
        _same(expect_array(out, out2.shape, what, hint=FLATTEN_HINT), out2, what, FLATTEN_HINT, inputs)
        what = "%d 维输入时 backward 返回的 dx" % k
        restore = "dx 要恢复成输入的形状 %s：backward 最后写 dx.reshape(*self.original_x_shape)。" % fmt_shape(x_shape)
        dx = expect_array(dx, x_shape, what, hint=restore)
        if dx2.size == dx.size:
            _same(dx, dx2.reshape(x_shape), what, "先算 (N, D) 的 dx，再 reshape 回输入的形状。", inputs)
        what = "%d 维输入时 self.dW" % k
        dW = _grad_attr(layer, "dW", ["dw"])
        unflat = tuple(reversed(x_shape[1:])) + (M,)
        hint = ("self.x 存的是没有展平的 x，xᵀ·dout 的形状就成了 %s。" % fmt_shape(unflat) + FLATTEN_HINT
                if _shape(dW) == unflat else "self.x 要存展平后的 (N, D)，dW = np.dot(self.x.T, dout)。")
        _same(expect_array(dW, dW2.shape, what, hint=hint), dW2, what, hint, inputs)
    if report:
        passed("(N, d1, d2, ...) 形状的输入处理正确")


def _same(got, ref, what, hint, inputs):
    """多维输入的结果应与展平后输入的结果相同。"""
    __tracebackhide__ = True
    # 先看形状：形状不同就是不同，不与参考结果广播比较
    if not (same_shape(got, np.shape(ref)) and np.allclose(got, ref, rtol=1e-6, atol=1e-8, equal_nan=True)):
        fail("%s 与把 x 先展平成 (N, D) 再输入时的结果不同。" % what, ref, got, hint, inputs)
