"""计算图布局和绘制的耗时：python -m course.bench.graph

搭几张 30 个节点左右的随机计算图（分叉、菱形、重复使用的节点、长边都有），
打印“分层布局 + 画成 SVG”的耗时。目标是每张 50 毫秒以内；这里只打印，不做判断。
"""
import math
import random
import time

from ..graph.model import Graph


def sample_graph(seed, n_nodes=30):
    """一张约 n_nodes 个节点的图：多数运算用最近的结果（成链），有时取很早的节点（长边、分叉）。"""
    rng = random.Random(seed)
    g = Graph("随机图 %d" % seed, output_label="out")
    pool = [g.input("x%d" % (i + 1), round(rng.uniform(-2, 2), 2)) for i in range(5)]
    while len(g.nodes) < n_nodes:
        a = pool[-1 - min(int(rng.expovariate(1.0)), len(pool) - 1)]
        b = rng.choice(pool)
        r = rng.random()
        if r < 0.4:
            node = g.add(a, b)
        elif r < 0.75:
            node = g.mul(a, b)
            node.value = math.tanh(node.value)
        else:
            node = g.op("tanh", [a], math.tanh(a.value), lambda x: [1 - math.tanh(x) ** 2])
        pool.append(node)
    g.backward(pool[-1])
    return g


def main(runs=5):
    print("分层布局 + 绘制 SVG（每张图取 %d 次中最快的一次）" % runs)
    for seed in range(4):
        g = sample_graph(seed)
        best = math.inf
        for _ in range(runs):
            t = time.perf_counter()
            g.to_svg()
            best = min(best, time.perf_counter() - t)
        print("  随机图 %d：%d 个节点，%d 条边，%.1f 毫秒（目标 < 50 毫秒）" % (seed, len(g.nodes), len(g.edges), best * 1000))


if __name__ == "__main__":
    main()
