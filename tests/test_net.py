"""course.net 的参考网络、SGD 与训练循环，以及 python -m course.bench.backprop 的命令行。"""
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

from course.bench import backprop as bench
from course.gradcheck import rel_error
from course.reference.net import PARAM_KEYS, TwoLayerNet, sgd_step, train


def make(seed=0, sizes=(6, 5, 4), n=7, one_hot=True):
    rng = np.random.default_rng(seed)
    net = TwoLayerNet(*sizes, weight_init_std=0.5, seed=rng)
    net.params["b1"][...] = rng.standard_normal(sizes[1]) * 0.3
    x = rng.standard_normal((n, sizes[0]))
    labels = rng.integers(0, sizes[2], n)
    return net, x, (np.eye(sizes[2])[labels] if one_hot else labels)


@pytest.mark.parametrize("one_hot", [True, False])
def test_backprop_matches_numerical_gradient(one_hot):
    net, x, t = make(one_hot=one_hot)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        num, bp = net.numerical_gradient(x, t), net.gradient(x, t)
    assert set(bp) == set(PARAM_KEYS)
    for key in PARAM_KEYS:
        assert bp[key].shape == net.params[key].shape
        # cross_entropy_error 在 log 里加了 1e-7 防止 log(0)，而解析梯度 (y - t)/N 不含它，
        # 所以概率小的类别上会有 1e-7/y 量级的相对差别；绝对差别则小得多
        assert rel_error(num[key], bp[key]) < 1e-4, key
        assert np.mean(np.abs(num[key] - bp[key])) < 1e-6, key


def test_shapes_accuracy_and_shared_params():
    net, x, t = make()
    assert net.predict(x).shape == (7, 4)
    acc = net.accuracy(x, t)
    assert acc == net.accuracy(x, t.argmax(axis=1)) and 0.0 <= acc <= 1.0
    before = net.predict(x)
    net.params["b2"] += 1.0  # 原地修改 params，层里看到的是同一个数组
    assert np.allclose(net.predict(x), before + 1.0)


def test_init_is_seeded_and_validated():
    a, b = TwoLayerNet(3, 4, 2, seed=5), TwoLayerNet(3, 4, 2, seed=5)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in PARAM_KEYS)
    assert np.all(a.params["b1"] == 0) and a.params["W1"].std() < 0.05
    with pytest.raises(ValueError, match="hidden_size 应当是正整数"):
        TwoLayerNet(3, 0, 2)
    with pytest.raises(ValueError, match="input_size 应当是正整数"):
        TwoLayerNet(3.5, 4, 2)


def test_sgd_step_is_in_place():
    params = {"W": np.ones((2, 2)), "b": np.zeros(2)}
    arrays = dict(params)
    sgd_step(params, {"W": np.full((2, 2), 2.0), "b": np.array([1.0, -1.0])}, lr=0.25)
    assert params["W"] is arrays["W"] and np.allclose(params["W"], 0.5)
    assert np.allclose(params["b"], [-0.25, 0.25])


def test_train_lowers_the_loss_on_a_small_problem():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((60, 4))
    t = (x[:, 0] + x[:, 1] > 0).astype(int)  # 线性可分的两类
    net = TwoLayerNet(4, 8, 2, weight_init_std=0.3, seed=2)
    start_loss = net.loss(x, t)
    seen = []
    history = train(net, x[:40], t[:40], x[40:], t[40:], epochs=30, batch_size=10, lr=0.5, seed=3,
                    log=lambda epoch, h: seen.append(epoch))
    assert seen == list(range(1, 31))
    assert all(len(history[k]) == 30 for k in ("train_acc", "test_acc", "train_loss", "test_loss"))
    assert history["train_loss"][-1] < 0.5 * start_loss
    assert history["test_acc"][-1] >= 0.9 and history["seconds"] >= 0


def test_train_lr_decay_shrinks_the_steps():
    # 学习率衰减到几乎为 0 时，第一轮之后参数几乎不再变化
    rng = np.random.default_rng(4)
    x, t = rng.standard_normal((20, 3)), rng.integers(0, 2, 20)
    net = TwoLayerNet(3, 4, 2, weight_init_std=0.3, seed=5)
    initial = net.params["W1"].copy()
    snapshots = []
    train(net, x, t, x, t, epochs=3, batch_size=5, lr=0.5, lr_decay=1e-9, seed=6,
          log=lambda epoch, h: snapshots.append(net.params["W1"].copy()))
    assert np.max(np.abs(snapshots[0] - initial)) > 1e-3  # 第一轮用的是完整的学习率
    assert np.allclose(snapshots[0], snapshots[2], atol=1e-8)


# ---- python -m course.bench.backprop -----------------------------------------------------

def test_bench_prints_all_figures(capsys):
    assert bench.main(["--hidden", "6", "--epochs", "2", "--grad-batch", "3", "--batch-size", "200"]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    for fragment in ("网络 64-6-10", "一次数值梯度", "一次反向传播梯度", "倍", "最大相对误差", "训练：2 轮", "每轮乘 0.85", "测试集"):
        assert fragment in out.out, out.out
    worst = float(re.search(r"最大相对误差：([0-9.e+-]+)", out.out).group(1))
    assert worst < 1e-3  # 反向传播是对的：误差只来自数值微分和 log 里的 1e-7


@pytest.mark.parametrize("argv, fragment", [
    (["--epochs", "0"], "应当是正整数"),
    (["--hidden", "abc"], "应当是正整数"),
    (["--lr", "-0.1"], "应当是有限的正数"),
    (["--lr", "nan"], "应当是有限的正数"),
    (["--seed", "-3"], "0 到 2**32-1"),
    (["--lr-decay", "1.5"], "应当在 0 和 1 之间"),
    (["--lr-decay", "0"], "应当是有限的正数"),
    (["--batch-size", "100000"], "不能超过训练样本数"),
    (["--grad-batch", "100000"], "不能超过训练样本数"),
    (["--no-such-option"], "unrecognized arguments"),
])
def test_bench_rejects_bad_arguments(argv, fragment, capsys):
    with pytest.raises(SystemExit) as info:
        bench.main(argv)
    assert info.value.code == 2
    assert fragment in capsys.readouterr().err


def test_bench_runs_as_a_module():
    result = subprocess.run([sys.executable, "-m", "course.bench.backprop", "--help"], capture_output=True, text=True,
                            env={"LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.returncode == 0 and "--grad-batch" in result.stdout and result.stderr == ""
