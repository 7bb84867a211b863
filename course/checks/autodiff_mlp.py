"""第 06 课《自动微分》的检查函数（四）：用学生的 Value 搭一个小网络（MLP）并训练它。

练习 7：Neuron 的 __call__ 和 parameters()                         check_neuron_class
练习 8：Layer、MLP 的 __call__ 和 parameters()                     check_layer_mlp
练习 9：平均合页损失 hinge_loss，对照 numpy 算出的损失和数值微分   check_hinge_loss
        训练的一步 train_step（先清零，再 backward，再更新）        check_train_step
        （第 05 课的 sgd_step(params, grads, lr) 只做更新；这里的一步还要清零、反向传播，所以换了个名字）

每一项只查自己那一部分：查 Layer、MLP 时，把里面的神经元、层换成检查自带的参考实现
（用的仍是学生的 Value），所以 Neuron 写错了不会连带 Layer、MLP 也不得分；查 hinge_loss 时，
交给它的网络也是参考实现。Value 本身（练习 1–3）是所有部分共同的地基。
"""
import math

import numpy as np

from ..boundary import getattrs
from ..gradcheck import numerical_gradient
from ._core import check, diagnose, expect_close, fail, own_class, passed, rng_for, same_shape
from .autodiff import call, expect_node, grads_of, value_class

__all__ = ["check_neuron_class", "check_layer_mlp", "check_hinge_loss", "check_train_step",
           "RefNeuron", "RefLayer", "RefMLP", "hinge_reference"]

ENGINE = "先让练习 1–3（Value 的运算和 backward）的测试通过。"


# ---- 参考实现：用学生的 Value 搭，结构与练习的约定相同 ------------------------------
# 评分时这些参考对象交给学生的代码（它在内核里）：内核只能调用它们、调用 parameters()、
# 读 remote_attrs 里的属性（course/boundary/）
class RefNeuron:
    remote_methods = ("__call__", "parameters")
    remote_attrs = ("w", "b")

    def __init__(self, Value, w, b, linear):
        self.w, self.b, self.linear = [Value(float(v)) for v in w], Value(float(b)), linear

    def __call__(self, x):
        x = list(x)
        if len(x) != len(self.w):
            fail("有一个神经元收到了 %d 个输入，它应当收到 %d 个。" % (len(x), len(self.w)), show=False,
                 hint="MLP 里每一层的输入是上一层的输出：for layer in self.layers: x = layer(x)，"
                      "不要每一层都用最初的 x。")
        z = self.b
        for wi, xi in zip(self.w, x):
            z = z + wi * xi
        if self.linear:
            return z
        return z * (1.0 if z.data > 0 else 0.0)  # ReLU 只用乘法写：参考网络只依赖练习 1 的 + 和 *

    def parameters(self):
        return self.w + [self.b]


class RefLayer:
    remote_methods = ("__call__", "parameters")
    remote_attrs = ("neurons",)

    def __init__(self, neurons):
        self.neurons = neurons

    def __call__(self, x):
        x = list(x)
        return [n(x) for n in self.neurons]

    def parameters(self):
        return [p for n in self.neurons for p in n.parameters()]


class RefMLP:
    """weights: [(W, b), ...]，W: (n_in, n_out)，b: (n_out,)，与 Affine 层的约定相同。最后一层是线性的。"""

    remote_methods = ("__call__", "parameters")
    remote_attrs = ("layers",)

    def __init__(self, Value, weights):
        self.layers = [RefLayer([RefNeuron(Value, W[:, j], b[j], linear=k == len(weights) - 1)
                                 for j in range(W.shape[1])]) for k, (W, b) in enumerate(weights)]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]


def _hinge_forward(weights, X, y):
    """numpy 算一遍：隐藏层 ReLU，最后一层线性；返回 (平均合页损失, 每个样本的 1 - y·s)。"""
    out = np.asarray(X, dtype=np.float64)
    for k, (W, b) in enumerate(weights):
        out = out @ W + b
        if k < len(weights) - 1:
            out = np.maximum(out, 0.0)
    margin = 1.0 - y * out[:, 0]
    return float(np.mean(np.maximum(margin, 0.0))), margin


