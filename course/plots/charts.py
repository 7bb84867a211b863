"""课程里的几种常用图：训练曲线、梯度确认、数值微分与反向传播的耗时对比。

每个函数返回一个 Chart（matplotlib Figure 的子类）。它不经过 pyplot，所以：
作为单元的最后一个表达式时只显示一次（PNG），不会在测试或 nbconvert 里弹窗或报 “无法显示” 的警告，
也不会把图留在 pyplot 的内存里。要保存就用 chart.savefig(...)，要改细节就用 chart.axes。
这些函数只负责画，不负责测量：数字由调用者算好传进来。
"""
import io
import numbers

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure

from ..gradcheck import rel_error
from .fonts import label as _label, use_chinese_font

__all__ = ["Chart", "new_chart", "plot_training", "plot_gradient_check", "plot_gradient_cost"]


class Chart(Figure):
    """在 Jupyter 里显示为一张 PNG 的 Figure；to_svg() 给交互图的静态版本用。"""

    def _repr_png_(self):
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        return buf.getvalue()

    def to_svg(self):
        """文字保留为文字（浏览器用自己的中文字体），id 和元数据固定，同样的图得到同样的 SVG。"""
        buf = io.StringIO()
        with rc_context({"svg.fonttype": "none", "svg.hashsalt": "course"}):
            self.savefig(buf, format="svg", metadata={"Date": None})
        return buf.getvalue()


def new_chart(ncols=1, figsize=(6.4, 3.6)):
    """先设置中文字体，再建一张有 ncols 个子图的 Chart。返回 (chart, ax 或 ax 的数组)。"""
    use_chinese_font()
    chart = Chart(figsize=figsize, layout="constrained")
    return chart, chart.subplots(1, ncols)


def _series(values, what, allow_none=False):
    if values is None:
        if allow_none:
            return None
        raise TypeError("%s 应当是一串数（list 或一维数组），收到的是 None" % what)
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError("%s 应当是一串数（list 或一维数组），收到的是 %s" % (what, type(values).__name__)) from None
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("%s 应当是非空的一维序列，收到的形状是 %s" % (what, arr.shape))
    return arr


def plot_training(loss, train_acc=None, test_acc=None, smooth=None):
    """左图：每次迭代的损失（smooth=k 时再画一条 k 次迭代的滑动平均）；右图：每个 epoch 的识别精度。

    loss: 长度为迭代次数的序列；train_acc、test_acc: 长度为 epoch 数的序列，可省略
    """
    loss = _series(loss, "loss")
    accs = [(_series(a, name, True), label) for a, name, label in
            [(train_acc, "train_acc", _label("训练数据", "train")), (test_acc, "test_acc", _label("测试数据", "test"))]]
    has_acc = any(a is not None for a, _ in accs)
    chart, axes = new_chart(2 if has_acc else 1, figsize=(9.6 if has_acc else 6.4, 3.6))
    ax = axes[0] if has_acc else axes
    ax.plot(np.arange(loss.size), loss, linewidth=0.8, alpha=0.6 if smooth else 1.0, label=_label("损失", "loss"))
    if smooth:
        if not isinstance(smooth, numbers.Integral) or not 1 <= smooth <= loss.size:
            raise ValueError("smooth 应当是 1 到 %d 之间的整数，收到的是 %r" % (loss.size, smooth))
        avg = np.convolve(loss, np.ones(smooth) / smooth, mode="valid")
        ax.plot(np.arange(smooth - 1, loss.size), avg, label=_label("%d 次迭代的平均", "mean of %d iterations") % smooth)
    ax.set(xlabel=_label("迭代次数", "iteration"), ylabel=_label("损失", "loss"), title=_label("损失函数的值", "loss"))
    ax.legend()
    if has_acc:
        for acc, label in accs:
            if acc is not None:
                axes[1].plot(np.arange(1, acc.size + 1), acc, marker="o", markersize=3, label=label)
        axes[1].set(xlabel="epoch", ylabel=_label("识别精度", "accuracy"), ylim=(0, 1.02), title=_label("识别精度", "accuracy"))
        axes[1].legend(loc="lower right")
    return chart


