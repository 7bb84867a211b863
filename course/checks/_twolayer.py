"""第 05 课的检查自己用的两层网络：正向只用 numpy 公式，梯度全部来自数值微分，不含反向传播。

Affine1 → ReLU → Affine2 → Softmax-with-Loss，参数 W1 (D, H)、b1 (H,)、W2 (H, C)、b2 (C,)。
学生版的课程包里没有参考网络（course/reference/ 不装），公开的检查就拿这里的值当期望值：
- loss(x, t)：和书里的层一样，交叉熵里带 δ = 1e-7，用来和学生的 loss 比较；
- grads(x, t)：对不带 δ 的交叉熵（log-softmax 写法）做数值微分，ReLU 的开关按当前输入固定下来，
  所以求的是一个光滑函数的导数，中心差分的误差在 1e-10 量级，不会因为 δ 或跨过 ReLU 的拐点而偏离；
- grads_skipping_relu(x, t)：反向传播时漏掉 Relu1 会得到的值（学生的一种常见错误），同样由数值微分得到：
  把隐藏层在当前点换成一条斜率为 1 的直线（值不变），对它求导。
"""
import numpy as np

from ..gradcheck import numerical_gradient
from .softmax import _cee, _labels, _softmax

PARAM_KEYS = ("W1", "b1", "W2", "b2")


class FormulaNet:
    """参数形状与 TwoLayerNet 相同；seed 是整数或 numpy Generator。"""

    # 评分时测试把网络交给学生的 gradient_check（它在内核里）：只能调用这几个方法、按值读 params（course/boundary/）
    remote_methods = ("numerical_gradient", "gradient", "loss", "predict", "accuracy")
    remote_attrs = ("params",)

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, seed=None):
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.params = {
            "W1": weight_init_std * rng.standard_normal((input_size, hidden_size)),
            "b1": np.zeros(hidden_size),
            "W2": weight_init_std * rng.standard_normal((hidden_size, output_size)),
            "b2": np.zeros(output_size),
        }

    # ---- 正向：公式 ------------------------------------------------------------------------
    def hidden_input(self, x):
        return x @ self.params["W1"] + self.params["b1"]

    def predict(self, x, hidden=None):
        """得分 (N, C)；hidden(h) 替换隐藏层的激活（默认 ReLU）。"""
        h = self.hidden_input(x)
        return (np.maximum(h, 0.0) if hidden is None else hidden(h)) @ self.params["W2"] + self.params["b2"]

    def loss(self, x, t):
        """批平均的交叉熵误差，log 里带 δ，与书里的 SoftmaxWithLoss 一致。"""
        return _cee(_softmax(self.predict(x)), t)

    def accuracy(self, x, t):
        s = self.predict(x)
        return float(np.mean(np.argmax(s, axis=1) == _labels(s, t)))

    def _exact_loss(self, x, t, hidden):
        """不带 δ 的交叉熵：-mean(log_softmax(s)[标签])。"""
        s = self.predict(x, hidden)
        s = s - s.max(axis=1, keepdims=True)
        log_y = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
        return float(-np.mean(log_y[np.arange(len(s)), _labels(s, t)]))

    # ---- 梯度：数值微分 --------------------------------------------------------------------
    def _grads(self, x, t, hidden):
        loss = lambda _: self._exact_loss(x, t, hidden)  # noqa: E731  参数被原地扰动，直接读 self.params
        return {key: numerical_gradient(loss, self.params[key]) for key in PARAM_KEYS}

    def grads(self, x, t):
        """数学上的梯度：ReLU 的开关按当前的隐藏层输入固定（在这一点附近损失与原来的相同）。"""
        mask = self.hidden_input(x) > 0
        return self._grads(x, t, lambda h: h * mask)

    def grads_skipping_relu(self, x, t):
        """反向时跳过 Relu1 得到的值：隐藏层换成 h + (relu(h0) - h0)，值不变，斜率处处为 1。"""
        h0 = self.hidden_input(x)
        shift = np.maximum(h0, 0.0) - h0
        return self._grads(x, t, lambda h: h + shift)

    def numerical_gradient(self, x, t):
        """和书里 TwoLayerNet.numerical_gradient 一样：对带 δ 的 loss 做中心差分（练习“梯度确认”用）。"""
        loss = lambda _: self.loss(x, t)  # noqa: E731
        return {key: numerical_gradient(loss, self.params[key]) for key in PARAM_KEYS}

    def gradient(self, x, t):
        """梯度确认练习里“反向传播”一侧的值：这里用 grads（数学上的梯度）代替。"""
        return self.grads(x, t)
