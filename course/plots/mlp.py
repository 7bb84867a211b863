"""第 06 课的小网络（学生用 Value 写的 MLP）：把它的权重读成数组，和前几课的层对照，再画出分界线。

学生的 MLP 按练习的约定组织：model.layers[k].neurons[j] 是第 k 层第 j 个神经元，
它的 .w[i] 和 .b 是 Value。同一组权重放进 Affine → Relu → … → Affine，算出的分数和梯度应当一模一样：
- weights_of(model)            [(W, b), ...]，W: (n_in, n_out)，b: (n_out,)
- scores_with_layers(weights, X)   X: (N, D) -> 每个样本的分数 (N,)，在整张网格上画分界线时很快
- compare_with_layers(model, X, y, layers_hinge) 打印引擎的梯度与 Affine、Relu 层的 dW、db 的最大相对误差；
  layers_hinge 是这一课作业文件夹里 layers.py 的 mlp_hinge_reference（层不在学生版的课程包里）
- plot_training(model, X, y, history) 左边是分界线和数据点，右边是损失和识别精度的变化
"""
import numbers

import numpy as np

from ..gradcheck import rel_error
from .fonts import label, use_chinese_font

__all__ = ["weights_of", "grads_of_model", "scores_with_layers", "accuracy", "compare_with_layers", "plot_training"]


def _number(v, what):
    d = getattr(v, what, None)
    if isinstance(d, bool) or not isinstance(d, numbers.Real):
        raise TypeError("网络里有参数的 .%s 不是数（是 %s）：先让练习 7–9 的检查通过" % (what, type(d).__name__))
    return float(d)


def _read(model, what):
    layers = getattr(model, "layers", None)
    if not isinstance(layers, (list, tuple)) or not layers:
        raise TypeError("需要练习 8 的 MLP（带 .layers），你传入的是 %s" % type(model).__name__)
    out = []
    for layer in layers:
        neurons = getattr(layer, "neurons", [])
        W = np.array([[_number(w, what) for w in n.w] for n in neurons]).T  # (n_in, n_out)
        b = np.array([_number(n.b, what) for n in neurons])
        out.append((W, b))
    return out


def weights_of(model):
    """MLP 的权重：[(W, b), ...]，与 Affine 层的约定相同。"""
    return _read(model, "data")


def grads_of_model(model):
    """MLP 各参数的 grad，排成和 weights_of 一样的 [(dW, db), ...]。"""
    return _read(model, "grad")


def scores_with_layers(weights, X):
    """用 numpy 按 Affine → ReLU → … → Affine 算每个样本的分数。X: (N, D)，返回 (N,)。"""
    out = np.asarray(X, dtype=np.float64)
    for k, (W, b) in enumerate(weights):
        out = out @ W + b
        if k < len(weights) - 1:
            out = np.maximum(out, 0.0)
    return out[:, 0]


def accuracy(weights, X, y):
    """识别精度：分数的符号与标签（0/1 或 -1/+1）一致的比例。"""
    y = np.asarray(y)
    return float(np.mean((scores_with_layers(weights, X) > 0) == (y > 0)))


def compare_with_layers(model, X, y, layers_hinge):
    """model 已经对 hinge_loss(model, X, y) 做过 backward()：逐层打印引擎的梯度与 Affine、Relu 层的最大相对误差。

    layers_hinge(weights, X, y) -> (损失, [(dW, db), ...], margin)：用 Affine、Relu 层算一遍（layers.py 的 mlp_hinge_reference）。
    """
    if not callable(layers_hinge):
        raise TypeError("compare_with_layers 的第 4 个参数应当是函数 mlp_hinge_reference（from layers import "
                        "mlp_hinge_reference），收到的是 %s" % type(layers_hinge).__name__)
    y = np.where(np.asarray(y) > 0, 1.0, -1.0)
    loss, want, _ = layers_hinge(weights_of(model), X, y)
    got = grads_of_model(model)
    print("合页损失：Affine、Relu 层算出 %.6f" % loss)
    for k, ((dW, db), (gW, gb)) in enumerate(zip(want, got), start=1):
        print("第 %d 层  W %s：相对误差 %.1e   b %s：相对误差 %.1e"
              % (k, str(dW.shape), rel_error(gW, dW), str(db.shape), rel_error(gb, db)))


def plot_training(model, X, y, history, grid=60):
    """左：分数为正、为负的区域（分界线）和数据点；右：每一步的损失和识别精度。history: [(损失, 精度), ...]。"""
    import matplotlib.pyplot as plt

    use_chinese_font()
    weights = weights_of(model)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    lo, hi = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], grid), np.linspace(lo[1], hi[1], grid))
    s = scores_with_layers(weights, np.column_stack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax.contourf(gx, gy, s, levels=[-1e9, 0, 1e9], colors=["#f6d5c8", "#cde0f3"], alpha=0.8)
    ax.contour(gx, gy, s, levels=[0], colors="k", linewidths=1)
    for cls, color, marker in ((0, "#c0392b", "o"), (1, "#1f5fa8", "s")):
        pick = (y > 0) == bool(cls)
        ax.scatter(X[pick, 0], X[pick, 1], c=color, marker=marker, s=22, edgecolors="white", linewidths=0.5,
                   label=label("标签 %s" % ("+1" if cls else "-1"), "label %s" % ("+1" if cls else "-1")))
    ax.set_title(label("分界线：分数 s = 0 的地方", "decision boundary: score s = 0"))
    ax.legend(loc="lower left", fontsize=8)
    steps = np.arange(1, len(history) + 1)
    losses = [h[0] for h in history]
    accs = [h[1] for h in history]
    bx.plot(steps, losses, "o-", markersize=3, label=label("合页损失", "hinge loss"))
    bx.set_xlabel(label("梯度下降的步数", "step"))
    bx.set_ylim(bottom=0)
    cx = bx.twinx()
    cx.plot(steps, accs, "s--", markersize=3, color="#2e8b57", label=label("识别精度", "accuracy"))
    cx.set_ylim(0, 1.02)
    lines = bx.get_lines() + cx.get_lines()
    bx.legend(lines, [ln.get_label() for ln in lines], loc="center right", fontsize=8)
    bx.set_title(label("训练过程", "training"))
    plt.tight_layout()
    plt.show()
