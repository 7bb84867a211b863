"""基准测试：用数字说明第 05 课的论点——反向传播比数值微分快得多，而且能把网络训练好。

    python -m course.bench.backprop            # 与第 05 课 notebook 相同的网络和训练设置
    python -m course.bench.backprop --help     # 所有选项

打印：一次数值梯度和一次反向传播梯度的用时及比值、两者的最大相对误差，
以及在课程包自带的 8×8 手写数字（course/digits.npz）上训练的用时和最终识别精度。
"""
import argparse
import sys
import time

import numpy as np

from ..tools.cliargs import checked_int
from ..tools.cliargs import positive_float as _positive_float
from ..tools.cliargs import positive_int as _positive_int
from ..data import load_digits_dataset
from ..gradcheck import rel_error
from ..reference.net import PARAM_KEYS, TwoLayerNet, train

__all__ = ["main", "DEFAULTS"]

# 与 notebook 里的设置保持一致
DEFAULTS = {"hidden": 100, "weight_init_std": 0.1, "lr": 0.5, "lr_decay": 0.85, "batch_size": 20, "epochs": 10,
            "grad_batch": 3, "seed": 0}


def _decay(text):
    value = _positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError("应当在 0 和 1 之间（可以等于 1），收到的是 %r" % text)
    return value


def _seed(text):
    return checked_int(text, lambda v: 0 <= v < 2**32, "0 到 2**32-1 之间的整数")


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m course.bench.backprop",
        description="比较数值微分与误差反向传播法求梯度的用时，并在课程包自带的 8×8 手写数字上训练 TwoLayerNet。")
    p.add_argument("--hidden", type=_positive_int, default=DEFAULTS["hidden"], help="隐藏层神经元个数（默认 %(default)s）")
    p.add_argument("--weight-init-std", type=_positive_float, default=DEFAULTS["weight_init_std"],
                   help="权重初始值的标准差（默认 %(default)s）")
    p.add_argument("--lr", type=_positive_float, default=DEFAULTS["lr"], help="学习率（默认 %(default)s）")
    p.add_argument("--lr-decay", type=_decay, default=DEFAULTS["lr_decay"],
                   help="每轮结束后学习率乘上的系数，0 < 系数 <= 1（默认 %(default)s）")
    p.add_argument("--batch-size", type=_positive_int, default=DEFAULTS["batch_size"],
                   help="训练时 mini-batch 的大小（默认 %(default)s）")
    p.add_argument("--epochs", type=_positive_int, default=DEFAULTS["epochs"], help="训练的轮数（默认 %(default)s）")
    p.add_argument("--grad-batch", type=_positive_int, default=DEFAULTS["grad_batch"],
                   help="比较梯度用时所用的样本数（默认 %(default)s）")
    p.add_argument("--seed", type=_seed, default=DEFAULTS["seed"], help="随机种子（默认 %(default)s）")
    return p


def time_backprop(network, x, t, min_seconds=0.2):
    """反向传播一次太快，单次计时不准：重复到总用时超过 min_seconds，取平均。返回 (每次秒数, 次数)。"""
    runs, start = 0, time.perf_counter()
    while True:
        network.gradient(x, t)
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / runs, runs


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    (x_train, t_train), (x_test, t_test) = load_digits_dataset(one_hot=True)
    if args.batch_size > len(x_train):
        parser.error("--batch-size 不能超过训练样本数 %d，收到的是 %d" % (len(x_train), args.batch_size))
    if args.grad_batch > len(x_train):
        parser.error("--grad-batch 不能超过训练样本数 %d，收到的是 %d" % (len(x_train), args.grad_batch))

    # 与 notebook 相同：比较梯度用默认的初始值（标准差 0.01），训练用 --weight-init-std；
    # 初始权重用 seed，打乱训练数据用 seed + 1
    D, H, C = x_train.shape[1], args.hidden, t_train.shape[1]
    net = TwoLayerNet(D, H, C, seed=args.seed)
    n_params = sum(net.params[k].size for k in PARAM_KEYS)
    x, t = x_train[:args.grad_batch], t_train[:args.grad_batch]

    start = time.perf_counter()
    grad_num = net.numerical_gradient(x, t)
    t_num = time.perf_counter() - start
    t_bp, runs = time_backprop(net, x, t)
    grad_bp = net.gradient(x, t)
    worst = max(rel_error(grad_num[k], grad_bp[k]) for k in PARAM_KEYS)
    mean_abs = max(float(np.mean(np.abs(grad_num[k] - grad_bp[k]))) for k in PARAM_KEYS)

    print("网络 %d-%d-%d（%d 个参数），比较梯度用的 mini-batch：%d 个样本" % (D, H, C, n_params, args.grad_batch))
    print("一次数值梯度：      %.4f s（每个参数正向传播 2 次，共 %d 次）" % (t_num, 2 * n_params))
    print("一次反向传播梯度：  %.6f s（重复 %d 次取平均）" % (t_bp, runs))
    print("用时之比：数值梯度 / 反向传播 ≈ %.0f 倍" % (t_num / t_bp))
    print("两种梯度的最大相对误差：%.1e（各参数平均绝对误差的最大值 %.1e）" % (worst, mean_abs))

    net = TwoLayerNet(D, H, C, weight_init_std=args.weight_init_std, seed=args.seed)
    history = train(net, x_train, t_train, x_test, t_test, epochs=args.epochs, batch_size=args.batch_size,
                    lr=args.lr, lr_decay=args.lr_decay, seed=args.seed + 1)
    iters = args.epochs * -(-len(x_train) // args.batch_size)
    print("训练：%d 轮，共 %d 次参数更新（批大小 %d，学习率 %g，每轮乘 %g），用时 %.2f s（含每轮结束时的评估）"
          % (args.epochs, iters, args.batch_size, args.lr, args.lr_decay, history["seconds"]))
    print("最终识别精度：训练集 %.4f，测试集 %.4f（测试样本 %d 个）"
          % (history["train_acc"][-1], history["test_acc"][-1], len(x_test)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
