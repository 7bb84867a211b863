"""第 02 课的检查（course.checks.simple_layers 与 apple_orange）：正确的层和连线能通过，
每一种常见错误都得到它自己的提示。
"""
import warnings

import numpy as np
import pytest

from course.reference import layers as ref
from course.checks import CheckFailure
from course.checks.apple_orange import check_apple_orange_backward, check_apple_orange_forward
from course.checks.simple_layers import check_add_backward, check_add_forward, check_mul_backward, check_mul_forward
from conftest import student


@student
class Mul:
    def __init__(self):
        self.x = None
        self.y = None

    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, dout):
        return dout * self.y, dout * self.x


@student
class Add:
    def forward(self, x, y):
        return x + y

    def backward(self, dout):
        return dout * 1, dout * 1


def mul_variant(forward=None, backward=None):
    """在正确的乘法层上换掉 forward 或 backward。"""
    methods = {k: v for k, v in (("forward", forward), ("backward", backward)) if v is not None}
    return student(type("MulLayer", (Mul,), methods))


def add_variant(forward=None, backward=None):
    methods = {k: v for k, v in (("forward", forward), ("backward", backward)) if v is not None}
    return student(type("AddLayer", (Add,), methods))


def fails_with(check_fn, obj, hint, **kwargs):
    with pytest.raises(CheckFailure) as info:
        check_fn(obj, **kwargs)
    assert hint in str(info.value), str(info.value)
    return str(info.value)


# ---- 正确的实现 -------------------------------------------------------------------
def pack(ap, op, allp, price, dall, dtax, dap, dop, da, dan, do, don):
    values = {"apple_price": ap, "orange_price": op, "all_price": allp, "price": price}
    grads = {"all_price": dall, "tax": dtax, "apple_price": dap, "orange_price": dop,
             "apple": da, "apple_num": dan, "orange": do, "orange_num": don}
    return values, grads


@student
def wiring(apple, apple_num, orange, orange_num, tax, MulLayer, AddLayer, dout=1):
    mul_apple, mul_orange, add, mul_tax = MulLayer(), MulLayer(), AddLayer(), MulLayer()
    ap = mul_apple.forward(apple, apple_num)
    op = mul_orange.forward(orange, orange_num)
    allp = add.forward(ap, op)
    price = mul_tax.forward(allp, tax)
    dall, dtax = mul_tax.backward(dout)
    dap, dop = add.backward(dall)
    da, dan = mul_apple.backward(dap)
    do, don = mul_orange.backward(dop)
    return pack(ap, op, allp, price, dall, dtax, dap, dop, da, dan, do, don)


