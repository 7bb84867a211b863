"""第 06 课《自动微分》的检查函数（三）：用学生的 Value 搭出前几课的计算图，与手写的层对照。

练习 5：苹果和橘子的购物图 buy_apple_orange，对照第 02 课乘法层、加法层给出的值   check_apple_orange
        用 Value 的基本运算搭出的 sigmoid，对照第 03 课 Sigmoid 层的公式 dout·y·(1 − y)  check_sigmoid
练习 6：一个神经元 tanh(w1·x1 + w2·x2 + b)，对照数值微分                            check_neuron
"""
import math

import numpy as np

from ..gradcheck import numerical_gradient
from ._core import check, diagnose, expect_close, fail, own_class, passed, rng_for
from .autodiff import expect_node, grads_of, run, value_class

__all__ = ["check_apple_orange", "check_sigmoid", "check_neuron", "shop_with_layers"]

BOOK = (100.0, 2.0, 150.0, 3.0, 1.1)
NAMES = ("apple", "apple_num", "orange", "orange_num", "tax")
CALLED_BACKWARD = ("每个梯度都是应有值的整数倍：函数里已经调用过一次 backward() 了，第二次反向传播又累加了一遍"
                   "（中间节点残留的梯度也被传了下去，所以不一定正好是 2 倍）。函数只负责搭图并返回输出。")
NEW_LEAVES = ("输入节点的 grad 全是 0：运算要直接用传进来的节点（如 apple * apple_num），"
              "不要用 .data 取出数来另建 Value，否则新节点和输入之间没有边，梯度传不回去。")


def shop_with_layers(apple, apple_num, orange, orange_num, tax):
    """第 02 课的层在购物图上给出的值：返回 (price, 五个输入的导数)。

    乘法节点传回翻转的输入，加法节点原样传下去：税前总价的导数是 tax，再分给苹果和橘子两条支路。
    """
    all_price = apple * apple_num + orange * orange_num
    return all_price * tax, (tax * apple_num, tax * apple, tax * orange_num, tax * orange, all_price)


def _multiples(got, want):
    """got 是否逐个都是 want 的整数倍（至少 2 倍）：这是 backward() 被多调用了一次的样子。"""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    keep = np.abs(want) > 1e-9
    if not keep.any() or got.shape != want.shape:
        return False
    ratio = got[keep] / want[keep]
    return bool(np.all(ratio > 1.5) and np.allclose(ratio, np.round(ratio), atol=1e-6))


def _functions(fn, Value, name):
    __tracebackhide__ = True
    Value = value_class(Value)
    if isinstance(fn, type) or not callable(fn):
        fail("%s 应当是一个函数，你传入的是 %s。" % (name, type(fn).__name__), show=False)
    own_class(fn, name)
    return Value


@check
def check_apple_orange(buy_apple_orange, Value, *, seed=0, report=True, n_random=3):
    Value = _functions(buy_apple_orange, Value, "buy_apple_orange")
    rng = rng_for(seed)
    cases = [BOOK] + [(round(float(rng.uniform(20, 300)), 1), float(rng.integers(1, 10)),
                       round(float(rng.uniform(20, 300)), 1), float(rng.integers(1, 10)),
                       round(float(rng.uniform(1.03, 1.25)), 3)) for _ in range(n_random)]
    for case in cases:
        inputs = dict(zip(NAMES, case))
        leaves = [Value(v) for v in case]
        price = expect_node(run(lambda: buy_apple_orange(*leaves), "buy_apple_orange(...)"), Value,
                            "buy_apple_orange 的返回值")
        want_price, want = shop_with_layers(*case)
        expect_close(price.data, want_price, "price.data（与 MulLayer、AddLayer 算出的对照）", inputs=inputs,
                     hint="price = (apple * apple_num + orange * orange_num) * tax")
        run(price.backward, "price.backward()")
        got = grads_of(leaves, "输入")
        hint = CALLED_BACKWARD if _multiples(got, want) else diagnose(
            got, [(np.zeros(5), NEW_LEAVES)], "对照第 02 课的层：dapple = apple_num * tax，dtax = 税前总价。")
        expect_close(got, np.array(want), "(apple, apple_num, orange, orange_num, tax) 的 grad", hint=hint,
                     inputs=inputs)
    if report:
        passed("用 Value 搭的购物图与乘法层、加法层一致")