def hinge_reference(weights, X, y):
    """返回 (平均合页损失, [(dW, db), ...], 每个样本的 1 - y·s)。梯度由数值微分得到，不靠反向传播。

    损失在各参数上是分段线性的；数据离合页和 ReLU 的拐点都不太近时，中心差分就是精确的梯度（到舍入误差）。
    """
    flat = np.concatenate([np.r_[W.ravel(), b] for W, b in weights])

    def unpack(v):
        out, i = [], 0
        for W, b in weights:
            out.append((v[i:i + W.size].reshape(W.shape), v[i + W.size:i + W.size + b.size]))
            i += W.size + b.size
        return out
    loss, margin = _hinge_forward(weights, X, y)
    grads = unpack(numerical_gradient(lambda v: _hinge_forward(unpack(v), X, y)[0], flat))
    return loss, grads, margin


def _near_kinks(weights, X, margin, gap=1e-3):
    """有样本的 1 - y·s 或隐藏层的输入离 0 不到 gap：数值微分会跨过拐点。"""
    out = np.asarray(X, dtype=np.float64)
    near = np.min(np.abs(margin)) < gap
    for W, b in weights[:-1]:
        out = out @ W + b
        near = near or np.min(np.abs(out)) < gap
        out = np.maximum(out, 0.0)
    return bool(near)


def random_weights(rng, sizes):
    return [(rng.normal(0, 1 / math.sqrt(a), (a, b)), rng.normal(0, 0.3, b)) for a, b in zip(sizes[:-1], sizes[1:])]


def _same_objects(got, want, what):
    """parameters() 应当恰好包含 want 里的每个参数对象一次（顺序不限）。"""
    __tracebackhide__ = True
    if got is None:
        fail("%s 是 None：是不是忘了写 return？" % what, show=False)
    try:
        got = list(got)
    except TypeError:
        fail("%s 应当返回参数组成的 list，你返回的是 %s。" % (what, type(got).__name__), show=False)
    if any(isinstance(p, (list, tuple)) for p in got):
        fail("%s 里套着 list：应当是一个平的 list，每个元素都是一个参数（Value）。" % what, show=False,
             hint="把各部分的参数接起来：[p for n in self.neurons for p in n.parameters()]，不要写成 list 套 list。")
    ids, want_ids = [id(p) for p in got], {id(p) for p in want}
    if len(set(ids)) < len(ids):
        fail("%s 里有参数出现了不止一次：梯度下降时它会被更新两遍。" % what, show=False)
    missing = [p for p in want if id(p) not in set(ids)]
    strangers = [p for p in got if id(p) not in want_ids]
    if strangers:
        fail("%s 里有 %d 个对象不是这个模型自己的参数。" % (what, len(strangers)), show=False,
             hint="直接返回已有的 Value（如 self.w、self.b），不要新建 Value：新建的节点不在计算图里，更新它没有用。")
    if missing:
        fail("%s 应当有 %d 个参数，你的少了 %d 个。" % (what, len(want), len(missing)), show=False,
             hint="偏置 b 也是参数，也要学习：Neuron 返回 self.w + [self.b]。" if len(missing) == 1 and
             "Neuron" in what else "把每个部件的 parameters() 都接起来，一个也不能漏。")
    return got


def _value_out(out, Value, what, single=True):
    """一个神经元、一个 MLP 的输出：应是一个 Value（MLP 也可以是只装着一个 Value 的 list）。"""
    __tracebackhide__ = True
    if single and isinstance(out, (list, tuple)):
        fail("%s 应当返回一个 Value，你返回的是 %s。" % (what, type(out).__name__), show=False)
    return expect_node(out, Value, what)


def _outputs(out, Value, n, what):
    """一层（或一个 MLP）的输出：n 个 Value 组成的 list；n 为 1 时也接受单独一个 Value（micrograd 的写法）。"""
    __tracebackhide__ = True
    if isinstance(out, Value) and n == 1:
        return [out]
    if out is None:
        fail("%s 是 None：是不是忘了写 return？" % what, show=False)
    if not isinstance(out, (list, tuple)):
        fail("%s 应当返回 %d 个 Value 组成的 list，你返回的是 %s。" % (what, n, type(out).__name__), show=False)
    if len(out) != n:
        fail("%s 应当返回 %d 个输出（每个神经元一个），你返回了 %d 个。" % (what, n, len(out)), show=False)
    for v in out:
        expect_node(v, Value, "%s 里的每个输出" % what)
    return list(out)


def _datas(values, what):
    """各节点的 data 组成的数组；有不是数的就直接报错。"""
    __tracebackhide__ = True
    out = []
    for d in getattrs(values, "data", None):  # 评分时节点在学生的内核里：一条消息读完
        if isinstance(d, bool) or not isinstance(d, (int, float)):
            fail("%s 里有节点的 data 不是数，而是 %s。" % (what, type(d).__name__), show=False)
        out.append(float(d))
    return np.array(out)


