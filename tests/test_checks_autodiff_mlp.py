"""第 06 课的小网络：Neuron、Layer、MLP、hinge_loss、train_step 的检查，二维玩具数据，和画图用的小工具。

正确的实现（source/ 里的参考答案，配上 micrograd 写法的 Value）通过且不出声；每种常见错误都被抓住，
提示说中要害；一个部分写错，别的部分的检查照样通过（每个错误只扣它那一部分的分）。
"""
import math
import warnings

import numpy as np
import pytest

from conftest import student
from course.plots import mlp as mlp_view
from course import toydata
from course.checks import CheckFailure
from course.checks import autodiff_mlp as mlp
from test_checks_autodiff_styles import MICROGRAD, _namespace

_, NS = _namespace(MICROGRAD)
Value, Neuron, Layer, MLP = NS["Value"], NS["Neuron"], NS["Layer"], NS["MLP"]
hinge_loss, train_step, zero_grad = NS["hinge_loss"], NS["train_step"], NS["zero_grad"]


def subclass(base, **methods):
    return student(type(base.__name__, (base,), methods))


CORRECT = [
    lambda: mlp.check_neuron_class(Neuron, Value),
    lambda: mlp.check_neuron_class(Neuron, Value, seed=5, n_inputs=(1, 6)),
    lambda: mlp.check_layer_mlp(Layer, MLP, Value),
    lambda: mlp.check_layer_mlp(Layer, MLP, Value, seed=3, sizes=((4, 1), (3, 5, 2, 2))),
    lambda: mlp.check_hinge_loss(hinge_loss, Value),
    lambda: mlp.check_hinge_loss(hinge_loss, Value, seed=9, n=12, sizes=(2, 5, 1)),
    lambda: mlp.check_train_step(train_step, Value),
    lambda: mlp.check_train_step(train_step, Value, seed=4, n_params=9),
]


