"""course.checks.softmax_loss：SoftmaxWithLoss 的检查，对的不出声，错的各有提示。"""
import warnings

import numpy as np
import pytest

from course.reference import layers
from course.checks import CheckFailure
from course.checks.softmax_loss import PARTS, check_softmax_with_loss_backward, check_softmax_with_loss_forward, reference_parts
from conftest import student


# ---- 正确的实现 -------------------------------------------------------------
@student
def softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(x)
    return e / np.sum(e, axis=-1, keepdims=True)


@student
def cross_entropy_error(y, t):
    if y.ndim == 1:
        t = t.reshape(1, -1)
        y = y.reshape(1, -1)
    return -np.sum(t * np.log(y + 1e-7)) / y.shape[0]


@student
class SoftmaxWithLoss:
    def __init__(self):
        self.loss = None
        self.y = None
        self.t = None

    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        self.loss = cross_entropy_error(self.y, self.t)
        return self.loss

    def backward(self, dout=1):
        batch_size = self.t.shape[0]
        return (self.y - self.t) * dout / batch_size


@student
class SoftmaxWithLossLabels(SoftmaxWithLoss):
    """另一种正确写法：backward 里把 one-hot 换成标签下标，从 y 的一份副本里减 1。"""

    def backward(self, dout=1):
        n = self.y.shape[0]
        dx = self.y.copy()
        dx[np.arange(n), self.t.argmax(axis=1)] -= 1
        return dx * dout / n


