"""第 05 课检查函数的单元测试：正确的实现安静地通过，每一种常见错误都得到它自己的提示。"""
import warnings

import numpy as np
import pytest

from course.checks import CheckFailure
from course.checks import network as nw
from course.gradcheck import rel_error
from course.reference.net import TwoLayerNet as RefNet
from conftest import student


@student
class GoodNet(RefNet):
    """学生写的正确网络：结构与参考网络相同，只是反向传播拆成两步，方便下面造出各种错误的变体。"""

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, seed=None):
        super().__init__(input_size, hidden_size, output_size, weight_init_std, seed=seed)

    def backward_layers(self, dout):
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)

    def collect(self):
        return {"W1": self.layers["Affine1"].dW, "b1": self.layers["Affine1"].db,
                "W2": self.layers["Affine2"].dW, "b2": self.layers["Affine2"].db}

    def gradient(self, x, t):
        self.loss(x, t)
        self.backward_layers(self.lastLayer.backward(1))
        return self.collect()


def variant(**methods):
    return student(type("Variant", (GoodNet,), methods))


def _grad_with(collect=None, forward=True, last=True, order="reversed", skip=()):
    def gradient(self, x, t):
        if forward == "predict":
            self.predict(x)
        elif forward:
            self.loss(x, t)
        dout = self.lastLayer.backward(1) if last else 1
        layers = [(n, l) for n, l in self.layers.items() if n not in skip]
        for _, layer in (reversed(layers) if order == "reversed" else layers):
            dout = layer.backward(dout)
        grads = self.collect()
        return collect(self, grads, x) if collect else grads
    return gradient


def run_quietly(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args, **kwargs)


def fails_with(fragment, check, obj, **kwargs):
    with pytest.raises(CheckFailure) as info:
        run_quietly(check, obj, report=False, **kwargs)
    assert fragment in str(info.value), str(info.value)
    return str(info.value)


# ---- 正确的实现 ---------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [{}, {"seed": 7, "sizes": (7, 6, 4), "batch": 5, "one_hot": False},
                                    {"seed": 3, "sizes": (4, 4, 4), "batch": 3}])
def test_good_network_passes_quietly(kwargs, capsys):
    run_quietly(nw.check_two_layer_net_forward, GoodNet, report=False, **kwargs)
    run_quietly(nw.check_two_layer_net_gradient, GoodNet, report=False, **kwargs)
    run_quietly(nw.check_fixed_network, GoodNet, report=False, **kwargs)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_report_prints_visible_note(capsys):
    nw.check_two_layer_net_gradient(GoodNet)
    out = capsys.readouterr()
    assert "隐藏测试" in out.out and out.err == ""


# ---- predict / loss 的常见错误 -------------------------------------------------

def _softmax_predict(self, x):
    s = GoodNet.predict(self, x)
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _no_relu_predict(self, x):
    for name in ("Affine1", "Affine2"):
        x = self.layers[name].forward(x)
    return x


def _not_implemented(self, *args):
    raise NotImplementedError


@pytest.mark.parametrize("methods, fragment", [
    ({"predict": _softmax_predict}, "softmax 由 lastLayer"),
    ({"predict": _no_relu_predict}, "漏掉了 Relu1"),
    ({"predict": lambda self, x: None}, "是 None"),
    ({"predict": lambda self, x: GoodNet.predict(self, x)[:, :-1]}, "的形状应为 (6, 3)"),
    ({"predict": _not_implemented}, "NotImplementedError"),
    ({"loss": lambda self, x, t: self.lastLayer.forward(self.predict(x), t) * len(x)}, "总和而不是平均值"),
    ({"loss": lambda self, x, t: self.predict(x)}, "应当是一个数"),
    ({"loss": lambda self, x, t: self.lastLayer.forward(x, t)}, "没有经过网络的各层"),
    ({"loss": lambda self, x, t: 1 / 0}, "ZeroDivisionError"),
])
def test_forward_mistakes(methods, fragment):
    fails_with(fragment, nw.check_two_layer_net_forward, variant(**methods))


# ---- gradient 的常见错误 -------------------------------------------------------

def _w1_from_affine2(self, grads, x):
    return dict(grads, W1=self.layers["Affine2"].dW)


def _b1_from_affine2(self, grads, x):
    return dict(grads, b1=self.layers["Affine2"].db)


def _raise_inside(self, x, t):
    self.loss(x, t)
    return {"W1": 1 / 0}