@pytest.mark.parametrize("run", CORRECT)
def test_correct_network_passes_silently(run, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run()
    captured = capsys.readouterr()
    assert captured.err == "" and "公开测试通过" in captured.out


# ---- 另一些正确的写法 ---------------------------------------------------------------
@student
def neuron_call_sum(self, x):
    act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
    return act if self.linear else act.relu()


@student
def mlp_call_micrograd(self, x):  # micrograd 只有一个输出时直接返回那个 Value
    for layer in self.layers:
        x = layer(x)
    return x[0] if len(x) == 1 else x


@student
def hinge_loss_vectorless(model, X, y):
    losses = [(1 + -yi * model(list(xi))[0]).relu() for xi, yi in zip(X, y)]
    return sum(losses) * (1.0 / len(losses))


@student
def step_with_zero_grad(params, loss, lr):
    zero_grad(loss)  # 练习 4：整张图清零，参数也在里面
    loss.backward()
    for p in params:
        p.data += -lr * p.grad


def test_other_correct_styles_pass():
    mlp.check_neuron_class(subclass(Neuron, __call__=neuron_call_sum), Value, report=False)
    mlp.check_layer_mlp(Layer, subclass(MLP, __call__=mlp_call_micrograd), Value, report=False)
    mlp.check_hinge_loss(hinge_loss_vectorless, Value, report=False)
    mlp.check_train_step(step_with_zero_grad, Value, report=False)


# ---- 写错的 Neuron ----------------------------------------------------------------------
def neuron_call(body):
    def __call__(self, x):
        z = sum((wi * xi for wi, xi in zip(self.w, x)), Value(0.0))
        return body(self, z)
    return __call__


BROKEN_NEURON = [
    ("忘了 ReLU", neuron_call(lambda self, z: z + self.b), None, "要在最后套上 ReLU"),
    ("最后一层也加了 ReLU", neuron_call(lambda self, z: (z + self.b).relu()), None, "不加 ReLU"),
    ("忘了偏置", neuron_call(lambda self, z: z if self.linear else z.relu()), None, "忘了加偏置"),
    ("先 ReLU 再加偏置", neuron_call(lambda self, z: z + self.b if self.linear else z.relu() + self.b), None,
     "先加偏置 b，再过 ReLU"),
    ("用了 tanh", neuron_call(lambda self, z: z + self.b if self.linear else (z + self.b).tanh()), None,
     "不是 tanh"),
    ("返回 list", neuron_call(lambda self, z: [z + self.b if self.linear else (z + self.b).relu()]), None,
     "应当返回一个 Value"),
    ("用 .data 另建 Value", lambda self, x: Value(max(sum(w.data * float(getattr(v, "data", v))
                                                       for w, v in zip(self.w, x)) + self.b.data,
                                                   -math.inf if self.linear else 0.0)), None, "梯度全是 0"),
    ("__call__ 未实现", lambda self, x: (_ for _ in ()).throw(NotImplementedError()), None, "NotImplementedError"),
    ("parameters 漏了 b", None, lambda self: list(self.w), "偏置 b 也是参数"),
    ("parameters 新建 Value", None, lambda self: [Value(p.data) for p in self.w + [self.b]], "不是这个模型自己的参数"),
    ("parameters 重复", None, lambda self: self.w + self.w + [self.b], "不止一次"),
    ("parameters 忘了 return", None, lambda self: None, "是 None"),
    ("parameters 套 list", None, lambda self: [self.w, self.b], "套着 list"),
]


@pytest.mark.parametrize("name, call, params, hint", BROKEN_NEURON, ids=[b[0] for b in BROKEN_NEURON])
def test_broken_neuron(name, call, params, hint):
    methods = {k: v for k, v in (("__call__", call), ("parameters", params)) if v is not None}
    broken = subclass(Neuron, **methods)
    with pytest.raises(CheckFailure) as err:
        mlp.check_neuron_class(broken, Value, report=False)
    assert hint in str(err.value), str(err.value)
    # Layer、MLP 的检查把神经元换成参考实现：写错的 Neuron 不连累它们
    mlp.check_layer_mlp(_layer_using(broken), _mlp_using(_layer_using(broken)), Value, report=False)


def _layer_using(neuron_cls):
    def __init__(self, n_in, n_out, linear=False, rng=None):
        self.neurons = [neuron_cls(n_in, linear, rng) for _ in range(n_out)]
    return subclass(Layer, __init__=__init__)


def _mlp_using(layer_cls):
    def __init__(self, n_in, sizes, seed=0):
        rng = np.random.default_rng(seed)
        widths = [n_in] + list(sizes)
        self.layers = [layer_cls(widths[k], widths[k + 1], linear=k == len(sizes) - 1, rng=rng)
                       for k in range(len(sizes))]
    return subclass(MLP, __init__=__init__)


# ---- 写错的 Layer、MLP ------------------------------------------------------------------
def mlp_each_layer_on_input(self, x):
    out = x
    for layer in self.layers:
        out = layer(x)  # 每一层都用了最初的 x
    return out


def mlp_first_layer_only(self, x):
    return self.layers[0](x)


def mlp_skips_last(self, x):
    for layer in self.layers[:-1]:
        x = layer(x)
    return x


BROKEN_LAYER = [
    ("Layer 只返回第一个神经元", "layer", "__call__", lambda self, x: self.neurons[0](x), "应当返回"),
    ("Layer 返回 None", "layer", "__call__", lambda self, x: None, "是 None"),
    ("Layer.parameters 套 list", "layer", "parameters", lambda self: [n.parameters() for n in self.neurons],
     "套着 list"),
    ("Layer.parameters 只有第一个神经元", "layer", "parameters", lambda self: self.neurons[0].parameters(),
     "一个也不能漏"),
    ("MLP 每层都用最初的 x", "mlp", "__call__", mlp_each_layer_on_input, "上一层的输出"),
    ("MLP 只用了第一层", "mlp", "__call__", mlp_first_layer_only, "应当返回 1 个输出"),
    ("MLP 漏了最后一层", "mlp", "__call__", mlp_skips_last, "应当返回 1 个输出"),
    ("MLP.parameters 漏了最后一层", "mlp", "parameters",
     lambda self: [p for layer in self.layers[:-1] for p in layer.parameters()], "一个也不能漏"),
    ("MLP.parameters 未实现", "mlp", "parameters", lambda self: (_ for _ in ()).throw(NotImplementedError()),
     "NotImplementedError"),
]


@pytest.mark.parametrize("name, which, method, fn, hint", BROKEN_LAYER, ids=[b[0] for b in BROKEN_LAYER])
def test_broken_layer_and_mlp(name, which, method, fn, hint):
    layer_cls, mlp_cls = Layer, MLP
    if which == "layer":
        layer_cls = subclass(Layer, **{method: fn})
    else:
        mlp_cls = subclass(MLP, **{method: fn})
    with pytest.raises(CheckFailure) as err:
        mlp.check_layer_mlp(layer_cls, mlp_cls, Value, sizes=((2, 3), (2, 4, 4, 1)), report=False)
    assert hint in str(err.value), str(err.value)
    mlp.check_neuron_class(Neuron, Value, report=False)  # Neuron 的分不受影响


def test_mlp_first_layer_only_with_matching_width_gets_the_chaining_hint():
    broken = subclass(MLP, __call__=mlp_first_layer_only)
    with pytest.raises(CheckFailure) as err:
        mlp.check_layer_mlp(Layer, broken, Value, sizes=((2, 3), (2, 3, 3)), report=False)
    assert "只用了第一层" in str(err.value), str(err.value)
    mlp.check_layer_mlp(Layer, MLP, Value, sizes=((2, 3), (2, 3, 3)), report=False)


# ---- 写错的 hinge_loss --------------------------------------------------------------------
@student
def loss_sum(model, X, y):
    return sum((1 - float(yi) * model(list(xi))[0]).relu() for xi, yi in zip(X, y))


@student
def loss_no_clamp(model, X, y):
    return sum(1 - float(yi) * model(list(xi))[0] for xi, yi in zip(X, y)) * (1.0 / len(X))


@student
def loss_wrong_sign(model, X, y):
    return sum((1 + float(yi) * model(list(xi))[0]).relu() for xi, yi in zip(X, y)) * (1.0 / len(X))


@student
def loss_with_backward(model, X, y):
    loss = hinge_loss(model, X, y)
    loss.backward()
    return loss


@student
def loss_float(model, X, y):
    return hinge_loss(model, X, y).data


@student
def loss_ignores_labels(model, X, y):
    return sum((1 - model(list(xi))[0]).relu() for xi in X) * (1.0 / len(X))


BROKEN_LOSS = [
    ("没有取平均", loss_sum, "取平均"),
    ("没有截断", loss_no_clamp, "截成 0"),
    ("符号反了", loss_wrong_sign, "符号反了"),
    ("函数里调用了 backward", loss_with_backward, "已经调用过 backward() 了"),
    ("返回 float", loss_float, "新的 Value 节点"),
    ("忘了标签", loss_ignores_labels, "relu(1 - y_i·s_i)"),
]


@pytest.mark.parametrize("name, fn, hint", BROKEN_LOSS, ids=[b[0] for b in BROKEN_LOSS])
def test_broken_hinge_loss(name, fn, hint):
    with pytest.raises(CheckFailure) as err:
        mlp.check_hinge_loss(fn, Value, report=False)
    assert hint in str(err.value), str(err.value)


def test_hinge_reference_agrees_with_the_layers():
    """检查里的期望值（numpy 正向 + 数值微分）与第 05 课的 Affine、Relu 层反向传播得到的 dW、db 一致。"""
    from course.reference.layers import mlp_hinge_reference
    for seed in range(5):
        rng = np.random.default_rng(seed)
        weights = mlp.random_weights(rng, [2, 4, 3, 1])
        X, y = rng.uniform(-1.5, 1.5, (6, 2)), np.where(rng.random(6) < 0.5, -1.0, 1.0)
        loss, grads, margin = mlp.hinge_reference(weights, X, y)
        if mlp._near_kinks(weights, X, margin):
            continue
        want_loss, want, want_margin = mlp_hinge_reference(weights, X, y)
        assert loss == pytest.approx(want_loss) and np.allclose(margin, want_margin)
        for (dW, db), (wW, wb) in zip(grads, want):
            assert np.allclose(dW, wW, rtol=1e-6, atol=1e-9) and np.allclose(db, wb, rtol=1e-6, atol=1e-9)


# ---- 写错的 train_step --------------------------------------------------------------------
@student
def step_no_zero(params, loss, lr):
    loss.backward()
    for p in params:
        p.data -= lr * p.grad


@student
def step_zero_after_backward(params, loss, lr):
    loss.backward()
    for p in params:
        p.grad = 0.0
    for p in params:
        p.data -= lr * p.grad


@student
def step_rebinds(params, loss, lr):
    for p in params:
        p.grad = 0.0
    loss.backward()
    for p in params:
        p = Value(p.data - lr * p.grad)  # noqa: F841  换了个新对象，列表里的参数没变


@student
def step_ascent(params, loss, lr):
    for p in params:
        p.grad = 0.0
    loss.backward()
    for p in params:
        p.data += lr * p.grad


@student
def step_no_lr(params, loss, lr):
    for p in params:
        p.grad = 0.0
    loss.backward()
    for p in params:
        p.data -= p.grad


@student
def step_backward_twice(params, loss, lr):
    for p in params:
        p.grad = 0.0
    loss.backward()
    loss.backward()
    for p in params:
        p.data -= lr * p.grad


BROKEN_STEP = [
    ("忘了清零", step_no_zero, "先把每个参数的 p.grad 清零"),
    ("backward 之后才清零", step_zero_after_backward, "参数没有变"),
    ("给 p 赋新的 Value", step_rebinds, "参数没有变"),
    ("梯度上升", step_ascent, "方向反了"),
    ("忘了学习率", step_no_lr, "忘了乘学习率"),
    ("backward 两次", step_backward_twice, "只调用一次 loss.backward()"),
    ("不是函数", 3, "应当是一个函数"),
]


@pytest.mark.parametrize("name, fn, hint", BROKEN_STEP, ids=[b[0] for b in BROKEN_STEP])
def test_broken_train_step(name, fn, hint):
    with pytest.raises(CheckFailure) as err:
        mlp.check_train_step(fn, Value, report=False)
    assert hint in str(err.value), str(err.value)


def test_checks_reject_wrong_arguments():
    with pytest.raises(CheckFailure, match="类 Value 本身"):
        mlp.check_neuron_class(Neuron, Value(1.0), report=False)
    with pytest.raises(CheckFailure, match="来自模块"):
        mlp.check_hinge_loss(np.mean, Value, report=False)
    with pytest.raises(CheckFailure, match="是 None"):
        mlp.check_layer_mlp(None, MLP, Value, report=False)


# ---- 玩具数据和画图的小工具 ------------------------------------------------------------------
@pytest.mark.parametrize("make", [toydata.moons, toydata.spirals])
def test_toy_data_is_seeded_balanced_and_not_linearly_separable(make):
    X, y = make(41, noise=0.05, seed=3)
    X2, y2 = make(41, noise=0.05, seed=3)
    assert X.shape == (41, 2) and X.dtype == np.float64 and set(np.unique(y)) == {0, 1}
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    assert abs(int(y.sum()) - 20) <= 1
    assert not np.array_equal(make(41, noise=0.05, seed=4)[0], X)
    # 最好的直线（最小二乘）也分不全
    A = np.column_stack([X, np.ones(len(X))])
    w = np.linalg.lstsq(A, toydata.signed(y), rcond=None)[0]
    assert np.mean((A @ w > 0) == (y > 0)) < 1.0


@pytest.mark.parametrize("bad, message", [
    (dict(n=1), "不小于 2"), (dict(n=2.5), "整数"), (dict(noise=-1), "噪声"), (dict(seed="x"), "seed"),
])
def test_toy_data_bad_arguments(bad, message):
    with pytest.raises(ValueError, match=message):
        toydata.moons(**bad)


def test_mlp_view_reads_the_students_network_and_matches_the_layers(capsys):
    X, y = toydata.moons(10, noise=0.1, seed=1)
    model = MLP(2, [3, 3, 1], seed=2)
    loss = hinge_loss(model, X, toydata.signed(y))
    loss.backward()
    weights = mlp_view.weights_of(model)
    assert [W.shape for W, _ in weights] == [(2, 3), (3, 3), (3, 1)]
    scores = mlp_view.scores_with_layers(weights, X)
    assert np.allclose(scores, [model(list(x))[0].data for x in X])
    from course.reference.layers import mlp_hinge_reference
    mlp_view.compare_with_layers(model, X, y, mlp_hinge_reference)
    out = capsys.readouterr().out
    errors = [float(t) for t in __import__("re").findall(r"相对误差 ([\d.e+-]+)", out)]
    assert len(errors) == 6 and max(errors) < 1e-7, out  # 接近 0 的梯度：分母取 1e-8，舍入误差显示成 1e-9 左右
    assert 0 <= mlp_view.accuracy(weights, X, y) <= 1
    with pytest.raises(TypeError, match="练习 8"):
        mlp_view.weights_of(object())
    with pytest.raises(TypeError, match="mlp_hinge_reference"):
        mlp_view.compare_with_layers(model, X, y, None)


def test_plot_training_draws_without_warnings():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    X, y = toydata.moons(12, noise=0.1, seed=0)
    model = MLP(2, [3, 1], seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mlp_view.plot_training(model, X, y, [(0.9, 0.5), (0.7, 0.6)], grid=20)
    assert plt.gcf().axes  # 画出来了
    plt.close("all")
