"""第 05 课的检查：TwoLayerNet 的 predict/loss 与 gradient，以及找 bug 练习里修好的网络。

梯度确认函数和 SGD 一步更新的检查在 course.checks.training，这里一并导出，方便 notebook 从一处导入。

期望值来自检查自己的 FormulaNet（course/checks/_twolayer.py）：正向用 numpy 公式，梯度用数值微分，
检查里没有反向传播的写法；参数和数据都由 seed 生成。
为了说清楚反向传播错在哪里，检查时把学生网络里的各层换成只做记录的替身（_Spy），
看 gradient() 有没有先做正向传播、各层的 backward 按什么顺序被调用。
"""
from collections.abc import Mapping

import numpy as np

from ..fmt import fmt_shape
from ..gradcheck import rel_error
from ._core import call, check, diagnose, expect_array, expect_number, fail, own_class, passed, rng_for
from ._twolayer import PARAM_KEYS, FormulaNet
from .softmax import _softmax
from .training import check_gradient_check, check_sgd_step  # noqa: F401  第 05 课的另两个练习

__all__ = ["check_two_layer_net_forward", "check_two_layer_net_gradient", "check_fixed_network",
           "check_gradient_check", "check_sgd_step"]

LAYER_OF = {"W1": "Affine1", "b1": "Affine1", "W2": "Affine2", "b2": "Affine2"}
ATTR_OF = {"W1": "dW", "b1": "db", "W2": "dW", "b2": "db"}


class _Spy:
    """替身层：把每次 forward/backward 记进 log，再交给真正的层；其余属性（W、dW、db …）都读写真正的层。"""

    # 评分时替身在评判进程里，学生的网络在内核里（course/boundary/）：内核只能调用这两个方法；
    # 其余属性（W、dW、db……）的读写直接转给被包着的、内核里的那个学生的层
    remote_methods = ("forward", "backward")
    remote_delegate = "_layer"

    def __init__(self, name, layer, log):
        self.__dict__.update(_name=name, _layer=layer, _log=log)

    def forward(self, *args, **kwargs):
        return self._run("forward", args, kwargs)

    def backward(self, *args, **kwargs):
        return self._run("backward", args, kwargs)

    def _run(self, kind, args, kwargs):
        self._log.append((self._name, kind))
        try:
            return getattr(self._layer, kind)(*args, **kwargs)
        except Exception:
            self._log.append((self._name, "error"))  # 异常发生在层里：多半是传给它的东西不对
            raise

    def __getattr__(self, attr):
        return getattr(self.__dict__["_layer"], attr)

    def __setattr__(self, attr, value):
        setattr(self._layer, attr, value)


def _setup(cls, name, seed, sizes, batch, one_hot):
    """建一个学生的网络和一个参考网络，参数相同（按 seed 生成）；返回 (net, ref, x, t, rng)。"""
    __tracebackhide__ = True
    if cls is not None and not isinstance(cls, type):
        fail("检查函数要的是类 %s 本身，你传入的是一个 %s 对象。如果写成了 %s(...)，去掉后面的括号和参数。"
             % (name, type(cls).__name__, name), show=False)
    own_class(cls, name)  # None 时提示先运行定义它的单元
    D, H, C = sizes
    net = call(cls, D, H, C, 0.01, what="%s(%d, %d, %d, 0.01)" % (name, D, H, C))
    params = getattr(net, "params", None)
    ref = FormulaNet(D, H, C, seed=0)
    if not isinstance(params, Mapping) or any(np.shape(params.get(k)) != ref.params[k].shape for k in PARAM_KEYS):
        fail("%s 的实例应有 params 字典，键为 W1, b1, W2, b2，形状依次为 (%d, %d)、(%d,)、(%d, %d)、(%d,)。"
             % (name, D, H, H, H, C, C), show=False,
             hint="__init__ 是给定的代码，不要改动它；重新运行定义这个类的单元试试。")
    layers = getattr(net, "layers", None)
    if not isinstance(layers, Mapping) or list(layers) != ["Affine1", "Relu1", "Affine2"] \
            or getattr(net, "lastLayer", None) is None:
        fail("%s 的实例应有 layers（依次为 Affine1、Relu1、Affine2 的 OrderedDict）和 lastLayer。" % name,
             show=False, hint="__init__ 是给定的代码，不要改动它。")
    rng = rng_for(seed)
    for key in PARAM_KEYS:
        scale = 1.0 / np.sqrt(ref.params[key].shape[0]) if key.startswith("W") else 0.5
        value = scale * rng.standard_normal(ref.params[key].shape)
        ref.params[key][...] = value
        net.params[key][...] = value  # 原地写入，层里引用的是同一个数组
    x = rng.standard_normal((batch, D))
    labels = rng.integers(0, C, batch)
    t = np.eye(C)[labels] if one_hot else labels
    return net, ref, x, t, rng