GRADIENT_MISTAKES = [
    (_grad_with(collect=_w1_from_affine2), {}, "读成了 Affine2 的 dW"),
    (_grad_with(collect=_b1_from_affine2), {}, "读成了 Affine2 的 db"),
    (_grad_with(collect=_w1_from_affine2), {"sizes": (4, 4, 4)}, "其实是 W2 的梯度"),
    (_grad_with(order="forward"), {}, "按正向的顺序"),
    (_grad_with(order="forward"), {"sizes": (4, 4, 4)}, "按正向的顺序"),
    (_grad_with(last=False), {}, "没有调用 self.lastLayer.backward"),
    (_grad_with(forward=False), {}, "没有做正向传播"),
    (_grad_with(forward="predict"), {}, "没有经过 self.lastLayer.forward"),
    (_grad_with(skip=("Relu1",)), {}, "跳过了 Relu1"),
    (_grad_with(collect=lambda self, g, x: dict(g, b2=g["b2"] / len(x))), {}, "不要再除一次"),
    (_grad_with(collect=lambda self, g, x: {k: v for k, v in g.items() if k != "b2"}), {}, "缺少键 b2"),
    (_grad_with(collect=lambda self, g, x: dict(g, W2=g["W2"].T)), {}, "被转置了"),
    (_grad_with(collect=lambda self, g, x: dict(g, W1=g["W1"] * 1.5)), {}, "与数值微分得到的梯度不一致"),
    (_grad_with(collect=lambda self, g, x: None), {}, "忘了写 return grads"),
    (_grad_with(collect=lambda self, g, x: list(g.values())), {}, "应返回字典"),
    (_raise_inside, {}, "ZeroDivisionError"),
    (_not_implemented, {}, "NotImplementedError"),
]


@pytest.mark.parametrize("gradient, kwargs, fragment", GRADIENT_MISTAKES)
def test_gradient_mistakes(gradient, kwargs, fragment):
    fails_with(fragment, nw.check_two_layer_net_gradient, variant(gradient=gradient), **kwargs)


def test_fixed_network_uses_the_same_diagnosis():
    # 找 bug 练习里埋的两个错：跳过 Relu1、b2 多除了批大小
    buggy = _grad_with(skip=("Relu1",), collect=lambda self, g, x: dict(g, b2=g["b2"] / len(x)))
    msg = fails_with("跳过了 Relu1", nw.check_fixed_network, variant(gradient=buggy))
    assert "FixedTwoLayerNet" in msg or "grads['W1']" in msg
    only_b2 = _grad_with(collect=lambda self, g, x: dict(g, b2=g["b2"] / len(x)))
    fails_with("不要再除一次", nw.check_fixed_network, variant(gradient=only_b2), seed=5, one_hot=False)


@pytest.mark.parametrize("check", [nw.check_two_layer_net_forward, nw.check_two_layer_net_gradient,
                                   nw.check_fixed_network])
def test_bad_input_to_network_checks(check):
    fails_with("去掉后面的括号", check, GoodNet(3, 2, 2))
    fails_with("来自模块", check, RefNet)
    fails_with("先运行定义它的那个单元", check, None)


def test_broken_init_is_reported():
    def no_params(self, *args):
        self.params = {}

    def transposed_w1(self, D, H, C, std=0.01):
        GoodNet.__init__(self, D, H, C, std)
        self.params["W1"] = self.params["W1"].T

    def no_layers(self, *args):
        GoodNet.__init__(self, *args)
        del self.layers["Relu1"]

    fails_with("params 字典", nw.check_two_layer_net_gradient, variant(__init__=no_params))
    fails_with("形状依次为 (5, 4)", nw.check_two_layer_net_forward, variant(__init__=transposed_w1))
    fails_with("依次为 Affine1、Relu1、Affine2", nw.check_two_layer_net_gradient, variant(__init__=no_layers))
    fails_with("TypeError", nw.check_fixed_network, variant(__init__=lambda self: None))


# ---- gradient_check ----------------------------------------------------------

@student
def good_gradient_check(network, x, t):
    num = network.numerical_gradient(x, t)
    bp = network.gradient(x, t)
    return {key: rel_error(num[key], bp[key]) for key in num}


def test_good_gradient_check_passes_quietly(capsys):
    run_quietly(nw.check_gradient_check, good_gradient_check, report=False)
    run_quietly(nw.check_gradient_check, good_gradient_check, report=False, seed=11, sizes=(6, 3, 4), batch=5)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def _gc(transform):
    def gradient_check(network, x, t):
        num, bp = network.numerical_gradient(x, t), network.gradient(x, t)
        return transform(num, bp)
    return student(gradient_check)