def _new(cls, name, *args, **kwargs):
    __tracebackhide__ = True
    return call(cls, *args, what="%s(%s)" % (name, ", ".join(
        [repr(a) for a in args] + ["%s=%r" % kv for kv in kwargs.items() if kv[0] != "rng"])), **kwargs)


# ---- 练习 7：Neuron ----------------------------------------------------------------
@check
def check_neuron_class(Neuron, Value, *, seed=0, report=True, n_inputs=(2, 3)):
    """Neuron(n_in, linear) 的 __call__：relu(w·x + b) 或 w·x + b；梯度对；parameters() 恰好是 w 和 b。"""
    Value = value_class(Value)
    own_class(Neuron, "Neuron")
    rng = rng_for(seed)
    for n in n_inputs:
        for linear in (False, True):
            neuron = _new(Neuron, "Neuron", n, linear=linear, rng=np.random.default_rng(seed))
            if not (isinstance(getattr(neuron, "w", None), list) and isinstance(getattr(neuron, "b", None), Value)):
                fail("Neuron 的 self.w 应当是 Value 的 list，self.b 是一个 Value：不要改动给定的 __init__。", show=False)
            for k in range(2):  # 第一组加权和为正，第二组为负（ReLU 截断）
                x = rng.uniform(0.5, 1.5, n) * rng.choice([-1, 1], n)
                w = rng.uniform(0.3, 1.0, n) * np.sign(x) * (1 if k == 0 else -1)
                b = float(rng.uniform(-0.2, 0.2))
                for v, val in zip(neuron.w, w):
                    v.data, v.grad = float(val), 0.0
                neuron.b.data, neuron.b.grad = b, 0.0
                z = float(np.dot(w, x) + b)
                xs = [Value(float(v)) for v in x]
                what = "Neuron(%d, linear=%s)(x)" % (n, linear)
                out = _value_out(call(neuron, xs, what=what), Value, what)
                want = z if linear else max(z, 0.0)
                inputs = dict(x=x, w=w, b=b)
                expect_close(out.data, want, "%s.data" % what, inputs=inputs, hint=diagnose(out.data, [
                    (max(z, 0.0), "linear=True 的神经元（网络的最后一层）不加 ReLU，直接输出 w·x + b。"),
                    (z, "linear=False 的神经元要在最后套上 ReLU：(w·x + b).relu()。"),
                    (math.tanh(z), "这一课的网络用 ReLU 作激活函数，不是 tanh。"),
                    (max(z - b, 0.0) + b, "先加偏置 b，再过 ReLU：relu(w·x + b)，不是 relu(w·x) + b。"),
                    (z - b if linear else max(z - b, 0.0), "忘了加偏置 self.b。")], "Neuron = relu(Σ w_i·x_i + b)"))
                call(out.backward, what="%s.backward()" % what)
                gate = 1.0 if (linear or z > 0) else 0.0
                got = grads_of(neuron.w + [neuron.b] + xs, "权重、偏置或输入")
                want_grads = np.r_[gate * x, gate, gate * w]
                expect_close(got, want_grads, "(w, b, x) 的 grad", inputs=inputs, hint=diagnose(got, [(
                    np.zeros_like(want_grads), "梯度全是 0：要直接用 self.w、self.b 和 x 做 Value 的运算，"
                    "不要用 .data 取出数来另建 Value，否则新节点和参数之间没有边。")], "正向对了、梯度却不对：" + ENGINE))
            params = call(neuron.parameters, what="Neuron.parameters()")
            _same_objects(params, neuron.w + [neuron.b], "Neuron(%d).parameters()" % n)
    if report:
        passed("Neuron 的正向、梯度和 parameters()")


