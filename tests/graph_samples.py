"""随机计算图：分叉、菱形、重复使用的节点、跨好几层的长边都有。布局测试和浏览器截图共用。

random_graph 直接用 course.graph.model.Graph 搭；random_value 在一个很小的 micrograd 风格引擎上搭，
再交给 Graph.from_value 或 course.graph.autodiff.to_graph 画。
"""
import math
import random

from course.graph.model import Graph


class Value:
    """最小的 micrograd 风格标量：data、grad、_prev、_op、label。"""

    def __init__(self, data, prev=(), op="", label=""):
        self.data, self.grad, self._prev, self._op, self.label = float(data), 0.0, tuple(prev), op, label
        self._backward = lambda: None

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward():
            self.grad += (1 - t * t) * out.grad
        out._backward = _backward
        return out

    def exp(self):
        e = math.exp(self.data)
        out = Value(e, (self,), "exp")

        def _backward():
            self.grad += e * out.grad
        out._backward = _backward
        return out

    def backward(self):
        order, seen = [], set()

        def visit(v):
            if id(v) not in seen:
                seen.add(id(v))
                for p in v._prev:
                    visit(p)
                order.append(v)
        visit(self)
        self.grad = 1.0
        for v in reversed(order):
            v._backward()


def _pick(rng, pool, recent):
    """多半取最近算出的节点（形成链），有时取很早的节点（长边、重复使用）。"""
    if rng.random() < 0.65:
        return pool[-1 - min(int(rng.expovariate(1.2)), len(pool) - 1)] if recent else rng.choice(pool)
    return rng.choice(pool)


def random_graph(seed, n_nodes):
    """用 Graph 直接搭一张约 n_nodes 个节点的图（含输入），做完 backward。"""
    rng = random.Random(seed)
    g = Graph("随机图 %d" % seed, output_label="out")
    n_in = max(2, min(6, n_nodes // 4))
    inputs = [g.input(rng.choice(["x", "y", "w", "b", "a", "c"]) + str(i + 1), round(rng.uniform(-2, 2), 2))
              for i in range(n_in)]
    pool = list(inputs)
    used = set()
    while len(g.nodes) + max(len([n for n in pool if id(n) not in used and n.kind == "op"]) - 1, 0) < n_nodes:
        kind = rng.random()
        a = _pick(rng, pool, True)
        if kind < 0.3:
            b = _pick(rng, [p for p in pool if p is not a] or pool, False)
            node = g.add(a, b)
        elif kind < 0.6:
            b = _pick(rng, [p for p in pool if p is not a] or pool, False)
            node = g.mul(a, b)
        elif kind < 0.75:
            node = g.op("tanh", [a], math.tanh(a.value), lambda x: [1 - math.tanh(x) ** 2])
        elif kind < 0.85:
            node = g.scale(a, rng.choice([-1, 0.5, 2]))
        elif kind < 0.92:
            node = g.add(a, a)  # 同一个节点用两次
        else:
            node = g.pow(a, 2)
        used.update(id(p) for p in node.inputs)
        pool.append(node)
        if abs(node.value) > 50:  # 数不要长得太大，标签保持常见的长度
            node.value = round(node.value / 100, 3)
    sinks = [n for n in pool if id(n) not in used and n.kind == "op"]
    out = sinks[0] if sinks else pool[-1]
    for s in sinks[1:]:
        out = g.add(out, s)
    g.backward(out)
    return g


def random_value(seed, n_ops):
    """在 Value 引擎上搭一个约 n_ops 次运算的表达式，返回 (输出, 有名字的叶子)。"""
    rng = random.Random(seed)
    leaves = [Value(round(rng.uniform(-1.5, 1.5), 2), label=nm) for nm in ["x1", "x2", "w1", "w2", "b"][:rng.randint(2, 5)]]
    pool, used = list(leaves), set()
    for _ in range(n_ops):
        a = _pick(rng, pool, True)
        r = rng.random()
        if r < 0.35:
            v = a + _pick(rng, pool, False)
        elif r < 0.65:
            v = a * _pick(rng, pool, False)
        elif r < 0.8:
            v = a.tanh()
        elif r < 0.88:
            v = a * round(rng.uniform(-2, 2), 1)  # 常数叶子
        else:
            v = (a * 0.5).exp() if abs(a.data) < 5 else a.tanh()
        used.update(id(p) for p in v._prev)
        pool.append(v)
    sinks = [v for v in pool[len(leaves):] if id(v) not in used]
    out = sinks[0]
    for s in sinks[1:]:
        out = out + s
    out.backward()
    return out, {v.label: v for v in leaves}


def backward_layer_by_layer(root):
    """第 06 课“一层层处理”的错误写法（广度优先，不按拓扑顺序）：一个节点的梯度还没收齐就往下传。"""
    root.grad = 1.0
    queue, seen = [root], {root}
    while queue:
        v = queue.pop(0)
        v._backward()
        for child in v._prev:
            if child not in seen:
                seen.add(child)
                queue.append(child)