def plot_gradient_check(numerical, backprop):
    """梯度确认的结果。numerical、backprop: {参数名: 数组}，键和形状要一一对应。

    左图：每个元素的数值梯度（横轴）对反向传播梯度（纵轴），对的话都落在对角线上；
    右图：每个参数的相对误差 max|a-b| / max(1e-8, |a|+|b|)（对数坐标）。
    """
    if not isinstance(numerical, dict) or not isinstance(backprop, dict):
        raise TypeError("numerical 和 backprop 都应当是 {参数名: 数组} 的字典，例如 {'W1': ..., 'b1': ...}")
    if set(numerical) != set(backprop) or not numerical:
        raise ValueError("两个字典的参数名不一致：数值微分有 %s，反向传播有 %s" % (sorted(numerical), sorted(backprop)))
    names = list(numerical)
    errors = []
    chart, (ax1, ax2) = new_chart(2, figsize=(9.6, 3.8))
    for name in names:
        a, b = np.asarray(numerical[name], dtype=np.float64), np.asarray(backprop[name], dtype=np.float64)
        if a.shape != b.shape:
            raise ValueError("参数 %s 的形状不一致：数值微分 %s，反向传播 %s" % (name, a.shape, b.shape))
        ax1.scatter(a.ravel(), b.ravel(), s=10, label=name)
        errors.append(rel_error(a, b))
    lo, hi = ax1.get_xlim()
    ax1.plot([lo, hi], [lo, hi], color="#888888", linewidth=0.8, zorder=0)
    ax1.set(xlabel=_label("数值微分", "numerical"), ylabel=_label("反向传播", "backprop"),
            title=_label("每个元素的梯度", "gradient, element by element"))
    ax1.legend(fontsize=8)
    shown = np.maximum(errors, 1e-16)  # 完全相等时相对误差为 0，对数坐标画不出，用 1e-16 代替
    ax2.bar(names, shown, color="#4c72b0")
    ax2.set_yscale("log")
    ax2.axhline(1e-7, color="#d1242f", linestyle="--", linewidth=0.8, label="1e-7")
    ax2.set(ylabel=_label("相对误差", "relative error"), title=_label("每个参数的相对误差", "relative error per parameter"))
    ax2.legend()
    chart.rel_errors = dict(zip(names, errors))
    return chart


def plot_gradient_cost(sizes, numerical_seconds, backprop_seconds, xlabel=None, forward_seconds=None):
    """网络变大时，求一次梯度的耗时：数值微分对反向传播（对数坐标）。

    sizes: 网络的规模（例如参数个数）；两组耗时与 sizes 一一对应，单位为秒。只画图，不计时。
    forward_seconds: 可省略；给出时再画一条“一次正向传播”的耗时，好和反向传播比一比。
    """
    sizes = _series(sizes, "sizes")
    num = _series(numerical_seconds, "numerical_seconds")
    bp = _series(backprop_seconds, "backprop_seconds")
    fwd = _series(forward_seconds, "forward_seconds", allow_none=True)
    if not sizes.size == num.size == bp.size or (fwd is not None and fwd.size != sizes.size):
        raise ValueError("sizes、numerical_seconds、backprop_seconds%s 的长度应当相同，现在是 %s"
                         % ("、forward_seconds" if fwd is not None else "",
                            "、".join(str(a.size) for a in (sizes, num, bp, fwd) if a is not None)))
    if np.any(sizes <= 0) or np.any(num <= 0) or np.any(bp <= 0) or (fwd is not None and np.any(fwd <= 0)):
        raise ValueError("规模和耗时都应当是正数（对数坐标画不了 0 和负数）")
    chart, ax = new_chart()
    xlabel = _label("参数个数", "parameters") if xlabel is None else xlabel
    ax.loglog(sizes, num, marker="o", label=_label("数值微分", "numerical gradient"))
    ax.loglog(sizes, bp, marker="s", label=_label("误差反向传播法", "backpropagation"))
    if fwd is not None:
        ax.loglog(sizes, fwd, marker="^", linestyle=":", label=_label("一次正向传播", "one forward pass"))
    ratio = num[-1] / bp[-1]
    ax.annotate(_label("约 %s 倍", "about %s x") % _round(ratio), xy=(sizes[-1], np.sqrt(num[-1] * bp[-1])), ha="right")
    ax.set(xlabel=xlabel, ylabel=_label("求一次梯度的时间（秒）", "seconds per gradient"),
           title=_label("梯度的计算成本", "cost of one gradient"))
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    return chart


def _round(x):
    return "%.0f" % x if x >= 10 else "%.1f" % x