def _install_spies(net):
    log = []
    for name in list(net.layers):
        net.layers[name] = _Spy(name, net.layers[name], log)
    net.lastLayer = _Spy("lastLayer", net.lastLayer, log)
    return log


def _flow_hint(log):
    """从调用记录看出 gradient() 的结构性错误；看不出就返回 None。"""
    forward = [n for n, kind in log if kind == "forward"]
    backward = [n for n, kind in log if kind == "backward"]
    if not forward:
        return ("gradient() 里没有做正向传播，各层保存的还是上一次调用时的 x 和 mask。"
                "开头先调用 self.loss(x, t)。")
    if "lastLayer" not in forward:
        return ("gradient() 没有经过 self.lastLayer.forward，lastLayer 里的 y 和 t 还是上一次的。"
                "用 self.loss(x, t) 而不只是 self.predict(x) 做正向传播。")
    if "lastLayer" not in backward:
        return ("没有调用 self.lastLayer.backward(1)：反向传播要从最后的 Softmax-with-Loss 层开始，"
                "它给出的 dout 才是 Affine2 该收到的上游梯度。")
    order = [n for n in backward if n != "lastLayer"]
    if order[:1] == ["Affine1"] or order[:2] == ["Relu1", "Affine1"]:
        return ("各层的 backward 被按正向的顺序调用了（%s）。反向传播要倒过来："
                "Affine2 → Relu1 → Affine1，可以用 reversed(list(self.layers.values()))。" % " → ".join(order))
    if "Relu1" not in order:
        return "反向传播跳过了 Relu1：dout 从 Affine2 出来后要先经过 Relu1.backward，再进入 Affine1。"
    return None


@check
def check_two_layer_net_forward(cls, *, seed=0, report=True, sizes=(5, 4, 3), batch=6, one_hot=True):
    """predict(x) 给出 Affine1 → Relu1 → Affine2 的得分 (N, C)；loss(x, t) 给出批平均的交叉熵误差。"""
    net, ref, x, t, _ = _setup(cls, "TwoLayerNet", seed, sizes, batch, one_hot)
    N, C = batch, sizes[2]
    scores = expect_array(call(net.predict, x, what="predict(x)"), (N, C), "predict(x) 的结果",
                          hint="predict 要让 x 依次经过 self.layers 里的 Affine1、Relu1、Affine2，结果是 (N, C) 的得分。")
    expected = ref.predict(x)
    if not np.allclose(scores, expected, rtol=1e-6, atol=1e-9):
        hidden = np.maximum(x @ ref.params["W1"] + ref.params["b1"], 0)
        no_relu = (x @ ref.params["W1"] + ref.params["b1"]) @ ref.params["W2"] + ref.params["b2"]
        hint = diagnose(scores, [
            (_softmax(expected), "predict 只需要给出 Affine2 的输出（得分），softmax 由 lastLayer 在 loss 里完成。"),
            (no_relu, "predict 漏掉了 Relu1：用 for layer in self.layers.values() 走完全部三层。"),
            (hidden @ ref.params["W2"], "少加了 b2：不要自己写矩阵乘法，调用各层的 forward。"),
        ], "用 for layer in self.layers.values(): x = layer.forward(x) 依次经过每一层。")
        fail("predict(x) 的结果不对。", expected, scores, hint, {"x": x})
    log = _install_spies(net)
    how = "loss 应先算 y = self.predict(x)，再返回 self.lastLayer.forward(y, t)。"
    try:
        loss = expect_number(call(net.loss, x, t, what="loss(x, t)"), "loss(x, t) 的结果")
    except AssertionError as exc:
        if ("Affine2", "forward") not in log and ("lastLayer", "error") in log:
            fail("loss(x, t) 出错了：x 没有经过网络的各层就交给了 lastLayer。", show=False, hint=how)
        raise exc from None
    expected_loss = ref.loss(x, t)
    if not np.isclose(loss, expected_loss, rtol=1e-6, atol=1e-9):
        hint = diagnose(loss, [
            (expected_loss * N, "loss 是整个批的总和而不是平均值：直接返回 self.lastLayer.forward(y, t) 即可。"),
        ], how)
        fail("loss(x, t) 的结果不对。", expected_loss, loss, hint, {"x": x, "t": t})
    if report:
        passed("TwoLayerNet 的 predict 和 loss")