def test_correct_implementations_pass_silently(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for cls in (SoftmaxWithLoss, SoftmaxWithLossLabels):
            check_softmax_with_loss_forward(cls)
            check_softmax_with_loss_backward(cls)
            check_softmax_with_loss_forward(cls, seed=5, cases=[(3, 3), (1, 4), (7, 10)], report=False)
            check_softmax_with_loss_backward(cls, seed=5, cases=[(3, 3), (1, 4), (7, 10)], report=False)
    out, err = capsys.readouterr()
    assert err == ""
    assert out.count("✔") == 4 and "隐藏测试" in out


def test_report_false_prints_nothing(capsys):
    check_softmax_with_loss_backward(SoftmaxWithLoss, seed=2, report=False)
    assert capsys.readouterr() == ("", "")


def _not_implemented(*args):
    raise NotImplementedError("还没有实现")


# ---- SoftmaxWithLoss 的错误写法 ---------------------------------------------
t = np.array([[1.0, 0.0, 0.0]])  # 模拟 notebook 里某个单元留下的全局变量 t


def swl_variant(**methods):
    return student(type("BrokenSoftmaxWithLoss", (SoftmaxWithLoss,), methods))


def _backward(formula):
    def backward(self, dout=1):
        n, c = self.y.shape
        return formula(self.y, self.t, n, c)
    return backward


def _global_t_backward(self, dout=1):
    return (self.y - t) / self.y.shape[0]


def _forward_sum(self, x, t):
    self.t, self.y = t, softmax(x)
    return cross_entropy_error(self.y, t) * x.shape[0]


def _forward_no_softmax(self, x, t):
    self.t, self.y = t, softmax(x)
    return cross_entropy_error(x, t)


def _forward_global_t(self, x, t_arg):
    self.t, self.y = t, softmax(x)
    return cross_entropy_error(self.y, t)


@student
class WithWeights(SoftmaxWithLoss):
    def __init__(self, W, b):
        super().__init__()


SWL_BROKEN = [
    ("构造函数要 W、b", WithWeights, check_softmax_with_loss_forward, "__init__(self) 不需要参数", {}),
    ("损失没有平均", swl_variant(forward=_forward_sum), check_softmax_with_loss_forward, "损失没有按批平均", {}),
    ("没做 softmax", swl_variant(forward=_forward_no_softmax), check_softmax_with_loss_forward,
     "先 self.y = softmax(x)", {}),
    ("forward 用全局 t（形状相同）", swl_variant(forward=_forward_global_t), check_softmax_with_loss_forward,
     "t 用这次传入的那个", {"cases": [(1, 3)]}),
    ("forward 用全局 t（形状不同）", swl_variant(forward=_forward_global_t), check_softmax_with_loss_forward,
     "不要读全局变量", {}),
    ("forward 返回 None", swl_variant(forward=lambda self, x, t: None), check_softmax_with_loss_forward, "是 None", {}),
    ("forward 未实现", swl_variant(forward=_not_implemented), check_softmax_with_loss_forward, "还没有实现", {}),
    ("没除以 N", swl_variant(backward=_backward(lambda y, t, n, c: y - t)), check_softmax_with_loss_backward,
     "没有除以批大小", {}),
    ("符号反了", swl_variant(backward=_backward(lambda y, t, n, c: (t - y) / n)), check_softmax_with_loss_backward,
     "不是 (t - y) / N", {}),
    ("符号反了且没除", swl_variant(backward=_backward(lambda y, t, n, c: t - y)), check_softmax_with_loss_backward,
     "符号反了，也没有除以批大小", {}),
    ("除以 C", swl_variant(backward=_backward(lambda y, t, n, c: (y - t) / c)), check_softmax_with_loss_backward,
     "除以的是类别数 C", {}),
    ("除以 y.size", swl_variant(backward=_backward(lambda y, t, n, c: (y - t) / (n * c))),
     check_softmax_with_loss_backward, "除以了元素总数", {}),
    ("backward 用全局 t（形状相同）", swl_variant(backward=_global_t_backward), check_softmax_with_loss_backward,
     "backward 用的 t 和 forward(x, t) 收到的不一样", {"cases": [(1, 3)]}),
    ("backward 用全局 t（形状不同）", swl_variant(backward=_global_t_backward), check_softmax_with_loss_backward,
     "不要读全局变量", {}),
    ("dout 没有默认值", swl_variant(backward=lambda self, dout: (self.y - self.t) / len(self.y)),
     check_softmax_with_loss_backward, "不带参数也要能调用", {}),
    ("backward 返回 tuple", swl_variant(backward=lambda self, dout=1: ((self.y - self.t) / len(self.y), None)),
     check_softmax_with_loss_backward, "应只返回 dx 一个数组", {}),
    ("backward 返回 None", swl_variant(backward=lambda self, dout=1: None), check_softmax_with_loss_backward,
     "是 None", {}),
    ("backward 未实现", swl_variant(backward=_not_implemented), check_softmax_with_loss_backward, "还没有实现", {}),
    ("没有 backward", student(type("OnlyForward", (), {"forward": lambda self, x, t: 0.0})),
     check_softmax_with_loss_forward, "没有 backward 方法", {}),
]


@pytest.mark.parametrize("name, cls, check_fn, hint, kw", SWL_BROKEN, ids=[b[0] for b in SWL_BROKEN])
def test_broken_softmax_with_loss_gets_its_own_hint(name, cls, check_fn, hint, kw):
    with pytest.raises(CheckFailure) as info:
        check_fn(cls, report=False, **kw)
    assert hint in str(info.value), "%s：提示里没有“%s”，实际信息：\n%s" % (name, hint, info.value)


def test_book_numbers_appear_in_the_backward_check():
    """书中的两个例子：(0.3, 0.2, 0.5) → (0.3, -0.8, 0.5)；没除 N 的写法在 N = 1 时与它们一致，在批上才出错。"""
    cls = swl_variant(backward=_backward(lambda y, t, n, c: y - t))
    layer = cls()
    layer.forward(np.log([[0.3, 0.2, 0.5]]), np.array([[0.0, 1.0, 0.0]]))
    assert np.allclose(layer.backward(), [[0.3, -0.8, 0.5]])
    with pytest.raises(CheckFailure):
        check_softmax_with_loss_backward(cls, report=False)


# ---- 传给检查函数本身的参数不对 ---------------------------------------------
@pytest.mark.parametrize("check_fn, bad, hint", [
    (check_softmax_with_loss_forward, SoftmaxWithLoss(), "你传入的是 SoftmaxWithLoss 类型的对象"),
    (check_softmax_with_loss_backward, softmax, "你传入的是 function 类型的对象"),
    (check_softmax_with_loss_backward, layers.SoftmaxWithLoss, "来自模块 course.reference.layers"),
    (check_softmax_with_loss_forward, None, "是 None"),
])
def test_bad_argument_to_checks(check_fn, bad, hint):
    with pytest.raises(CheckFailure) as info:
        check_fn(bad, report=False)
    assert hint in str(info.value)


def test_a_step_hint_follows_the_hint_for_the_exception_type():
    from course.checks._core import call

    class Layer:  # “存成 self.x”的提示只给层的 forward / backward
        def backward(self, x):
            raise AttributeError("'Layer' object has no attribute 'x'")

    needs_self_x = Layer().backward

    def other_error(x):
        raise KeyError("t")

    with pytest.raises(CheckFailure) as info:
        call(needs_self_x, 1, what="f(x)", step_hint="这一步的提示")
    lines = str(info.value).splitlines()
    assert lines[0].startswith("运行 f(x) 时，你的代码抛出了异常 AttributeError")
    assert lines[-2].startswith("  提示：backward 用到的值") and lines[-1] == "  提示：这一步的提示"
    with pytest.raises(CheckFailure) as info:  # 按异常类型没有提示时，只有这一步的提示
        call(other_error, 1, what="f(x)", step_hint="这一步的提示")
    assert [x for x in str(info.value).splitlines() if "提示" in x] == ["  提示：这一步的提示"]
    with pytest.raises(CheckFailure) as info:  # 还没实现时不加这一步的提示
        call(lambda x: (_ for _ in ()).throw(NotImplementedError()), 1, what="f(x)", step_hint="这一步的提示")
    assert "这一步的提示" not in str(info.value)


# ---- 练习 2、3 的错误不在 SoftmaxWithLoss 上重复扣分 -------------------------------
BOOK_SWL = """
class SoftmaxWithLoss:
    def __init__(self):
        self.loss = None
        self.y = None
        self.t = None

    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        self.loss = cross_entropy_error(self.y, self.t)
        return self.loss

    def backward(self, dout=1):
        batch_size = self.t.shape[0]
        dx = (self.y - self.t) / batch_size
        return dx
"""
BAD_PARTS = {
    "softmax 整批一起归一化": """
def softmax(x):
    e = np.exp(x - np.max(x))
    return e / np.sum(e)
""",
    "softmax 还没写": """
def softmax(x):
    raise NotImplementedError("还没有实现")
""",
    "交叉熵没有按批平均": """
def cross_entropy_error(y, t):
    return -np.sum(t * np.log(y + 1e-7))
""",
    "交叉熵还没写": """
def cross_entropy_error(y, t):
    raise NotImplementedError("还没有实现")
""",
    "两个函数都没有定义": "",
}


def notebook(*sources):
    """像 notebook 一样在一个全局字典里依次执行几个单元，返回这个字典。"""
    ns = {"__name__": "__main__", "np": np}
    for src in sources:
        exec(src, ns)  # noqa: S102 - 测试里模拟 notebook 的单元
    return ns


@pytest.mark.parametrize("part", sorted(BAD_PARTS))
def test_mistakes_in_softmax_or_cross_entropy_do_not_cost_the_layer(part):
    """书里的层调用 notebook 里的 softmax、cross_entropy_error：它们错了，层的检查照样通过，之后原样换回。"""
    ns = notebook(BAD_PARTS[part], BOOK_SWL)
    before = {k: ns.get(k) for k in PARTS_NAMES}
    check_softmax_with_loss_forward(ns["SoftmaxWithLoss"], report=False)
    check_softmax_with_loss_backward(ns["SoftmaxWithLoss"], report=False)
    assert {k: ns.get(k) for k in PARTS_NAMES} == before
    assert [k for k in PARTS_NAMES if k in ns] == [k for k in PARTS_NAMES if before[k] is not None]


PARTS_NAMES = ("softmax", "cross_entropy_error")


def test_the_layers_own_mistake_is_still_caught_with_a_wrong_softmax():
    ns = notebook(BAD_PARTS["softmax 整批一起归一化"], BOOK_SWL.replace("/ batch_size", ""))
    with pytest.raises(CheckFailure, match="没有除以批大小"):
        check_softmax_with_loss_backward(ns["SoftmaxWithLoss"], report=False)
    assert ns["softmax"].__module__ == "__main__"  # 检查失败时也换回了学生的函数


def test_the_wrong_parts_themselves_would_have_broken_the_layer():
    """对照：不换成参考实现时，同一个层确实算错（上面的测试不是碰巧通过）。"""
    good_cee = "def cross_entropy_error(y, t):\n    return -np.sum(t * np.log(y + 1e-7)) / y.shape[0]\n"
    ns = notebook(BAD_PARTS["softmax 整批一起归一化"], good_cee, BOOK_SWL)
    x, t = np.array([[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]]), np.eye(3)[[2, 0]]
    wrong = ns["SoftmaxWithLoss"]().forward(x, t)
    with reference_parts(ns["SoftmaxWithLoss"]):
        right = ns["SoftmaxWithLoss"]().forward(x, t)
    assert np.isclose(right, layers.cross_entropy_error(layers.softmax(x), t))
    assert not np.isclose(wrong, right)


def test_reference_parts_restores_after_an_error_and_leaves_other_names_alone():
    ns = notebook(BAD_PARTS["softmax 还没写"], BOOK_SWL)
    mine, other = ns["softmax"], ns["np"]
    with pytest.raises(ZeroDivisionError):
        with reference_parts(ns["SoftmaxWithLoss"]):
            assert ns["softmax"] is PARTS["softmax"] and ns["cross_entropy_error"] is PARTS["cross_entropy_error"]
            x = np.random.default_rng(0).standard_normal((3, 4))  # 检查自己的版本与参考的层一致
            assert np.allclose(ns["softmax"](x), layers.softmax(x))
            assert np.isclose(ns["cross_entropy_error"](layers.softmax(x), np.array([0, 3, 1])),
                              layers.cross_entropy_error(layers.softmax(x), np.array([0, 3, 1])))
            1 / 0
    assert ns["softmax"] is mine and ns["np"] is other and "cross_entropy_error" not in ns