# ---- 练习 8：Layer、MLP ----------------------------------------------------------
@check
def check_layer_mlp(Layer, MLP, Value, *, seed=0, report=True, sizes=((2, 3), (3, 4, 4, 1))):
    """Layer、MLP 的 __call__ 和 parameters()。里面的神经元、层换成参考实现，只查这两个类自己的代码。"""
    Value = value_class(Value)
    own_class(Layer, "Layer")
    own_class(MLP, "MLP")
    rng = rng_for(seed)
    n_in, n_out = sizes[0]
    layer = _new(Layer, "Layer", n_in, n_out, rng=np.random.default_rng(seed))
    if not isinstance(getattr(layer, "neurons", None), list):
        fail("Layer 的 self.neurons 应当是神经元的 list：不要改动给定的 __init__。", show=False)
    W, b = random_weights(rng, [n_in, n_out])[0]
    layer.neurons = [RefNeuron(Value, W[:, j], b[j], linear=False) for j in range(n_out)]
    x = [float(v) for v in rng.uniform(-1, 1, n_in)]
    outs = _outputs(call(layer, x, what="Layer(%d, %d)(x)" % (n_in, n_out)), Value, n_out,
                    "Layer(%d, %d)(x)" % (n_in, n_out))
    want = [n(x).data for n in layer.neurons]
    expect_close(_datas(outs, "Layer 的输出"), np.array(want), "Layer(%d, %d)(x) 各输出的值" % (n_in, n_out), inputs=dict(x=x),
                 hint="第 j 个输出是第 j 个神经元的输出：[n(x) for n in self.neurons]。")
    want_params = [p for n in layer.neurons for p in n.parameters()]
    _same_objects(call(layer.parameters, what="Layer.parameters()"), want_params, "Layer.parameters()")

    net_sizes = list(sizes[1])
    model = _new(MLP, "MLP", net_sizes[0], net_sizes[1:], seed=seed)
    layers = getattr(model, "layers", None)
    if not isinstance(layers, list) or len(layers) != len(net_sizes) - 1:
        fail("MLP 的 self.layers 应当是 %d 个 Layer 组成的 list：不要改动给定的 __init__。" % (len(net_sizes) - 1),
             show=False)
    weights = random_weights(rng, net_sizes)
    ref = RefMLP(Value, weights)
    model.layers = ref.layers
    x = [float(v) for v in rng.uniform(-1, 1, net_sizes[0])]
    what = "MLP(%d, %s)(x)" % (net_sizes[0], net_sizes[1:])
    outs = _outputs(call(model, x, what=what), Value, net_sizes[-1], what)
    h = np.array(x)
    for k, (W, b) in enumerate(weights):
        h = h @ W + b
        if k < len(weights) - 1:
            h = np.maximum(h, 0)
    first = np.maximum(np.array(x) @ weights[0][0] + weights[0][1], 0)
    got = _datas(outs, "MLP 的输出")
    expect_close(got, h, "%s 的输出" % what, inputs=dict(x=x), hint=diagnose(got, [(first[:len(outs)], "只用了第一层：要把每一层的输出交给下一层，最后返回最后一层的输出。")],
        "for layer in self.layers: x = layer(x)，最后 return x。"))
    want_params = [p for layer in ref.layers for p in layer.parameters()]
    _same_objects(call(model.parameters, what="MLP.parameters()"), want_params, "MLP.parameters()")
    if report:
        passed("Layer、MLP 的正向和 parameters()")


# ---- 练习 9：合页损失与参考层对照、一步梯度下降 ---------------------------------------------
@check
def check_hinge_loss(hinge_loss, Value, *, seed=0, report=True, n=6, sizes=(2, 4, 3, 1)):
    """hinge_loss(model, X, y) 的值，以及 backward() 之后每个参数的 grad，与 numpy 的计算和数值微分一致。"""
    Value = value_class(Value)
    if isinstance(hinge_loss, type) or not callable(hinge_loss):
        fail("hinge_loss 应当是一个函数，你传入的是 %s。" % type(hinge_loss).__name__, show=False)
    own_class(hinge_loss, "hinge_loss")
    rng = rng_for(seed)
    for _ in range(20):  # 挑一组没有样本正好落在合页拐点上的数据
        weights = random_weights(rng, list(sizes))
        X = rng.uniform(-1.5, 1.5, (n, sizes[0]))
        y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
        loss_want, margin = _hinge_forward(weights, X, y)
        if not _near_kinks(weights, X, margin) and np.any(margin > 0):
            break
    model = RefMLP(Value, weights)
    loss = expect_node(call(hinge_loss, model, X, y, what="hinge_loss(model, X, y)"), Value, "hinge_loss 的返回值")
    s = margin  # 1 - y·s
    inputs = dict(N=n)
    expect_close(loss.data, loss_want, "hinge_loss(model, X, y).data（与 numpy 算出的对照）", inputs=inputs,
                 hint=diagnose(loss.data, [
                     (loss_want * n, "损失要对 N 个样本取平均：总和再乘 1.0 / N。"),
                     (float(np.mean(s)), "每个样本的损失是 relu(1 - y·s)：margin 为负（分对了且离得够远）时要截成 0。"),
                     (float(np.mean(np.maximum(2 - s, 0))), "合页损失是 relu(1 - y·s)，你用的像是 relu(1 + y·s)：符号反了。"),
                 ], "每个样本 relu(1 - y_i·s_i)，s_i = model(x_i)[0]，再取平均。"))
    params = model.parameters()
    if any(g != 0 for g in getattrs(params, "grad", 0)):  # 参数是新建的，grad 本该都还是 0
        fail("hinge_loss 返回之前，参数的 grad 就已经不是 0 了。", show=False,
             hint="hinge_loss 里已经调用过 backward() 了：函数只负责算出损失并返回，反向传播是调用者的事。")
    call(loss.backward, what="hinge_loss(...).backward()")
    got = grads_of(params, "参数")
    grads_want = hinge_reference(weights, X, y)[1]
    want = np.concatenate([np.r_[dW[:, j], db[j]] for dW, db in grads_want for j in range(dW.shape[1])])
    expect_close(got, want, "各参数的 grad（与数值微分对照）", inputs=inputs,
                 rtol=1e-6, atol=1e-9, hint="损失的值对了，梯度却不对：" + ENGINE)
    if report:
        passed("hinge_loss 的值和梯度与数值微分一致")