def _check_gradient(cls, name, seed, sizes, batch, one_hot):
    __tracebackhide__ = True
    net, ref, x, t, rng = _setup(cls, name, seed, sizes, batch, one_hot)
    log = _install_spies(net)
    # 先在另一批数据上做一次正向传播：gradient() 若不重新做正向，就会用到这批旧数据
    x_old = rng.standard_normal((batch + 2, sizes[0]))
    t_old = np.eye(sizes[2])[rng.integers(0, sizes[2], batch + 2)] if one_hot else rng.integers(0, sizes[2], batch + 2)
    out = x_old
    for layer in net.layers.values():
        out = layer.forward(out)
    net.lastLayer.forward(out, t_old)
    del log[:]
    try:
        grads = call(net.gradient, x, t, what="%s.gradient(x, t)" % name)
    except AssertionError as exc:
        # 异常发生在某一层里时，多半是调用顺序错了；发生在学生自己的代码里就照原样报告
        hint = _flow_hint(log) if log and log[-1][1] == "error" else None
        if hint:
            fail(str(exc).split("\n")[0], show=False, hint=hint)
        raise exc from None
    if grads is None:
        fail("gradient(x, t) 返回了 None：是不是忘了写 return grads？", show=False)
    if not isinstance(grads, Mapping):
        fail("gradient(x, t) 应返回字典 {'W1': ..., 'b1': ..., 'W2': ..., 'b2': ...}，你返回的是 %s。"
             % type(grads).__name__, show=False)
    missing = [k for k in PARAM_KEYS if k not in grads]
    if missing:
        fail("gradient(x, t) 返回的字典缺少键 %s（你的键是 %s）。" % (", ".join(missing), ", ".join(map(str, grads))),
             show=False, hint="grads 的键要和 params 的键一一对应：W1, b1, W2, b2。")
    expected = ref.grads(x, t)
    for key in PARAM_KEYS:
        shape = ref.params[key].shape
        got_shape = np.shape(grads[key])
        others = [k for k in PARAM_KEYS if k != key and ref.params[k].shape == got_shape]
        if got_shape != shape and others:
            hint = "grads['%s'] 的形状和 %s 一样：是不是读成了 %s 的 %s？%s 的梯度在 self.layers['%s'].%s。" % (
                key, others[0], LAYER_OF[others[0]], ATTR_OF[others[0]], key, LAYER_OF[key], ATTR_OF[key])
        elif got_shape == shape[::-1]:
            hint = "grads['%s'] 被转置了：dW 本身就和 W 同形状，直接用 self.layers['%s'].dW。" % (key, LAYER_OF[key])
        else:
            hint = "%s 的梯度在 self.layers['%s'].%s，形状和 params['%s'] 相同。" % (key, LAYER_OF[key], ATTR_OF[key], key)
        expect_array(grads[key], shape, "grads['%s']" % key, hint=hint)
    skip_relu = ref.grads_skipping_relu(x, t)
    for key in PARAM_KEYS:
        got = np.asarray(grads[key], dtype=np.float64)
        if np.allclose(got, expected[key], rtol=1e-6, atol=1e-9):
            continue
        candidates = [(expected[k], "grads['%s'] 的值其实是 %s 的梯度：它应来自 self.layers['%s'].%s。"
                       % (key, k, LAYER_OF[key], ATTR_OF[key])) for k in PARAM_KEYS if k != key]
        candidates += [
            (expected[key] / batch, "grads['%s'] 小了 N = %d 倍：Softmax-with-Loss 的 backward 已经除过批大小，"
                                    "不要再除一次。" % (key, batch)),
            (expected[key] * batch, "grads['%s'] 大了 N = %d 倍：不要再乘批大小。" % (key, batch)),
            (skip_relu[key], "反向传播跳过了 Relu1：dout 从 Affine2 出来后要先经过 Relu1.backward，再进入 Affine1。"),
        ]
        hint = diagnose(got, candidates) or _flow_hint(log) or "写出每一层的 backward，检查 dout 是怎样一层层传回来的。"
        num = expected[key]
        fail("grads['%s'] 与数值微分得到的梯度不一致（相对误差 %.2g；网络 %d-%d-%d，x 的形状 %s）。"
             % ((key, rel_error(got, num)) + tuple(sizes) + (fmt_shape(x.shape),)), expected[key], got, hint)


@check
def check_two_layer_net_gradient(cls, *, seed=0, report=True, sizes=(5, 4, 3), batch=6, one_hot=True):
    """gradient(x, t) 返回的四个梯度与数值微分一致，并且先做了正向传播、按逆序经过各层。"""
    _check_gradient(cls, "TwoLayerNet", seed, sizes, batch, one_hot)
    if report:
        passed("TwoLayerNet.gradient 与数值梯度一致")


@check
def check_fixed_network(cls, *, seed=0, report=True, sizes=(5, 4, 3), batch=6, one_hot=True):
    """修好的网络：gradient(x, t) 与数值梯度一致。"""
    _check_gradient(cls, "FixedTwoLayerNet", seed, sizes, batch, one_hot)
    if report:
        passed("FixedTwoLayerNet 通过了梯度确认")

