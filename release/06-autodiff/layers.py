"""第 02–04 课各层的参考实现（书里的接口），以及第 06 课对照用的 mlp_hinge_reference。

第 05、06 课给出的代码要用前几课的层，这个文件随那两课一起发下（作业文件夹里的 layers.py）；
在课程包里它是 course.reference.layers，评分进程里的隐藏测试和基准测试用它。
形状约定：x: (N, D)  W: (D, M)  b: (M,)  out: (N, M)
只依赖 numpy：单独放在作业文件夹里也能导入。
"""
import numpy as np

__all__ = [
    "MulLayer", "AddLayer", "Relu", "Sigmoid", "Affine",
    "softmax", "cross_entropy_error", "SoftmaxWithLoss", "mlp_hinge_reference",
]


class MulLayer:
    remote_methods = ("forward", "backward")  # 评分时测试把这个类交给学生的函数：内核只能建对象、调用这两个方法

    def forward(self, x, y):
        self.x, self.y = x, y  # 反向传播要用到正向的输入
        return x * y

    def backward(self, dout):
        return dout * self.y, dout * self.x  # 翻转值


class AddLayer:
    remote_methods = ("forward", "backward")  # 评分时测试把这个类交给学生的函数：内核只能建对象、调用这两个方法

    def forward(self, x, y):
        return x + y

    def backward(self, dout):
        return dout * 1, dout * 1  # 原样传给两个输入


class Relu:
    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dx = dout.copy()  # 不能改动调用者的 dout
        dx[self.mask] = 0
        return dx


class Sigmoid:
    def forward(self, x):
        self.out = 1 / (1 + np.exp(-x))
        return self.out

    def backward(self, dout):
        return dout * self.out * (1.0 - self.out)


class Affine:
    """out = x·W + b。x 可以是 (N, d1, d2, ...)，计算时展平成 (N, D)。"""

    def __init__(self, W, b):
        self.W, self.b = W, b
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def forward(self, x):
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return self.x @ self.W + self.b

    def backward(self, dout):
        dx = dout @ self.W.T  # (N, M)·(M, D) -> (N, D)
        self.dW = self.x.T @ dout  # (D, N)·(N, M) -> (D, M)
        self.db = np.sum(dout, axis=0)  # 偏置对批里每个样本都起作用，所以要求和
        return dx.reshape(self.original_x_shape)


def softmax(x):
    """按最后一个轴做 softmax；先减去最大值，大输入也不会溢出。"""
    x = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(x)
    return e / np.sum(e, axis=-1, keepdims=True)


def cross_entropy_error(y, t):
    """批平均的交叉熵误差。y: (N, C) 或 (C,)；t: 同形状的 one-hot，或 (N,) / 标量的标签下标。"""
    y = y.reshape(1, -1) if y.ndim == 1 else y
    t = np.asarray(t)
    t = t.reshape(y.shape).argmax(axis=1) if t.size == y.size else t.reshape(-1)
    n = y.shape[0]
    return -np.sum(np.log(y[np.arange(n), t] + 1e-7)) / n


class SoftmaxWithLoss:
    def __init__(self):
        self.loss = None
        self.y = None
        self.t = None

    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        self.loss = cross_entropy_error(self.y, t)
        return self.loss

    def backward(self, dout=1):
        n = self.y.shape[0] if self.y.ndim == 2 else 1
        if self.t.size == self.y.size:
            dx = (self.y - self.t) / n
        else:
            dx = self.y.copy()
            dx[np.arange(n), self.t] -= 1
            dx = dx / n
        return dx * dout


def mlp_hinge_reference(weights, X, y):
    """第 06 课的小网络用本模块的 Affine、Relu 算一遍（隐藏层加 ReLU，最后一层不加，平均合页损失）。

    返回 (平均合页损失, [(dW, db), ...], 每个样本的 1 - y·s)。
    """
    layers = []
    for k, (W, b) in enumerate(weights):
        layers.append(Affine(W.copy(), b.copy()))
        if k < len(weights) - 1:
            layers.append(Relu())
    out = np.asarray(X, dtype=np.float64)
    for layer in layers:
        out = layer.forward(out)
    s = out[:, 0]
    margin = 1.0 - y * s
    n = len(y)
    loss = float(np.sum(np.maximum(margin, 0.0)) / n)
    dout = (-(y * (margin > 0)) / n).reshape(-1, 1)  # relu(1 - y·s) 对 s 的导数，再除以 N
    for layer in reversed(layers):
        dout = layer.backward(dout)
    grads = [(layer.dW, layer.db) for layer in layers if isinstance(layer, Affine)]
    return loss, grads, margin