@pytest.mark.parametrize("fn, fragment", [
    (_gc(lambda n, b: {k: np.mean(np.abs(n[k] - b[k])) for k in n}), "平均绝对误差"),
    (_gc(lambda n, b: {k: np.max(np.abs(n[k] - b[k])) for k in n}), "最大绝对误差"),
    (_gc(lambda n, b: {k: rel_error(b[k], b[k]) for k in n}), "和它自己比较"),
    (_gc(lambda n, b: {"Affine1": 0.0}), "返回的键应是 W1, b1, W2, b2"),
    (_gc(lambda n, b: {k: rel_error(n[k], b[k]) for k in ("W1", "b1", "W2")}), "返回的键应是 W1, b1, W2, b2"),
    (_gc(lambda n, b: {k: np.abs(n[k] - b[k]) / (np.abs(n[k]) + np.abs(b[k]) + 1e-8) for k in n}), "应当是一个数"),
    (_gc(lambda n, b: None), "忘了写 return"),
    (_gc(lambda n, b: [rel_error(n[k], b[k]) for k in n]), "应返回字典"),
    (_gc(lambda n, b: {k: 1e-9 for k in n}), "rel_error(数值梯度[key]"),
    (_gc(lambda n, b: {k: min(rel_error(n[k], b[k]), 1e-3) for k in n}), "b1 梯度故意算错了"),
    (student(lambda network, x, t: network.no_such_method()), "AttributeError"),
    (student(lambda network, x, t: _not_implemented(None)), "NotImplementedError"),
])
def test_gradient_check_mistakes(fn, fragment):
    fails_with(fragment, nw.check_gradient_check, fn)


def test_bad_input_to_gradient_check():
    fails_with("应当是一个函数，你传入的是一个 int 对象", nw.check_gradient_check, 3)
    fails_with("应当是一个函数，你传入的是类 GoodNet", nw.check_gradient_check, GoodNet)
    fails_with("先运行定义它的那个单元", nw.check_gradient_check, None)
    fails_with("来自模块", nw.check_gradient_check, rel_error)


# ---- sgd_step ----------------------------------------------------------------

@student
def good_sgd_step(params, grads, lr):
    for key in params:
        params[key] -= lr * grads[key]


def test_good_sgd_step_passes_quietly(capsys):
    run_quietly(nw.check_sgd_step, good_sgd_step, report=False)
    run_quietly(nw.check_sgd_step, good_sgd_step, report=False, seed=4, lr=0.37, keys=("W1", "b1", "W2", "b2", "W3"))
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def _sgd(body):
    def sgd_step(params, grads, lr):
        for key in list(params):
            body(params, grads, lr, key)
    return student(sgd_step)


def _assign(p, g, lr, k):
    p[k] = p[k] - lr * g[k]


def _plus(p, g, lr, k):
    p[k] += lr * g[k]


def _no_lr(p, g, lr, k):
    p[k] -= g[k]


def _touch_grads(p, g, lr, k):
    p[k] -= lr * g[k]
    g[k] *= 0


@student
def fixed_keys_sgd(params, grads, lr):
    for key in ("W1", "b1", "W2", "b2"):
        params[key] -= lr * grads[key]


@pytest.mark.parametrize("fn, kwargs, fragment", [
    (_sgd(_assign), {}, "被换成了一个新数组"),
    (student(lambda params, grads, lr: {k: v - lr * grads[k] for k, v in params.items()}), {}, "忘了修改它"),
    (_sgd(_plus), {}, "符号反了"),
    (_sgd(_no_lr), {}, "忘了乘学习率"),
    (_sgd(_touch_grads), {}, "改动了 grads"),
    (fixed_keys_sgd, {"keys": ("W1", "b1", "W2", "b2", "W3", "b3")}, "只更新了一部分参数"),
    (_sgd(lambda p, g, lr, k: p.pop(k)), {}, "改动了 params 的键"),
    (_sgd(lambda p, g, lr, k: p[k].nosuch()), {}, "AttributeError"),
    (student(lambda params, grads, lr: _not_implemented(None)), {}, "NotImplementedError"),
])
def test_sgd_step_mistakes(fn, kwargs, fragment):
    fails_with(fragment, nw.check_sgd_step, fn, **kwargs)


def test_bad_input_to_sgd_check():
    fails_with("先运行定义它的那个单元", nw.check_sgd_step, None)
    fails_with("应当是一个函数，你传入的是类 GoodNet", nw.check_sgd_step, GoodNet)
    fails_with("应当是一个函数，你传入的是一个 dict 对象", nw.check_sgd_step, {})
