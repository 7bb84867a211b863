"""第 03 课（激活函数层）的检查：ReLU层、Sigmoid层，以及 Sigmoid 计算图上逐步的反向传播。

输入里特意放了恰好等于 0 的元素（ReLU 的折点，不可导，按 x <= 0 算作“关”）和 ±50、±800 这样的大数（Sigmoid 的两端）；
上游梯度 dout 是随机数组，既和公式逐元素比较，也和数值微分比较。
每一种常见错误（原地改 dout 或 x、mask 写成 x < 0、漏乘 (1 - y)、符号反了……）各有各的提示。
"""
import numpy as np

from ..fmt import fmt
from ..gradcheck import eval_numerical_gradient_array
from ..graph.model import Graph
from ._core import call, check, diagnose, expect_array, expect_close, expect_tuple, fail, own_class, passed, rng_for

__all__ = ["check_relu_forward", "check_relu_backward", "check_sigmoid_forward", "check_sigmoid_backward",
           "check_sigmoid_steps"]

DEFAULT_SHAPES = [(6,), (3, 4), (2, 3, 4)]

HINT_SHAPE = "输出要和输入同形状：不要用 flatten、ravel 或列表推导，NumPy 的逐元素运算本身就保持形状。"
HINT_X_INPLACE = ("forward 改动了调用者传进来的 x。直接写 x[mask] = 0、x *= -1 这类原地运算会把别人的数据也改了："
                  "先 out = x.copy() 再改 out，或者用 np.maximum、np.exp 这种返回新数组的运算。")
HINT_DOUT_INPLACE = ("backward 改动了调用者传进来的 dout。同一个 dout 可能还要传给别的支路（例如加法节点的两个输入），"
                     "先 dx = dout.copy() 再改 dx，或者用 np.where(self.mask, 0, dout) 这种不改原数组的写法。")
HINT_ZERO = ("只在 x 恰好等于 0 的位置不对：那里的 dx 应为 0。mask 要和书中一样用 x <= 0，"
             "你的 mask 大概是 x < 0，于是 0 处的 dout 被原样传了回去。")
HINT_NAN = "x 的绝对值很大时 exp 会溢出：用 1 / (1 + np.exp(-x))，不要写成 np.exp(x) / (1 + np.exp(x))。"


def _sigmoid(x):
    # exp(-log(1 + exp(-x)))：对任何 x 都不溢出，作为参考答案
    return np.exp(-np.logaddexp(0.0, -x))


def _relu_input(rng, shape):
    """标准正态随机数，每隔 3 个元素放一个精确的 0。"""
    x = rng.standard_normal(shape)
    x.reshape(-1)[::3] = 0.0
    return x


def _instance(cls, name):
    """确认 cls 是 notebook 里定义的类，并创建一个实例。"""
    __tracebackhide__ = True
    if cls is not None and not isinstance(cls, type):
        if hasattr(cls, "forward"):
            fail("要检查的是类 %s 本身，你传入的是它的一个实例：传 %s，不要传 %s()。" % (name, name, name), show=False)
        fail("要检查的应当是一个类（class %s: ...），你传入的是 %s。" % (name, type(cls).__name__), show=False)
    own_class(cls, name)
    layer = call(cls, what="%s()" % name)
    for method in ("forward", "backward"):
        if not callable(getattr(layer, method, None)):
            fail("%s 没有 %s 方法：检查方法名的拼写和缩进（方法要写在 class 里面）。" % (name, method), show=False)
    return layer


def _as_output(out, shape, what):
    __tracebackhide__ = True
    same_size = isinstance(out, np.ndarray) and out.size == int(np.prod(shape))
    return expect_array(out, shape, what, hint=HINT_SHAPE if same_size else None)


def _forward(cls, name, x, check_x=True):
    """用 x 的副本调用 forward；确认 x 没被改动（check_x 时），返回 (层, float64 数组)。"""
    __tracebackhide__ = True
    layer = _instance(cls, name)
    x_in = x.copy()
    out = call(layer.forward, x_in, what="%s().forward(x)" % name)
    if check_x and not np.array_equal(x_in, x):
        fail("调用 forward 之后，传进去的 x 变了。", x, x_in, HINT_X_INPLACE)
    return layer, _as_output(out, x.shape, "%s().forward(x) 的结果" % name)


def _backward(cls, name, x, dout):
    """先 forward 再 backward（都传副本）；确认 dout 没被改动，返回 dx。

    forward 是否改动 x 由 forward 的检查负责，这里不重复扣分。
    """
    __tracebackhide__ = True
    layer, _ = _forward(cls, name, x, check_x=False)
    dout_in = dout.copy()
    dx = call(layer.backward, dout_in, what="%s().backward(dout)" % name)
    if not np.array_equal(dout_in, dout):
        fail("调用 backward 之后，传进去的 dout 变了。", dout, dout_in, HINT_DOUT_INPLACE, {"x": x})
    return _as_output(dx, x.shape, "%s().backward(dout) 的结果 dx" % name)


