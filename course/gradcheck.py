"""数值微分与梯度确认（gradient check）。

反向传播写得对不对，最可靠的裁判是数值微分：它慢，但几乎不会错。
这里的函数全部用 float64 计算，不改动调用者传入的数组（算完会原样恢复）。
"""
import numpy as np

__all__ = [
    "numerical_diff",
    "numerical_gradient",
    "rel_error",
    "eval_numerical_gradient_array",
    "check_backward",
]


def numerical_diff(f, x, h=1e-4):
    """标量函数 f 在标量 x 处的中心差分 (f(x+h) - f(x-h)) / 2h。"""
    x = float(x)
    return (f(x + h) - f(x - h)) / (2 * h)


def numerical_gradient(f, x, h=1e-5):
    """f(x) 关于数组 x 每个元素的偏导数，形状与 x 相同。

    f: 以 x 为输入、返回标量的函数（通常忽略参数，直接读取被原地修改的 x）
    x: 任意形状的浮点数组，会被临时修改，返回前恢复原值
    返回 grad: 与 x 同形状的 float64 数组
    """
    x = _as_float_array(x)
    grad = np.zeros(x.shape, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        idx = it.multi_index
        old = x[idx]
        x[idx] = old + h
        fxh1 = float(f(x))
        x[idx] = old - h
        fxh2 = float(f(x))
        x[idx] = old  # 一定要还原，否则后面的元素都在错误的位置求导
        grad[idx] = (fxh1 - fxh2) / (2 * h)
        it.iternext()
    return grad


def eval_numerical_gradient_array(f, x, dout, h=1e-5):
    """向量-雅可比积的数值版本：∂(sum(f(x) * dout)) / ∂x。

    f 返回数组时，反向传播收到上游梯度 dout，应当返回 dout 经过 f 的雅可比矩阵转置后的结果；
    用一个随机的 dout 来比较，比只用全 1 更能发现“转置写反”“求和轴写错”这类错误。
    f: 以 x 为输入、返回数组的函数
    x: 任意形状的数组（临时修改后恢复）
    dout: 与 f(x) 同形状的上游梯度
    返回 dx: 与 x 同形状
    """
    x = _as_float_array(x)
    dout = np.asarray(dout, dtype=np.float64)
    grad = np.zeros(x.shape, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        idx = it.multi_index
        old = x[idx]
        x[idx] = old + h
        pos = np.array(f(x), dtype=np.float64, copy=True)
        x[idx] = old - h
        neg = np.array(f(x), dtype=np.float64, copy=True)
        x[idx] = old
        grad[idx] = np.sum((pos - neg) * dout) / (2 * h)
        it.iternext()
    return grad


def rel_error(a, b):
    """相对误差 max|a-b| / max(1e-8, |a|+|b|)，逐元素取最大值。

    两个都接近 0 时分母取 1e-8，避免 0/0。
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)), initial=0.0))


def check_backward(forward, backward_dx, x, dout=None, seed=0):
    """用随机上游梯度比较解析的 dx 与数值的 dx，返回 (相对误差, 解析 dx, 数值 dx)。

    forward: x -> out
    backward_dx: (x, dout) -> dx，一般是“先 forward 再 backward”的包装
    """
    rng = np.random.default_rng(seed)
    x = _as_float_array(x).copy()
    out = np.asarray(forward(x.copy()), dtype=np.float64)
    if dout is None:
        dout = rng.standard_normal(out.shape)
    num = eval_numerical_gradient_array(forward, x, dout)
    ana = np.asarray(backward_dx(x.copy(), dout.copy()), dtype=np.float64)
    return rel_error(ana, num), ana, num


def _as_float_array(x):
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise TypeError(
            "数值微分需要 float64 的 numpy 数组，收到的是 %s；可以先用 np.asarray(x, dtype=float) 转换"
            % _describe(x)
        )
    return x


def _describe(x):
    if isinstance(x, np.ndarray):
        return "dtype 为 %s 的数组" % x.dtype
    return type(x).__name__
