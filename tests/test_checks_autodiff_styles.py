"""第 06 课：别的正确写法同样拿满分。

karpathy 的 micrograd（engine.py 的样子：_prev 是 set、relu 的 _op 是 'ReLU'、幂写成 f'**{k}'、grad 从整数 0 开始、
递归的 build_topo），还有运算名随手写（'add'、'MUL'、'max'）、_prev 用 list 且输入倒过来放、迭代的拓扑排序、
干脆不写运算名的引擎：_op 只是画图的标签，哪种都不该丢分。
这里既调用各个检查函数，也把 notebook 里每个测试单元（公开的和隐藏的）原样执行一遍，
其余练习用 source/ 里的参考答案。
"""
import math
import sys
import warnings

import nbformat
import pytest

from conftest import SOURCE
from course.graph.autodiff import to_graph
from course.checks import autodiff as ops
from course.checks import autodiff_apps as apps
from course.checks import autodiff_backward as bw
from course.checks import autodiff_mlp as mlp

MICROGRAD = '''
class Value:
    """一个标量和它的梯度（micrograd 的 engine.py 的写法）。"""

    def __init__(self, data, _children=(), _op=''):
        self.data = data
        self.grad = 0
        self._backward = lambda: None
        self._prev = set(_children)
        self._op = _op

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), '+')

        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), '*')

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def __pow__(self, other):
        assert isinstance(other, (int, float)), "only supporting int/float powers for now"
        out = Value(self.data ** other, (self,), f'**{other}')

        def _backward():
            self.grad += (other * self.data ** (other - 1)) * out.grad
        out._backward = _backward
        return out

    def relu(self):
        out = Value(0 if self.data < 0 else self.data, (self,), 'ReLU')

        def _backward():
            self.grad += (out.data > 0) * out.grad
        out._backward = _backward
        return out

    def exp(self):
        out = Value(math.exp(self.data), (self,), 'exp')

        def _backward():
            self.grad += out.data * out.grad
        out._backward = _backward
        return out

    def tanh(self):
        x = self.data
        t = (math.exp(2 * x) - 1) / (math.exp(2 * x) + 1)
        out = Value(t, (self,), 'tanh')

        def _backward():
            self.grad += (1 - t ** 2) * out.grad
        out._backward = _backward
        return out

    def backward(self):
        topo = []
        visited = set()

        def build_topo(v):
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    build_topo(child)
                topo.append(v)
        build_topo(self)
        self.grad = 1
        for v in reversed(topo):
            v._backward()

    def __neg__(self):
        return self * -1

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return other + (-self)

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        return self * other ** -1

    def __rtruediv__(self, other):
        return other * self ** -1

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"
'''

# 运算名随手写、_prev 是 list 且把 other 放在前面、迭代的拓扑排序、自己的 __repr__
LABELS = '''
class Value:
    def __init__(self, data, _children=(), _op=""):
        self.data = float(data)
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = list(_children)
        self._op = _op

    def _node(self, data, parents, op, locals_):
        out = Value(data, parents, op)

        def _backward():
            for p, d in zip(parents, locals_()):
                p.grad += d * out.grad
        out._backward = _backward
        return out

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return self._node(self.data + other.data, (other, self), "add", lambda: (1.0, 1.0))

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return self._node(self.data * other.data, (other, self), "MUL", lambda: (self.data, other.data))

    def __pow__(self, k):
        return self._node(self.data ** k, (self,), "pow", lambda: (k * self.data ** (k - 1),))

    def exp(self):
        e = math.exp(self.data)
        return self._node(e, (self,), "Exp", lambda: (e,))

    def tanh(self):
        t = math.tanh(self.data)
        return self._node(t, (self,), "TANH", lambda: (1 - t * t,))

    def relu(self):
        return self._node(max(0.0, self.data), (self,), "max", lambda: (1.0 if self.data > 0 else 0.0,))

    def backward(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            v, done = stack.pop()
            if done:
                order.append(v)
            elif id(v) not in seen:
                seen.add(id(v))
                stack.append((v, True))
                stack.extend((p, False) for p in v._prev)
        self.grad = 1.0
        for v in reversed(order):
            v._backward()

    __radd__ = __add__
    __rmul__ = __mul__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return (-self) + other

    def __truediv__(self, other):
        return self * other ** -1

    def __rtruediv__(self, other):
        return self ** -1 * other

    def __repr__(self):
        return "<%s %.3f>" % (self._op or "leaf", self.data)
'''

# 根本不写运算名
UNLABELLED = MICROGRAD.replace("'+')", "'')").replace("'*')", "'')").replace("f'**{other}')", "'')") \
    .replace("'ReLU')", "'')").replace("'exp')", "'')").replace("'tanh')", "'')")