@check
def check_sigmoid(sigmoid, Value, *, seed=0, report=True, n_random=4):
    Value = _functions(sigmoid, Value, "sigmoid")
    rng = rng_for(seed)
    for x in [2.0, -3.0, 0.0] + [float(v) for v in rng.uniform(-6, 6, n_random)]:
        v, g = Value(x), float(rng.uniform(0.5, 2))
        out = expect_node(run(lambda: sigmoid(v), "sigmoid(Value(%g))" % x), Value, "sigmoid 的返回值")
        want = 1.0 / (1.0 + math.exp(-x))  # 第 03 课的 Sigmoid 层：y = 1 / (1 + exp(-x))
        expect_close(out.data, want, "sigmoid(Value(%g)).data（与 Sigmoid 层对照）" % x, inputs=dict(x=x),
                     hint=diagnose(out.data, [(1 / (1 + math.exp(x)), "指数应当是 -x：1 / (1 + (-x).exp())。")]))
        loss = run(lambda: out * g, "sigmoid(x) * g")
        run(loss.backward, "(sigmoid(x) * g).backward()")
        dx = g * want * (1.0 - want)  # Sigmoid 层的 backward：dout * y * (1 - y)
        hint = diagnose(v.grad, [(0.0, "x 的 grad 是 0：sigmoid 要用 Value 的运算（-x、exp、+、/）搭出来，"
                                       "不能用 math.exp(x.data) 算出数再包成新的 Value。")],
                        "Sigmoid 层的反向传播是 dout * y * (1 - y)，检查搭图用到的每个运算。")
        expect_close(v.grad, dx, "x.grad（与 Sigmoid 层的 backward 对照）", hint=hint, inputs=dict(x=x, dout=g))
    if report:
        passed("用 Value 搭的 sigmoid 与 Sigmoid 层一致")


@check
def check_neuron(neuron, Value, *, seed=0, report=True, n_inputs=(2, 3)):
    Value = _functions(neuron, Value, "neuron")
    rng = rng_for(seed)
    for n in n_inputs:
        p = rng.uniform(-1.2, 1.2, 2 * n + 1)
        xs, ws, b = [Value(float(v)) for v in p[:n]], [Value(float(v)) for v in p[n:2 * n]], Value(float(p[-1]))
        z = float(np.dot(p[:n], p[n:2 * n]) + p[-1])
        inputs = dict(xs=p[:n], ws=p[n:2 * n], b=p[-1])
        out = expect_node(run(lambda: neuron(xs, ws, b), "neuron(xs, ws, b)"), Value, "neuron 的返回值")
        expect_close(out.data, math.tanh(z), "neuron(xs, ws, b).data", inputs=inputs, hint=diagnose(out.data, [
            (z, "忘了最后的激活函数 tanh。"), (math.tanh(z - p[-1]), "忘了加偏置 b。"),
            (max(z, 0.0), "激活函数应当是 tanh，不是 ReLU。")], "neuron = tanh(Σ w_i * x_i + b)"))
        run(out.backward, "neuron(xs, ws, b).backward()")  # 输出是标量，上游梯度就是 1
        got = grads_of(xs + ws + [b], "输入、权重或偏置")

        def f(q):
            return math.tanh(float(np.dot(q[:n], q[n:2 * n]) + q[-1]))
        num = numerical_gradient(f, p.copy())
        swapped = np.concatenate([num[n:2 * n], num[:n], num[-1:]])
        hint = CALLED_BACKWARD if _multiples(got, num) else diagnose(
            got, [(swapped, "x 和 w 的梯度对调了：乘法节点传回翻转值，dx_i 含 w_i，dw_i 含 x_i。")],
            "先让前面 Value 的测试都通过，再对照数值微分找出哪个参数的梯度不对。")
        expect_close(got, num, "(xs, ws, b) 的 grad（与数值微分对照）", hint=hint, inputs=inputs,
                     rtol=1e-5, atol=1e-7)
    if report:
        passed("神经元的正向和反向传播")