def test_correct_layers_and_wiring_pass_silently(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for seed in (0, 1, 913):
            check_mul_forward(Mul, seed=seed, shapes=[(), (5,), (2, 3, 4)])
            check_mul_backward(Mul, seed=seed, shapes=[(), (5,), (2, 3, 4)])
            check_add_forward(Add, seed=seed, report=False)
            check_add_backward(Add, seed=seed, report=False)
            check_apple_orange_forward(wiring, seed=seed, shapes=[(), (4,)])
            check_apple_orange_backward(wiring, seed=seed, shapes=[(), (2, 3)], report=False)
    out = capsys.readouterr()
    assert out.err == ""
    assert "✔ MulLayer.backward" in out.out and "隐藏测试" in out.out
    assert "AddLayer" not in out.out  # report=False 时什么也不打印


def test_reference_layers_pass_when_they_count_as_the_students():
    mul = student(type("MulLayer", (ref.MulLayer,), {}))
    check_mul_backward(mul, report=False)


# ---- 乘法层的常见错误 -------------------------------------------------------------
MUL_BACKWARD_MISTAKES = {
    "swapped": (lambda self, dout: (dout * self.x, dout * self.y), "x 和 y 用反了"),
    "no_dout": (lambda self, dout: (self.y, self.x), "少了上游传来的 dout"),
    "dout_twice": (lambda self, dout: (dout * dout * self.y, dout * dout * self.x), "dout 被乘了两次"),
    "dout_x_y": (lambda self, dout: (dout * self.x * self.y, dout * self.x * self.y), "不是 dout * x * y"),
    "list": (lambda self, dout: [dout * self.y, dout * self.x], "是 list，应当是 tuple"),
    "none": (lambda self, dout: None, "忘了写 return"),
    "one_value": (lambda self, dout: dout * self.y, "各返回一个导数"),
    "one_tuple": (lambda self, dout: (dout * self.y,), "各返回一个导数"),
    "three_values": (lambda self, dout: (dout * self.y, dout * self.x, dout), "应当包含 2 个值"),
    "summed": (lambda self, dout: (np.sum(dout * self.y), np.sum(dout * self.x)), "也不要求和"),
    "raises": (lambda self, dout: (1 / 0, 0), "ZeroDivisionError"),
    "not_implemented": (lambda self, dout: not_implemented(), "还没有实现"),
}


def not_implemented(*args, **kwargs):
    raise NotImplementedError("还没有实现：删掉这一行，写上你的代码")


@pytest.mark.parametrize("name", MUL_BACKWARD_MISTAKES)
def test_mul_backward_mistakes_get_their_own_hint(name):
    backward, hint = MUL_BACKWARD_MISTAKES[name]
    fails_with(check_mul_backward, mul_variant(backward=backward), hint, report=False)


def test_mul_backward_on_arrays_catches_in_place_dout():
    def backward(self, dout):
        dout *= self.y  # 改掉了调用者的 dout
        return dout, dout / self.y * self.x

    fails_with(check_mul_backward, mul_variant(backward=backward), "改动了传进来的数组 dout")


def test_mul_backward_mistake_found_on_random_arrays_too():
    # 书上的例子之后是随机的标量和数组；只在数组上出错也要抓住
    def backward(self, dout):
        dx = dout * self.y
        return dx, (dout * self.x if np.ndim(dout) == 0 else dout * self.y)

    message = fails_with(check_mul_backward, mul_variant(backward=backward), "x 和 y 用反了")
    assert "x = [0.1049" in message  # 出错的是随机数组那一组输入


@student
class MulForgetsToStore:  # 没有 __init__，forward 也不存 x、y：backward 里 AttributeError
    def forward(self, x, y):
        return x * y

    def backward(self, dout):
        return dout * self.y, dout * self.x


@pytest.mark.parametrize("cls", [MulForgetsToStore, mul_variant(forward=lambda self, x, y: x * y)],
                         ids=["attribute_error", "still_none"])
def test_forward_that_does_not_store_inputs_gets_the_store_hint(cls):
    fails_with(check_mul_backward, cls, "self.x = x、self.y = y")


MUL_FORWARD_MISTAKES = {
    "add": (lambda self, x, y: x + y, "像是 x + y"),
    "none": (lambda self, x, y: None, "忘了写 return"),
    "dot": (lambda self, x, y: np.dot(x, y), "不要用 np.dot"),
}


@pytest.mark.parametrize("name", MUL_FORWARD_MISTAKES)
def test_mul_forward_mistakes(name):
    forward, hint = MUL_FORWARD_MISTAKES[name]
    fails_with(check_mul_forward, mul_variant(forward=forward), hint)


def test_mul_forward_dot_on_2d_arrays_gets_the_elementwise_hint():
    # (2, 4)·(2, 4) 形状对不上，抛 ValueError：提示说逐元素，而不是“需要转置”
    message = fails_with(check_mul_forward, mul_variant(forward=lambda self, x, y: np.dot(x, y)),
                         "不要用 np.dot", shapes=[(2, 4)])
    assert "ValueError" in message and "转置" not in message


def test_mul_forward_in_place_modifies_callers_array():
    def forward(self, x, y):
        self.x, self.y = x.copy() if hasattr(x, "copy") else x, y
        x *= y
        return x

    fails_with(check_mul_forward, mul_variant(forward=forward), "改动了传进来的数组 x")


# ---- 加法层的常见错误 -------------------------------------------------------------
ADD_BACKWARD_MISTAKES = {
    "dout_once": (lambda self, dout: dout, "各返回一个导数"),
    "one_tuple": (lambda self, dout: (dout,), "各返回一个导数"),
    "dout_zero": (lambda self, dout: (dout, 0 * dout), "dy 是 0"),
    "ones": (lambda self, dout: (1, 1), "那只是局部导数"),
    "ones_like": (lambda self, dout: (np.ones_like(dout), np.ones_like(dout)), "那只是局部导数"),
    "dout_twice": (lambda self, dout: (dout * dout, dout * dout), "dout 被乘了两次"),
    "list": (lambda self, dout: [dout, dout], "是 list，应当是 tuple"),
    "none": (lambda self, dout: None, "忘了写 return"),
}


@pytest.mark.parametrize("name", ADD_BACKWARD_MISTAKES)
def test_add_backward_mistakes_get_their_own_hint(name):
    backward, hint = ADD_BACKWARD_MISTAKES[name]
    fails_with(check_add_backward, add_variant(backward=backward), hint)


def test_add_backward_that_flips_like_a_multiply_node():
    @student
    class AddFlips:
        def forward(self, x, y):
            self.x, self.y = x, y
            return x + y

        def backward(self, dout):
            return dout * self.y, dout * self.x

    fails_with(check_add_backward, AddFlips, "不用翻转值")


def test_add_forward_mistakes():
    fails_with(check_add_forward, add_variant(forward=lambda self, x, y: x * y), "像是 x * y")

    def in_place(self, x, y):
        x += y
        return x

    fails_with(check_add_forward, add_variant(forward=in_place), "改动了传进来的数组 x")


# ---- 传错了东西给检查函数 ---------------------------------------------------------
@pytest.mark.parametrize("bad, hint", [
    (Mul(), "不要写 MulLayer()"),
    (42, "要传入一个类"),
    (None, "是 None"),
    (ref.MulLayer, "来自模块 course.reference.layers"),
])
def test_bad_arguments_to_layer_checks(bad, hint):
    fails_with(check_mul_forward, bad, hint)


def test_layer_whose_constructor_needs_arguments_or_lacks_backward():
    @student
    class NeedsArgs(Mul):
        def __init__(self, x):
            super().__init__()

    fails_with(check_mul_forward, NeedsArgs, "MulLayer()")

    @student
    class NoBackward:
        def forward(self, x, y):
            return x + y

    fails_with(check_add_backward, NoBackward, "没有 backward 方法")


# ---- 连线的常见错误 ---------------------------------------------------------------
@student
def reuse_one_layer(apple, apple_num, orange, orange_num, tax, MulLayer, AddLayer, dout=1):
    mul, add, mul_tax = MulLayer(), AddLayer(), MulLayer()
    ap = mul.forward(apple, apple_num)
    op = mul.forward(orange, orange_num)  # 覆盖了苹果的 x、y
    allp = add.forward(ap, op)
    price = mul_tax.forward(allp, tax)
    dall, dtax = mul_tax.backward(dout)
    dap, dop = add.backward(dall)
    da, dan = mul.backward(dap)
    do, don = mul.backward(dop)
    return pack(ap, op, allp, price, dall, dtax, dap, dop, da, dan, do, don)


@student
def forward_order_backward(apple, apple_num, orange, orange_num, tax, MulLayer, AddLayer, dout=1):
    mul_apple, mul_orange, add, mul_tax = MulLayer(), MulLayer(), AddLayer(), MulLayer()
    ap = mul_apple.forward(apple, apple_num)
    op = mul_orange.forward(orange, orange_num)
    allp = add.forward(ap, op)
    price = mul_tax.forward(allp, tax)
    da, dan = mul_apple.backward(dout)  # 按正向的顺序做反向，每层都拿最初的 dout
    do, don = mul_orange.backward(dout)
    dap, dop = add.backward(dout)
    dall, dtax = mul_tax.backward(dout)
    return pack(ap, op, allp, price, dall, dtax, dap, dop, da, dan, do, don)


@student
def broken_chain(apple, apple_num, orange, orange_num, tax, MulLayer, AddLayer, dout=1):
    mul_apple, mul_orange, add, mul_tax = MulLayer(), MulLayer(), AddLayer(), MulLayer()
    ap = mul_apple.forward(apple, apple_num)
    op = mul_orange.forward(orange, orange_num)
    allp = add.forward(ap, op)
    price = mul_tax.forward(allp, tax)
    dall, dtax = mul_tax.backward(dout)
    dap, dop = add.backward(dout)  # 应当是 dall
    da, dan = mul_apple.backward(dap)
    do, don = mul_orange.backward(dop)
    return pack(ap, op, allp, price, dall, dtax, dap, dop, da, dan, do, don)


@student
def swapped_unpacking(apple, apple_num, orange, orange_num, tax, MulLayer, AddLayer, dout=1):
    mul_apple, mul_orange, add, mul_tax = MulLayer(), MulLayer(), AddLayer(), MulLayer()
    ap = mul_apple.forward(apple, apple_num)
    op = mul_orange.forward(orange, orange_num)
    allp = add.forward(ap, op)
    price = mul_tax.forward(tax, allp)  # 参数对调
    dall, dtax = mul_tax.backward(dout)  # 拆包却按原来的顺序
    dap, dop = add.backward(dall)
    da, dan = mul_apple.backward(dap)
    do, don = mul_orange.backward(dop)
    return pack(ap, op, allp, price, dall, dtax, dap, dop, da, dan, do, don)


@student
def ignores_dout(apple, apple_num, orange, orange_num, tax, MulLayer, AddLayer, dout=1):
    return wiring(apple, apple_num, orange, orange_num, tax, MulLayer, AddLayer, dout=1)


@student
def skips_add_backward(apple, apple_num, orange, orange_num, tax, MulLayer, AddLayer, dout=1):
    mul_apple, mul_orange, add, mul_tax = MulLayer(), MulLayer(), AddLayer(), MulLayer()
    ap = mul_apple.forward(apple, apple_num)
    op = mul_orange.forward(orange, orange_num)
    allp = add.forward(ap, op)
    price = mul_tax.forward(allp, tax)
    dall, dtax = mul_tax.backward(dout)
    da, dan = mul_apple.backward(dall)
    do, don = mul_orange.backward(dall)
    return pack(ap, op, allp, price, dall, dtax, dall, dall, da, dan, do, don)


@student
def forgets_tax(apple, apple_num, orange, orange_num, tax, MulLayer, AddLayer, dout=1):
    mul_apple, mul_orange, add = MulLayer(), MulLayer(), AddLayer()
    ap = mul_apple.forward(apple, apple_num)
    op = mul_orange.forward(orange, orange_num)
    allp = add.forward(ap, op)
    dap, dop = add.backward(dout)
    da, dan = mul_apple.backward(dap)
    do, don = mul_orange.backward(dop)
    return pack(ap, op, allp, allp, dout, 0, dap, dop, da, dan, do, don)


@student
def forgets_tax_backward(apple, apple_num, orange, orange_num, tax, MulLayer, AddLayer, dout=1):
    mul_apple, mul_orange, add, mul_tax = MulLayer(), MulLayer(), AddLayer(), MulLayer()
    ap = mul_apple.forward(apple, apple_num)
    op = mul_orange.forward(orange, orange_num)
    allp = add.forward(ap, op)
    price = mul_tax.forward(allp, tax)
    dap, dop = add.backward(dout)
    da, dan = mul_apple.backward(dap)
    do, don = mul_orange.backward(dop)
    values = {"apple_price": ap, "orange_price": op, "all_price": allp, "price": price}
    return values, {"all_price": dall_price, "tax": dtax}  # noqa: F821  学生忘了这一层：名字没有定义


@student
def backward_before_upstream(apple, apple_num, orange, orange_num, tax, MulLayer, AddLayer, dout=1):
    mul_apple, mul_orange, add, mul_tax = MulLayer(), MulLayer(), AddLayer(), MulLayer()
    ap = mul_apple.forward(apple, apple_num)
    op = mul_orange.forward(orange, orange_num)
    allp = add.forward(ap, op)
    price = mul_tax.forward(allp, tax)
    da, dan = mul_apple.backward(dapple_price)  # 这时 dapple_price 还没算出来
    dall, dtax = mul_tax.backward(dout)
    dapple_price, dop = add.backward(dall)
    do, don = mul_orange.backward(dop)
    return pack(ap, op, allp, price, dall, dtax, dapple_price, dop, da, dan, do, don)


@student
def plain_arithmetic(apple, apple_num, orange, orange_num, tax, MulLayer, AddLayer, dout=1):
    mul_apple, mul_orange, mul_tax = MulLayer(), MulLayer(), MulLayer()
    ap = mul_apple.forward(apple, apple_num)
    op = mul_orange.forward(orange, orange_num)
    allp = ap + op  # 没有用 AddLayer
    price = mul_tax.forward(allp, tax)
    return pack(ap, op, allp, price, *[0] * 8)


@student
def forgets_orange(apple, apple_num, orange, orange_num, tax, MulLayer, AddLayer, dout=1):
    values, grads = wiring(apple, apple_num, orange, orange_num, tax, MulLayer, AddLayer, dout)
    values["price"] = values["apple_price"] * tax
    return values, grads


@student
def no_dout_parameter(apple, apple_num, orange, orange_num, tax, MulLayer, AddLayer):
    return wiring(apple, apple_num, orange, orange_num, tax, MulLayer, AddLayer)


WIRING_MISTAKES = [
    (reuse_one_layer, check_apple_orange_backward, "每个乘法节点都要有自己的层对象"),
    (forward_order_backward, check_apple_orange_backward, "backward 的调用顺序不对"),
    (broken_chain, check_apple_orange_backward, "加法层的 backward 收到的 dout 是 1，应当是消费税层返回的 dall_price"),
    (swapped_unpacking, check_apple_orange_backward, "all_price 和 tax 对调了"),
    (skips_add_backward, check_apple_orange_backward, "加法层没有调用 backward"),
    (forgets_tax, check_apple_orange_forward, "忘了最后的消费税层"),
    (forgets_tax_backward, check_apple_orange_backward, "变量 dall_price 没有定义：它应当来自消费税层的 backward"),
    (backward_before_upstream, check_apple_orange_backward, "dapple_price 还没算出来就被用到了"),
    (plain_arithmetic, check_apple_orange_forward, "没有用传进来的层"),
    (forgets_orange, check_apple_orange_forward, "没有橘子的金额"),
    (no_dout_parameter, check_apple_orange_backward, "要接受参数 dout"),
]


@pytest.mark.parametrize("fn, check_fn, hint", WIRING_MISTAKES, ids=[m[0].__name__ for m in WIRING_MISTAKES])
def test_wiring_mistakes_get_their_own_hint(fn, check_fn, hint):
    fails_with(check_fn, fn, hint, report=False)


def test_reused_layer_still_gives_the_right_price():
    # 共用一个层对象不影响正向的金额，所以正向那一项照样得分
    check_apple_orange_forward(reuse_one_layer, report=False)


def test_ignoring_dout_is_caught_with_a_random_upstream_gradient():
    # 书上的例子 dout = 1 时看不出来，随机的 dout 才能发现
    message = fails_with(check_apple_orange_backward, ignores_dout, "整个图的上游导数 dout", report=False)
    assert "消费税的乘法层的 backward 收到的 dout 是 1" in message


@pytest.mark.parametrize("result, hint", [
    (None, "是 None"),
    (["values", "grads"], "是 list，应当是 tuple"),
    (({}, {}, {}), "应当包含 2 个值"),
    (([], {}), "values 应当是 dict"),
    (({"price": 715}, {}), "缺少键 apple_price"),
])
def test_wiring_return_value_format(result, hint):
    fails_with(check_apple_orange_forward, student(lambda *args, **kwargs: result), hint)


def test_wiring_exceptions_and_bad_arguments():
    fails_with(check_apple_orange_forward, student(lambda *a, **k: not_implemented()), "还没有实现")
    fails_with(check_apple_orange_forward, student(lambda *a, **k: {}["apple"]), "KeyError")
    fails_with(check_apple_orange_forward, 5, "要传入函数")
    fails_with(check_apple_orange_forward, None, "是 None")


def test_wiring_without_add_layer_but_right_gradients_is_still_caught():
    @student
    def no_add_layer(apple, apple_num, orange, orange_num, tax, MulLayer, AddLayer, dout=1):
        mul_apple, mul_orange, mul_tax = MulLayer(), MulLayer(), MulLayer()
        ap = mul_apple.forward(apple, apple_num)
        op = mul_orange.forward(orange, orange_num)
        allp = ap + op
        price = mul_tax.forward(allp, tax)
        dall, dtax = mul_tax.backward(dout)
        da, dan = mul_apple.backward(dall)
        do, don = mul_orange.backward(dall)
        return pack(ap, op, allp, price, dall, dtax, dall, dall, da, dan, do, don)

    message = fails_with(check_apple_orange_backward, no_add_layer, "图里找不到加法层")
    assert "导数的数值是对的" in message


def test_exception_hints_fit_what_was_called():
    """层的 forward 里的 AttributeError 得到“存成 self.x”的提示；连线函数里的 AttributeError 得到一般的提示。"""
    def forward(self, x, y):
        return x.value * y  # 数没有 .value 属性

    message = fails_with(check_mul_forward, mul_variant(forward=forward), "AttributeError")
    assert "self.x 之类的属性" in message

    @student
    def misspelled_method(apple, apple_num, orange, orange_num, tax, MulLayer, AddLayer, dout=1):
        return MulLayer().forwad(apple, apple_num)  # 方法名拼错

    message = fails_with(check_apple_orange_forward, misspelled_method, "AttributeError")
    assert "检查属性名的拼写" in message and "self.x" not in message