STYLES = {"micrograd": MICROGRAD, "labels": LABELS, "unlabelled": UNLABELLED}
ENGINE_CELLS = {"value-class", "unary-ops", "backward"}  # 引擎本身：用上面各种写法代替


def _notebook():
    (path,) = (SOURCE / "06-autodiff").glob("*.ipynb")
    return nbformat.read(str(path), as_version=4)


def _namespace(engine):
    """执行 notebook 的导入单元、给定的引擎和其余练习的参考答案，返回命名空间。"""
    nb = _notebook()
    ns = {"__name__": "__main__"}
    lesson = str(SOURCE / "06-autodiff")  # 像 notebook 的内核一样，能导入作业文件夹里的 layers.py
    if lesson not in sys.path:
        sys.path.append(lesson)
    exec(compile(nb.cells[[c.get("id") for c in nb.cells].index("setup")].source, "<setup>", "exec"), ns)
    exec(compile(engine, "<engine>", "exec"), ns)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.get("id") not in ENGINE_CELLS:
            exec(compile(cell.source, "<%s>" % meta["grade_id"], "exec"), ns)
    return nb, ns


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_graded_cell_passes_with_another_correct_engine(style, capsys):
    nb, ns = _namespace(STYLES[style])
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
              and not c.metadata["nbgrader"].get("solution")]
    assert len(graded) >= 15
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for cell in graded:
            source = cell.source.replace("from course.checks.guard import restore as _restore; _restore()", "")
            exec(compile(source, "<%s>" % cell.metadata["nbgrader"]["grade_id"], "exec"), ns)
    out = capsys.readouterr()
    assert out.err == ""
    assert out.out.count("✔") >= len(graded) - 3  # 每个公开检查都报了通过
    if style == "micrograd":
        assert "ℹ" not in out.out  # 'ReLU'、'**2'、'+' 画图都认得，不用提醒
    if style == "unlabelled":
        assert "ℹ" in out.out and "不扣分" in out.out


@pytest.mark.parametrize("style", sorted(STYLES))
def test_check_functions_accept_every_style(style):
    _, ns = _namespace(STYLES[style])
    Value = ns["Value"]
    for seed in (0, 1, 2):
        ops.check_add_mul(Value, seed=seed, report=False)
        ops.check_unary_ops(Value, seed=seed, report=False)
        bw.check_backward(Value, seed=seed, report=False)
        bw.check_forks(Value, seed=seed, report=False)
        bw.check_reused_nodes(Value, seed=seed, report=False)
        bw.check_zero_grad(ns["zero_grad"], Value, seed=seed, report=False)
        bw.check_random_graphs(Value, seed=seed, n_graphs=3, n_steps=25, report=False)
        apps.check_apple_orange(ns["buy_apple_orange"], Value, seed=seed, report=False)
        apps.check_sigmoid(ns["sigmoid"], Value, seed=seed, report=False)
        apps.check_neuron(ns["neuron"], Value, seed=seed, report=False)
        mlp.check_neuron_class(ns["Neuron"], Value, seed=seed, report=False)
        mlp.check_layer_mlp(ns["Layer"], ns["MLP"], Value, seed=seed, report=False)
        mlp.check_hinge_loss(ns["hinge_loss"], Value, seed=seed, report=False)
        mlp.check_train_step(ns["train_step"], Value, seed=seed, report=False)


@pytest.mark.parametrize("style", ["micrograd", "labels"])
def test_drawing_reads_every_label(style):
    """'ReLU'、'max'、'add'、'MUL'、'Exp' 都认得：图上每条边都有局部导数，没有被标成错的边。"""
    _, ns = _namespace(STYLES[style])
    Value = ns["Value"]
    a, b = Value(1.5), Value(-0.5)
    out = ((a * b + a).relu() + (b * 2.0).exp() + a.tanh() + b * b)  # 'pow' 不带指数，画图推不出 k，这里不用
    out.backward()
    g = to_graph(out, names=dict(a=a, b=b))
    assert all(e.grad is not None for e in g.edges)
    assert not any(e.mark for e in g.edges)
    labels = {n.label for n in g.nodes if n.kind == "op"}
    assert {"ReLU", "exp", "tanh"} <= labels and ("×" in labels and "+" in labels)


def test_micrograd_relu_gives_an_int_zero_and_still_passes():
    _, ns = _namespace(MICROGRAD)
    v = ns["Value"](-2.0).relu()
    assert v.data == 0 and isinstance(v.data, int) and v._op == "ReLU"
    ops.check_unary_ops(ns["Value"], ops=("relu",), seed=4, report=False)
    assert math.isclose(ns["Value"](3.0).relu().data, 3.0)