def _count_backward(loss):
    """记下 loss.backward() 被调用了几次（在这个对象上套一层）；套不上时返回空 list。"""
    calls, original = [], loss.backward

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)
    try:
        loss.backward = counted
    except (AttributeError, TypeError):
        pass
    return calls


@check
def check_train_step(train_step, Value, *, seed=0, report=True, n_params=5):
    """train_step(params, loss, lr)：先清零再 backward 再更新；上一步留下的 grad 不能混进来。"""
    Value = value_class(Value)
    if isinstance(train_step, type) or not callable(train_step):
        fail("train_step 应当是一个函数，你传入的是 %s。" % type(train_step).__name__, show=False)
    own_class(train_step, "train_step")
    rng = rng_for(seed)
    start = rng.uniform(-1, 1, n_params)
    params = [Value(float(v)) for v in start]
    target = rng.uniform(-1, 1, n_params)

    def build():
        # loss = Σ (p_i - t_i)² + p_0 · p_1：梯度 2(p - t)，再加上交叉项；只用 + 和 *
        loss = params[0] * params[1]
        for p, t in zip(params, target):
            d = p + (-float(t))
            loss = loss + d * d
        return loss

    def true_grad(v):
        g = 2 * (v - target)
        g[0] += v[1]
        g[1] += v[0]
        return g

    lr = float(rng.uniform(0.05, 0.2))
    current = start.copy()
    for step in (1, 2):  # 第二步时，参数身上还留着第一步的梯度
        stale = rng.uniform(1, 2, n_params) * rng.choice([-1, 1], n_params)
        if step == 1:
            for p, g in zip(params, stale):
                p.grad = float(g)  # 假装上一步留下的梯度
        else:
            stale = grads_of(params, "参数")
        loss = call(build, what="用你的 Value 搭损失")
        g = true_grad(current)
        calls = _count_backward(loss)
        call(train_step, params, loss, lr, what="train_step(params, loss, lr=%g)" % lr)
        got = _datas(params, "参数")
        want = current - lr * g
        # 形状对上了才比较；形状不对时由下面的 expect_close 说明形状
        if len(calls) > 1 and same_shape(got, want.shape) and not np.allclose(got, want):
            fail("train_step 调用了 %d 次 loss.backward()，参数的值不对。" % len(calls), want, got, inputs=dict(lr=lr),
                 hint="同一个损失反向传播了好几遍，梯度也被算了好几遍：train_step 里只调用一次 loss.backward()。")
        expect_close(got, want, "第 %d 次 train_step 之后参数的值" % step, inputs=dict(lr=lr), hint=diagnose(got, [
            (current - lr * (g + stale), "更新用的梯度里混进了上一步留下的 grad：先把每个参数的 p.grad 清零，"
                                        "再 loss.backward()。"),
            (current, "参数没有变：是不是清零放在了 backward() 之后，或者给 p 赋了一个新的 Value"
                      "（要改的是 p.data 本身）？"),
            (current + lr * g, "方向反了：梯度下降是 p.data -= lr * p.grad。"),
            (current - g, "忘了乘学习率 lr。"),
        ], "先清零每个参数的 grad，再 loss.backward()，然后 p.data -= lr * p.grad。"))
        current = want
    if report:
        passed("train_step：清零、反向传播、更新")