@check
def check_relu_forward(Relu, *, seed=0, shapes=None, report=True):
    """Relu().forward(x)：正数原样输出，负数和 0 输出 0，形状不变，不改动 x。"""
    rng = rng_for(seed)
    cases = [np.array([[1.0, -0.5, 0.0], [-2.0, 3.0, 0.0]])] + [_relu_input(rng, s) for s in shapes or DEFAULT_SHAPES]
    for x in cases:
        _, out = _forward(Relu, "Relu", x)
        hint = diagnose(out, [
            (x, "输出和输入一模一样：负数没有被置 0。"),
            (x <= 0, "你返回的像是 mask（x <= 0 的布尔数组），应当返回把 mask 位置置 0 之后的 x。"),
            (x > 0, "你返回的是 x > 0 的 0/1 数组，应当返回 x 本身的值（负数处为 0）。"),
            (np.minimum(x, 0), "mask 用反了：应保留正数、把 x <= 0 的位置置 0。"),
        ])
        expect_close(out, np.maximum(x, 0.0), "Relu().forward(x)", hint=hint, inputs={"x": x})
    if report:
        passed("Relu.forward")


@check
def check_relu_backward(Relu, *, seed=0, shapes=None, report=True):
    """Relu().backward(dout)：x > 0 处传回 dout，x <= 0 处传回 0，不改动 dout。"""
    rng = rng_for(seed)
    for shape in shapes or DEFAULT_SHAPES:
        # 先用含精确 0 的输入和公式比较，再用远离 0 的输入和数值微分比较
        x = _relu_input(rng, shape)
        dout = rng.standard_normal(shape)
        dx = _backward(Relu, "Relu", x, dout)
        hint = diagnose(dx, [
            (dout * (x >= 0), HINT_ZERO),
            (x > 0, "dx 里只剩 0 和 1：忘了乘上游传来的 dout（应是 dout 在 x <= 0 处置 0）。"),
            (x <= 0, "你返回的是 mask 本身：backward 应返回 dout 在 mask 位置置 0 之后的结果。"),
            (dout, "dx 和 dout 完全一样：忘了把 x <= 0 的位置置 0。"),
            (dout * (x <= 0), "mask 用反了：x > 0 的位置应传回 dout，x <= 0 的位置才是 0。"),
        ])
        expect_close(dx, dout * (x > 0), "Relu().backward(dout)", hint=hint, inputs={"x": x, "dout": dout})

        x = rng.uniform(0.1, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
        dout = rng.standard_normal(shape)
        dx = _backward(Relu, "Relu", x, dout)
        num = eval_numerical_gradient_array(lambda z: np.maximum(z, 0.0), x.copy(), dout)
        hint = diagnose(dx, [(x > 0, "忘了乘 dout。"), (dout, "忘了把 x <= 0 的位置置 0。")])
        expect_close(dx, num, "Relu().backward(dout)（与数值微分比较）", hint=hint, inputs={"x": x, "dout": dout},
                     rtol=1e-6, atol=1e-8)
    if report:
        passed("Relu.backward")


@check
def check_sigmoid_forward(Sigmoid, *, seed=0, shapes=None, report=True):
    """Sigmoid().forward(x) = 1 / (1 + exp(-x))，形状不变，±50、±800 处也得到有限且正确的值。"""
    rng = rng_for(seed)
    cases = [np.array([-800.0, -50.0, -10.0, -1.0, 0.0, 1.0, 10.0, 50.0, 800.0])]
    cases += [rng.normal(0.0, 3.0, s) for s in shapes or DEFAULT_SHAPES]
    for x in cases:
        _, out = _forward(Sigmoid, "Sigmoid", x)
        y = _sigmoid(x)
        hint = diagnose(out, [
            (1.0 - y, "符号反了：应是 1 / (1 + exp(-x))，你算的像是 1 / (1 + exp(x))。"),
            (np.exp(x), "分母里漏了 1：应是 1 / (1 + exp(-x))。"),
            (1.0 + np.exp(-x), "忘了取倒数：1 + exp(-x) 还要再做一次“/”。"),
        ])
        bad = ~np.isfinite(out)
        if np.any(bad):
            fail("Sigmoid().forward(x) 在 x = %s 处得到了 inf 或 nan。" % fmt(x[bad]), y[bad], out[bad],
                 hint or HINT_NAN)
        expect_close(out, y, "Sigmoid().forward(x)", hint=hint, inputs={"x": x}, rtol=1e-7, atol=1e-12)
    if report:
        passed("Sigmoid.forward")


@check
def check_sigmoid_backward(Sigmoid, *, seed=0, shapes=None, report=True):
    """Sigmoid().backward(dout) = dout * y * (1 - y)，y 是 forward 的输出。"""
    rng = rng_for(seed)
    xs = [np.array([-50.0, -3.0, -0.5, 0.0, 0.5, 3.0, 50.0])] + [rng.normal(0.0, 2.0, s) for s in shapes or DEFAULT_SHAPES]
    for x in xs:
        dout = rng.standard_normal(x.shape)
        dx = _backward(Sigmoid, "Sigmoid", x, dout)
        y = _sigmoid(x)
        hint = diagnose(dx, [
            (dout * y, "少了因子 (1 - y)：Sigmoid 的导数是 y(1 - y)，不是 y。"),
            (dout * (1.0 - y), "少了因子 y：Sigmoid 的导数是 y(1 - y)，不是 1 - y。"),
            (y * (1.0 - y), "忘了乘上游传来的 dout。"),
            (dout * x * (1.0 - x), "你用的是输入 x 而不是输出 y：在 forward 里把 1 / (1 + exp(-x)) 存成 self.out，"
                                   "backward 用 self.out 算 y(1 - y)。"),
            (-dout * y ** 2, "只算了“/”节点这一步（-dout·y²），后面还有 +1、exp、×(-1) 三个节点。"),
        ])
        inputs = {"x": x, "dout": dout}
        if np.all(np.abs(x) < 10):  # 两端的导数小于 1e-4，数值微分在那里没有意义
            num = eval_numerical_gradient_array(_sigmoid, x.copy(), dout)
            expect_close(dx, num, "Sigmoid().backward(dout)（与数值微分比较）", hint=hint, inputs=inputs,
                         rtol=1e-5, atol=1e-9)
        expect_close(dx, dout * y * (1.0 - y), "Sigmoid().backward(dout)", hint=hint, inputs=inputs,
                     rtol=1e-8, atol=1e-15)
    if report:
        passed("Sigmoid.backward")


def _sigmoid_graph(x, dout):
    """x → ×(-1) → exp → +1 → /，返回做完反向传播的图和四条边（从右往左）。"""
    g = Graph()
    xn = g.input("x", x)
    a = g.scale(xn, -1)
    b = g.exp(a)
    c = g.shift(b, 1)
    y = g.reciprocal(c)
    g.backward(y, dout)
    return [g.edge(c, y), g.edge(b, c), g.edge(a, b), g.edge(xn, a)]


@check
def check_sigmoid_steps(sigmoid_backward_steps, *, seed=0, report=True):
    """sigmoid_backward_steps(x, dout) 返回 (dc, db, da, dx)，与计算图上反向传播的结果逐个比较。"""
    fn = sigmoid_backward_steps
    if fn is not None and (isinstance(fn, type) or not callable(fn)):
        fail("要检查的应当是函数 sigmoid_backward_steps，你传入的是 %s。" % type(fn).__name__, show=False)
    own_class(fn, "sigmoid_backward_steps")
    rng = rng_for(seed)
    cases = [(1.0, 2.0), (-0.5, 1.0), (rng.normal(0.0, 2.0, (3, 4)), rng.standard_normal((3, 4)))]
    names = ["dc", "db", "da", "dx"]
    for x, dout in cases:
        args = (x.copy(), dout.copy()) if isinstance(x, np.ndarray) else (x, dout)
        got = expect_tuple(call(fn, *args, what="sigmoid_backward_steps(x, dout)"), 4, "sigmoid_backward_steps 的返回值",
                           names)
        want = [e.grad for e in _sigmoid_graph(x, dout)]
        y = _sigmoid(np.asarray(x, dtype=np.float64))
        dc, db, da = want[:3]
        wrong = [
            [(dout * y ** 2, "“/”节点的局部导数是 -1/c² = -y²，别漏了负号。"),
             (-(y ** 2), "忘了乘上游传来的 dout。"),
             (-dout * y, "“/”节点的局部导数是 -1/c²，也就是 -y²，不是 -y。")],
            [(dc + 1.0, "“+1”节点的局部导数是 1：反向传播时原样传回，不要再加 1。")],
            [(db * np.exp(x), "exp 节点的输入是 a = -x，局部导数是 exp(a) = exp(-x)，不是 exp(x)。"),
             (db, "忘了乘 exp 节点的局部导数 exp(-x)。")],
            [(da, "忘了乘“×(-1)”节点的局部导数 -1。")],
        ]
        for k in range(4):
            what = "第 %d 个返回值 %s" % (k + 1, names[k])
            expect_close(got[k], want[k], what, hint=diagnose(got[k], wrong[k]), inputs={"x": x, "dout": dout},
                         rtol=1e-9, atol=1e-12)
    if report:
        passed("sigmoid_backward_steps")
