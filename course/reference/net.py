"""第 05 课的参考网络 TwoLayerNet（Affine1 → Relu1 → Affine2 → Softmax-with-Loss）和 mini-batch SGD 训练。

检查函数用它算“正确答案”，基准测试（python -m course.bench.backprop）用它计时和训练。
学生的练习要在 notebook 里自己写，检查函数会确认被检查的类定义在 notebook 中。
形状约定：x: (N, D)，t: (N, C) 的 one-hot 或 (N,) 的标签下标。
"""
import time
from collections import OrderedDict

import numpy as np

from ..gradcheck import numerical_gradient as _numerical_gradient
from .layers import Affine, Relu, SoftmaxWithLoss

__all__ = ["TwoLayerNet", "PARAM_KEYS", "sgd_step", "train"]

PARAM_KEYS = ("W1", "b1", "W2", "b2")


class TwoLayerNet:
    """两层神经网络。params 里的数组就是各层持有的那几个数组，原地更新 params 即更新了层。

    input_size D, hidden_size H, output_size C
    params: W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)
    seed: 初始化权重用的整数种子（也可以是一个 numpy Generator）；None 时每次不同。
          与学生在第 05 课写的 TwoLayerNet 用同一个参数名
    """

    # 评分时测试把网络交给学生的 gradient_check（它在内核里）：只能调用这几个方法、按值读 params（course/boundary/）
    remote_methods = ("numerical_gradient", "gradient", "loss", "predict", "accuracy")
    remote_attrs = ("params",)

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, seed=None):
        sizes = {"input_size": input_size, "hidden_size": hidden_size, "output_size": output_size}
        for name, v in sizes.items():
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError("%s 应当是正整数，收到的是 %r" % (name, v))
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.params = {
            "W1": weight_init_std * rng.standard_normal((input_size, hidden_size)),
            "b1": np.zeros(hidden_size),
            "W2": weight_init_std * rng.standard_normal((hidden_size, output_size)),
            "b2": np.zeros(output_size),
        }
        self.layers = OrderedDict()
        self.layers["Affine1"] = Affine(self.params["W1"], self.params["b1"])
        self.layers["Relu1"] = Relu()
        self.layers["Affine2"] = Affine(self.params["W2"], self.params["b2"])
        self.lastLayer = SoftmaxWithLoss()

    def predict(self, x):
        """x: (N, D) -> 得分 (N, C)，不经过 softmax。"""
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        return self.lastLayer.forward(self.predict(x), t)

    def accuracy(self, x, t):
        y = np.argmax(self.predict(x), axis=1)
        if t.ndim != 1:
            t = np.argmax(t, axis=1)
        return float(np.mean(y == t))

    def numerical_gradient(self, x, t):
        """数值微分求每个参数的梯度：慢，只用来做梯度确认。"""
        loss_w = lambda _: self.loss(x, t)  # noqa: E731  参数被原地扰动，loss 直接读层里的数组
        return {key: _numerical_gradient(loss_w, self.params[key]) for key in PARAM_KEYS}

    def gradient(self, x, t):
        """误差反向传播法求梯度：一次正向、一次反向。"""
        self.loss(x, t)  # 正向传播，各层记下反向要用的值
        dout = self.lastLayer.backward(1)
        for layer in reversed(self.layers.values()):
            dout = layer.backward(dout)
        return {
            "W1": self.layers["Affine1"].dW, "b1": self.layers["Affine1"].db,
            "W2": self.layers["Affine2"].dW, "b2": self.layers["Affine2"].db,
        }


def sgd_step(params, grads, lr):
    """原地更新：params[key] -= lr * grads[key]。"""
    for key in params:
        params[key] -= lr * grads[key]


def train(network, x_train, t_train, x_test, t_test, *, epochs, batch_size, lr, lr_decay=1.0, seed=None, log=None):
    """mini-batch SGD：每一轮（epoch）把训练集打乱后按批走一遍。

    第 k 轮（从 1 数起）的学习率是 lr * lr_decay ** (k - 1)；lr_decay=1 就是固定的学习率。
    返回 history 字典：每轮结束时的 train_acc、test_acc、train_loss、test_loss（各为 list），
    以及总用时 seconds。log(epoch, history) 在每轮结束时调用，可以用来打印进度。
    seed: 打乱训练数据用的整数种子（或 numpy Generator）
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    history = {"train_acc": [], "test_acc": [], "train_loss": [], "test_loss": []}
    n = len(x_train)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n)
        epoch_lr = lr * lr_decay ** (epoch - 1)
        for i in range(0, n, batch_size):
            batch = order[i:i + batch_size]
            grads = network.gradient(x_train[batch], t_train[batch])
            sgd_step(network.params, grads, epoch_lr)
        history["train_acc"].append(network.accuracy(x_train, t_train))
        history["test_acc"].append(network.accuracy(x_test, t_test))
        history["train_loss"].append(float(network.loss(x_train, t_train)))
        history["test_loss"].append(float(network.loss(x_test, t_test)))
        if log is not None:
            log(epoch, history)
    history["seconds"] = time.perf_counter() - start
    return history
