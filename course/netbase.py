"""第 05 课找错练习的网络从这里继承：TwoLayerNetBase 有参考网络的 __init__、predict、loss、accuracy 和
numerical_gradient，却没有 gradient（误差反向传播法，练习 1 的答案）。

course.net.TwoLayerNet 就是它加上 gradient。评分时第 05 课的内核只能导入本模块，导入不了 course.net
（course/grading/answers.py）：学生的 TwoLayerNet 和 FixedTwoLayerNet 的 gradient 都只能自己写。
"""
from collections import OrderedDict

import numpy as np

from .gradcheck import numerical_gradient as _numerical_gradient
from .layers import Affine, Relu, SoftmaxWithLoss

__all__ = ["TwoLayerNetBase", "PARAM_KEYS"]

PARAM_KEYS = ("W1", "b1", "W2", "b2")


class TwoLayerNetBase:
    """两层神经网络，只是没有 gradient（误差反向传播法）。params 里的数组就是各层持有的那几个数组，
    原地更新 params 即更新了层。

    input_size D, hidden_size H, output_size C
    params: W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)
    seed: 初始化权重用的整数种子（也可以是一个 numpy Generator）；None 时每次不同。
          与学生在第 05 课写的 TwoLayerNet 用同一个参数名
    """

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
        raise NotImplementedError("TwoLayerNetBase 没有 gradient：在子类里实现误差反向传播法")
