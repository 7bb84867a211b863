"""第 06 课（自动微分）的检查函数：正确的 Value 通过且不出声，每种常见错误都被各自的提示抓住。"""
import math
import warnings

import numpy as np
import pytest

from course.graph.autodiff import expected_grads, graph_nodes, to_graph
from course.checks import CheckFailure
from course.checks import autodiff as ops
from course.checks import autodiff_apps as apps
from course.checks import autodiff_backward as bw
from conftest import student


# ---- 正确的引擎 ---------------------------------------------------------------
@student
class Value:
    def __init__(self, data, _children=(), _op=""):
        self.data = data
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = tuple(_children)
        self._op = _op

    def _wrap(self, other):
        return other if isinstance(other, Value) else type(self)(other)

    def __add__(self, other):
        other = self._wrap(other)
        out = type(self)(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = self._wrap(other)
        out = type(self)(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def _unary(self, value, op, local):
        out = type(self)(value, (self,), op)

        def _backward():
            self.grad += local(out) * out.grad
        out._backward = _backward
        return out

    def __pow__(self, k):
        return self._unary(self.data ** k, "**%g" % k, lambda out: k * self.data ** (k - 1))

    def exp(self):
        return self._unary(math.exp(self.data), "exp", lambda out: out.data)

    def tanh(self):
        return self._unary(math.tanh(self.data), "tanh", lambda out: 1 - out.data ** 2)

    def relu(self):
        return self._unary(max(self.data, 0.0), "relu", lambda out: float(self.data > 0))

    def backward(self):
        topo, seen = [], set()

        def build(v):
            if id(v) not in seen:
                seen.add(id(v))
                for p in v._prev:
                    build(p)
                topo.append(v)
        build(self)
        self.grad = 1.0
        for v in reversed(topo):
            v._backward()

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-other)

    def __truediv__(self, other):
        return self * other ** -1

    def __rtruediv__(self, other):
        return other * self ** -1


def variant(**methods):
    """在正确的 Value 上换掉几个方法，得到一个“写错了”的引擎。"""
    return student(type("Value", (Value,), methods))


def unary(value, op, local):
    def method(self):
        out = type(self)(value(self.data), (self,), op)

        def _backward():
            self.grad += local(self.data, out) * out.grad
        out._backward = _backward
        return out
    return method


@student
def zero_grad(root):
    for v in graph_nodes(root):
        v.grad = 0.0


@student
def buy_apple_orange(apple, apple_num, orange, orange_num, tax):
    return (apple * apple_num + orange * orange_num) * tax


@student
def sigmoid(v):
    return 1 / (1 + (-v).exp())


@student
def neuron(xs, ws, b):
    z = b
    for x, w in zip(xs, ws):
        z = z + w * x
    return z.tanh()


CORRECT = [
    lambda: ops.check_add_mul(Value),
    lambda: ops.check_add_mul(Value, part="forward", seed=3),
    lambda: ops.check_add_mul(Value, part="backward", seed=4),
    lambda: ops.check_unary_ops(Value),
    lambda: ops.check_unary_ops(Value, ops=("tanh",), seed=9),
    lambda: bw.check_backward(Value),
    lambda: bw.check_backward(Value, seed=11, n_random=5, n_steps=30),
    lambda: bw.check_forks(Value),
    lambda: bw.check_reused_nodes(Value, seed=2),
    lambda: bw.check_zero_grad(zero_grad, Value),
    lambda: bw.check_random_graphs(Value),
    lambda: bw.check_random_graphs(Value, seed=5, n_graphs=6, n_steps=40),
    lambda: apps.check_apple_orange(buy_apple_orange, Value),
    lambda: apps.check_sigmoid(sigmoid, Value),
    lambda: apps.check_neuron(neuron, Value),
    lambda: apps.check_neuron(neuron, Value, seed=8, n_inputs=(1, 5)),
]


@pytest.mark.parametrize("run", CORRECT)
def test_correct_engine_passes_silently(run, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run()
    captured = capsys.readouterr()
    assert captured.err == ""


def test_report_prints_the_visible_note(capsys):
    ops.check_add_mul(Value)
    assert "公开测试通过" in capsys.readouterr().out
    bw.check_random_graphs(Value, report=False)
    assert capsys.readouterr().out == ""


def test_set_prev_is_accepted_too():
    """micrograd 把 _prev 存成 set：a + a 只剩一个输入，检查和画图都要照样工作。"""
    def init(self, data, _children=(), _op=""):
        Value.__init__(self, data, _children, _op)
        self._prev = set(_children)
    SetValue = variant(__init__=init)
    ops.check_add_mul(SetValue, report=False)
    bw.check_backward(SetValue, report=False)
    bw.check_forks(SetValue, report=False)
    a = SetValue(3.0)
    b = a * a
    b.backward()
    assert expected_grads(b)[id(a)] == pytest.approx(6.0)
    assert to_graph(b).edges[0].grad == pytest.approx(6.0)


# ---- 写错的引擎：每个都要被抓住，而且提示说中要害 -----------------------------------
def add_with(backward):
    def __add__(self, other):
        other = self._wrap(other)
        out = type(self)(self.data + other.data, (self, other), "+")
        out._backward = lambda: backward(self, other, out)
        return out
    return __add__


def mul_with(backward):
    def __mul__(self, other):
        other = self._wrap(other)
        out = type(self)(self.data * other.data, (self, other), "*")
        out._backward = lambda: backward(self, other, out)
        return out
    return __mul__


def assign_add(self, other, out):
    self.grad = out.grad
    other.grad = out.grad


def assign_mul(self, other, out):
    self.grad = other.data * out.grad
    other.grad = self.data * out.grad


def swapped_mul(self, other, out):
    self.grad += self.data * out.grad
    other.grad += other.data * out.grad


def no_upstream_mul(self, other, out):
    self.grad += other.data
    other.grad += self.data


def add_no_wrap(self, other):
    out = type(self)(self.data + other.data, (self, other), "+")
    out._backward = lambda: None
    return out


def mul_no_wrap(self, other):
    out = type(self)(self.data * other.data, (self, other), "*")

    def _backward():
        self.grad += other.data * out.grad
        other.grad += self.data * out.grad
    out._backward = _backward
    return out


def add_forgot_closure(self, other):
    other = self._wrap(other)
    return type(self)(self.data + other.data, (self, other), "+")


def add_only_self_in_prev(self, other):
    other = self._wrap(other)
    out = Value.__add__(self, other)
    out._prev = (self,)
    return out


def add_in_place(self, other):
    self.data += self._wrap(other).data
    return self


def add_raises(self, other):
    return self.data / 0


def not_implemented(self, *args):
    raise NotImplementedError


def add_wrong_op(self, other):
    out = Value.__add__(self, other)
    out._op = "add"
    return out


def backward_with(order):
    """order(root) 返回调用 _backward 的节点序列；种子梯度照常设好。"""
    def backward(self):
        self.grad = 1.0
        for v in order(self):
            v._backward()
    return backward


def post_order(root):
    topo, seen = [], set()

    def build(v):
        if id(v) not in seen:
            seen.add(id(v))
            for p in v._prev:
                build(p)
            topo.append(v)
    build(root)
    return topo


def bfs_visited(root):
    queue, seen, out = [root], {id(root)}, []
    while queue:
        v = queue.pop(0)
        out.append(v)
        for p in v._prev:
            if id(p) not in seen:
                seen.add(id(p))
                queue.append(p)
    return out


def dfs_no_visited(root):
    stack = [root]
    while stack:
        v = stack.pop()
        yield v
        stack.extend(v._prev)


def dfs_visited(root):
    stack, seen = [root], set()
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        yield v
        stack.extend(v._prev)


def backward_recursive_no_visited(self):
    def go(v):
        v._backward()
        for p in v._prev:
            go(p)
    self.grad = 1.0
    go(self)


def backward_no_seed(self):
    for v in reversed(post_order(self)):
        v._backward()


def backward_seed_late(self):
    for v in reversed(post_order(self)):
        v._backward()
    self.grad = 1.0


def backward_resets(self):
    for v in post_order(self):
        v.grad = 0.0
    Value.backward(self)


def backward_raises(self):
    raise KeyError("oops")


BROKEN_OPS = [
    ("add 用 =", variant(__add__=add_with(assign_add)), ops.check_add_mul, "self.grad += "),
    ("mul 用 =", variant(__mul__=mul_with(assign_mul)), ops.check_add_mul, "self.grad += "),
    ("mul 没翻转", variant(__mul__=mul_with(swapped_mul)), ops.check_add_mul, "翻转值"),
    ("mul 没乘 out.grad", variant(__mul__=mul_with(no_upstream_mul)), ops.check_add_mul, "上游传来的 out.grad"),
    ("add 不包普通数", variant(__add__=add_no_wrap), ops.check_add_mul, "包成 Value"),
    ("mul 不包普通数", variant(__mul__=mul_no_wrap), ops.check_add_mul, "包成 Value"),
    ("add 返回 None", variant(__add__=lambda self, other: None), ops.check_add_mul, "忘了 return out"),
    ("add 返回 float", variant(__add__=lambda self, other: self.data + other.data), ops.check_add_mul,
     "新的 Value 节点"),
    ("add 没挂闭包", variant(__add__=add_forgot_closure), ops.check_add_mul, "out._backward = _backward"),
    ("add 的 _prev 不全", variant(__add__=add_only_self_in_prev), ops.check_add_mul, "_prev 里应当是它的输入"),
    ("add 原地修改", variant(__add__=add_in_place), ops.check_add_mul, "直接返回了输入节点本身"),
    ("add 抛异常", variant(__add__=add_raises), ops.check_add_mul, "抛出了异常 ZeroDivisionError"),
    ("add 未实现", variant(__add__=not_implemented), ops.check_add_mul, "NotImplementedError"),
]

POW_KXK = variant(__pow__=lambda self, k: Value._unary(self, self.data ** k, "**%g" % k,
                                                       lambda out: k * self.data ** k))
POW_NO_K = variant(__pow__=lambda self, k: Value._unary(self, self.data ** k, "**%g" % k,
                                                        lambda out: self.data ** (k - 1)))


def exp_assign(self):
    out = type(self)(math.exp(self.data), (self,), "exp")

    def _backward():
        self.grad = out.data * out.grad
    out._backward = _backward
    return out


BROKEN_UNARY = [
    ("pow 写成 k x^k", POW_KXK, "你写成了 k * x**k"),
    ("pow 漏了 k", POW_NO_K, "漏了系数 k"),
    ("exp 导数是 1", variant(exp=unary(math.exp, "exp", lambda x, out: 1.0)), "不是 1"),
    ("exp 用 =", variant(exp=exp_assign), "self.grad += "),
    ("tanh 用 out.data", variant(tanh=unary(math.tanh, "tanh", lambda x, out: out.data)), "不是 out.data 本身"),
    ("tanh 用输入", variant(tanh=unary(math.tanh, "tanh", lambda x, out: 1 - x * x)), "不是输入 self.data"),
    ("tanh 没平方", variant(tanh=unary(math.tanh, "tanh", lambda x, out: 1 - out.data)), "t 要平方"),
    ("tanh 正向错", variant(tanh=unary(lambda x: 1 / (1 + math.exp(-x)), "tanh", lambda x, out: 1.0)),
     "(a.tanh()).data 不对"),
    ("relu 写反", variant(relu=unary(lambda x: max(x, 0.0), "relu", lambda x, out: float(x <= 0))), "写反了"),
    ("relu 不截断", variant(relu=unary(lambda x: max(x, 0.0), "relu", lambda x, out: 1.0)), "负半轴"),
    ("relu 全是 0", variant(relu=unary(lambda x: max(x, 0.0), "relu", lambda x, out: 0.0)), "正半轴"),
    ("relu 用 out.data", variant(relu=unary(lambda x: max(x, 0.0), "relu", lambda x, out: out.data)),
     "不是 out.data"),
    ("relu 正向错", variant(relu=unary(lambda x: x, "relu", lambda x, out: 1.0)), "(a.relu()).data 不对"),
    ("exp 未实现", variant(exp=not_implemented), "NotImplementedError"),
    ("exp 返回 None", variant(exp=lambda self: None), "忘了 return out"),
    ("pow 抛异常", variant(__pow__=lambda self, k: self.data / 0), "抛出了异常 ZeroDivisionError"),
]

BROKEN_BACKWARD = [
    ("只调用自己的 _backward", backward_with(lambda root: [root]), "从来没被调用"),
    ("只往回走一层", backward_with(lambda root: [root, *root._prev]), "从来没被调用"),
    ("忘了 reversed", backward_with(post_order), "reversed(topo)"),
    ("广度优先 + visited", backward_with(bfs_visited), "梯度还没收齐"),
    ("深度优先 + visited", backward_with(dfs_visited), "梯度还没收齐"),
    ("深度优先没有 visited", backward_with(dfs_no_visited), "不止一次"),
    ("递归没有 visited", backward_recursive_no_visited, "不止一次"),
    ("没设种子", backward_no_seed, "self.grad = 1.0"),
    ("种子设晚了", backward_seed_late, "它的 grad 还是 0"),
    ("backward 未实现", not_implemented, "NotImplementedError"),
    ("backward 抛异常", backward_raises, "抛出了异常 KeyError"),
]


# _op 只是画图的标签（issue 11 第 13 条）：写成什么都不扣分；画图认不出时，公开检查多打印一句提醒
LABELLED = [
    ("add 写成 'add'", variant(__add__=add_wrong_op), ops.check_add_mul, None),
    ("relu 写成 'ReLU'", variant(relu=unary(lambda x: max(x, 0.0), "ReLU", lambda x, out: float(x > 0))),
     ops.check_unary_ops, None),
    ("relu 写成 'max'", variant(relu=unary(lambda x: max(x, 0.0), "max", lambda x, out: float(x > 0))),
     ops.check_unary_ops, None),
    ("exp 写成 'EXP'", variant(exp=unary(math.exp, "EXP", lambda x, out: out.data)), ops.check_unary_ops, None),
    ("exp 写成 'e'", variant(exp=unary(math.exp, "e", lambda x, out: out.data)), ops.check_unary_ops, "'e'"),
    ("pow 写成 'pow'", variant(__pow__=lambda self, k: Value._unary(self, self.data ** k, "pow",
                                                                  lambda out: k * self.data ** (k - 1))),
     ops.check_unary_ops, "'pow'"),
    ("mul 没有运算名", variant(__mul__=lambda self, other: _relabel(Value.__mul__(self, other), "")),
     ops.check_add_mul, "''"),
]


def _relabel(out, op):
    out._op = op
    return out


@pytest.mark.parametrize("name, engine, check, note", LABELLED, ids=[b[0] for b in LABELLED])
def test_op_labels_never_cost_points(name, engine, check, note, capsys):
    check(engine, report=False)  # 评分用的调用：什么都不打印，也不报错
    assert capsys.readouterr().out == ""
    check(engine)
    out = capsys.readouterr().out
    assert "公开测试通过" in out
    if note is None:
        assert "ℹ" not in out, out  # 画图认得这种写法
    else:
        assert "ℹ" in out and note in out and "不扣分" in out, out


def test_value_without_op_attribute_is_still_graded_and_drawn():
    def init(self, data, _children=(), _op=""):
        Value.__init__(self, data, _children, _op)
        del self._op
    Bare = variant(__init__=init)
    bw.check_backward(Bare, report=False)
    a = Bare(2.0)
    out = a * a
    out.backward()
    assert to_graph(out, names=dict(a=a)).find("a") is not None


@pytest.mark.parametrize("name, broken, check, hint", BROKEN_OPS, ids=[b[0] for b in BROKEN_OPS])
def test_broken_add_mul(name, broken, check, hint):
    with pytest.raises(CheckFailure) as err:
        check(broken, report=False)
    assert hint in str(err.value), str(err.value)


@pytest.mark.parametrize("name, broken, hint", BROKEN_UNARY, ids=[b[0] for b in BROKEN_UNARY])
def test_broken_unary(name, broken, hint):
    with pytest.raises(CheckFailure) as err:
        ops.check_unary_ops(broken, report=False)
    assert hint in str(err.value), str(err.value)


@pytest.mark.parametrize("name, backward, hint", BROKEN_BACKWARD, ids=[b[0] for b in BROKEN_BACKWARD])
@pytest.mark.parametrize("seed", [0, 7])
def test_broken_backward(name, backward, hint, seed):
    with pytest.raises(CheckFailure) as err:
        bw.check_backward(variant(backward=backward), seed=seed, report=False)
    assert hint in str(err.value), str(err.value)


def test_random_graphs_catch_order_and_closure_mistakes():
    for backward, hint in ((backward_with(dfs_visited), "梯度还没收齐"), (backward_with(bfs_visited), "梯度还没收齐")):
        with pytest.raises(CheckFailure) as err:
            bw.check_random_graphs(variant(backward=backward), report=False)
        assert hint in str(err.value)
    broken = variant(relu=unary(lambda x: max(x, 0.0), "relu", lambda x, out: float(x <= 0)))
    with pytest.raises(CheckFailure) as err:
        bw.check_random_graphs(broken, report=False, ops=("+", "relu", "c+"))
    assert "先让练习 1、2 的测试通过" in str(err.value)


@pytest.mark.parametrize("check", [bw.check_forks, bw.check_reused_nodes])
@pytest.mark.parametrize("broken", [variant(__add__=add_with(assign_add)), variant(__mul__=mul_with(assign_mul))],
                         ids=["add", "mul"])
def test_assignment_loses_fork_contributions(check, broken):
    with pytest.raises(CheckFailure) as err:
        check(broken, report=False)
    assert "self.grad += " in str(err.value), str(err.value)


# ---- zero_grad ----------------------------------------------------------------
@student
def zero_leaves_only(root):
    for v in graph_nodes(root):
        if not v._prev:
            v.grad = 0.0


@student
def zero_near_root(root):
    root.grad = 0.0
    for p in root._prev:
        p.grad = 0.0


@student
def zero_to_none(root):
    for v in graph_nodes(root):
        v.grad = None


@student
def zero_and_data(root):
    for v in graph_nodes(root):
        v.grad = v.data = 0.0


@student
def zero_not_done(root):
    raise NotImplementedError


BROKEN_ZERO = [
    ("只清叶子", zero_leaves_only, Value, "中间节点的 grad 没有清零"),
    ("只清输出附近", zero_near_root, Value, "叶子）节点的 grad 没有清零"),
    ("设成 None", zero_to_none, Value, "不是 None"),
    ("连 data 一起清", zero_and_data, Value, "改动了节点的 data"),
    ("未实现", zero_not_done, Value, "NotImplementedError"),
    ("backward 自己清零", zero_grad, variant(backward=backward_resets), "backward 不该自己清零"),
    ("不是函数", 3, Value, "应当是一个函数"),
]


@pytest.mark.parametrize("name, fn, engine, hint", BROKEN_ZERO, ids=[b[0] for b in BROKEN_ZERO])
def test_broken_zero_grad(name, fn, engine, hint):
    with pytest.raises(CheckFailure) as err:
        bw.check_zero_grad(fn, engine, report=False)
    assert hint in str(err.value), str(err.value)


# ---- 与层对照、神经元 ------------------------------------------------------------
@student
def buy_with_backward(*args):
    price = buy_apple_orange(*args)
    price.backward()
    return price


@student
def buy_new_leaves(apple, apple_num, orange, orange_num, tax):
    return Value((apple.data * apple_num.data + orange.data * orange_num.data) * tax.data)


@student
def buy_float(apple, apple_num, orange, orange_num, tax):
    return (apple.data * apple_num.data + orange.data * orange_num.data) * tax.data


@student
def buy_no_tax(apple, apple_num, orange, orange_num, tax):
    return apple * apple_num + orange * orange_num


@student
def sigmoid_from_data(v):
    return Value(1 / (1 + math.exp(-v.data)))


@student
def sigmoid_wrong_sign(v):
    return 1 / (1 + v.exp())


@student
def neuron_no_tanh(xs, ws, b):
    return sum((w * x for x, w in zip(xs, ws)), b)


@student
def neuron_no_bias(xs, ws, b):
    return sum((w * x for x, w in zip(xs, ws)), Value(0.0)).tanh()


@student
def neuron_relu(xs, ws, b):
    return sum((w * x for x, w in zip(xs, ws)), b).relu()


@student
def neuron_with_backward(xs, ws, b):
    out = neuron(xs, ws, b)
    out.backward()
    return out


BROKEN_APPS = [
    ("购物图里调用了 backward", apps.check_apple_orange, buy_with_backward, Value, "已经调用过一次 backward()"),
    ("购物图新建叶子", apps.check_apple_orange, buy_new_leaves, Value, "不要用 .data 取出数来另建 Value"),
    ("购物图返回 float", apps.check_apple_orange, buy_float, Value, "新的 Value 节点"),
    ("购物图忘了税", apps.check_apple_orange, buy_no_tax, Value, "price.data"),
    ("购物图用了翻转错的乘法", apps.check_apple_orange, buy_apple_orange, variant(__mul__=mul_with(swapped_mul)),
     "对照第 02 课的层"),
    ("sigmoid 用 .data 算", apps.check_sigmoid, sigmoid_from_data, Value, "不能用 math.exp(x.data)"),
    ("sigmoid 符号错", apps.check_sigmoid, sigmoid_wrong_sign, Value, "指数应当是 -x"),
    ("神经元忘了 tanh", apps.check_neuron, neuron_no_tanh, Value, "忘了最后的激活函数 tanh"),
    ("神经元忘了 b", apps.check_neuron, neuron_no_bias, Value, "忘了加偏置 b"),
    ("神经元用了 relu", apps.check_neuron, neuron_relu, Value, "不是 ReLU"),
    ("神经元里调用了 backward", apps.check_neuron, neuron_with_backward, Value, "已经调用过一次 backward()"),
    ("神经元的乘法翻转错", apps.check_neuron, neuron, variant(__mul__=mul_with(swapped_mul)), "x 和 w 的梯度对调了"),
]


@pytest.mark.parametrize("name, check, fn, engine, hint", BROKEN_APPS, ids=[b[0] for b in BROKEN_APPS])
def test_broken_apps(name, check, fn, engine, hint):
    # seed=3：神经元的第一组输入加权和 z < 0，ReLU 和“忘了 tanh”才分得开
    with pytest.raises(CheckFailure) as err:
        check(fn, engine, report=False, seed=3)
    assert hint in str(err.value), str(err.value)


# ---- 传错参数给检查函数本身 ----------------------------------------------------------
class Imported(Value):
    pass


@pytest.mark.parametrize("bad, hint", [
    (Value(1.0), "类 Value 本身"),
    (None, "是 None"),
    (Imported, "来自模块"),
    (variant(__init__=lambda self, data: setattr(self, "data", data)), "没有属性 .grad"),
])
def test_bad_value_class(bad, hint):
    for check in (ops.check_add_mul, bw.check_backward):
        with pytest.raises(CheckFailure) as err:
            check(bad, report=False)
        assert hint in str(err.value), str(err.value)


def test_bad_function_argument():
    with pytest.raises(CheckFailure, match="应当是一个函数"):
        apps.check_neuron(Value, Value, report=False)
    with pytest.raises(CheckFailure, match="来自模块"):
        apps.check_sigmoid(math.tanh, Value, report=False)
    with pytest.raises(CheckFailure, match="类 Value 本身"):
        apps.check_neuron(neuron, Value(2.0), report=False)


def test_unknown_op_name_is_a_programming_error():
    with pytest.raises(ValueError, match="ops 只能取"):
        ops.check_unary_ops(Value, ops=("sin",), report=False)


# ---- 参考计算和画图 ---------------------------------------------------------------
def test_shop_values_reproduce_the_book_and_the_layers():
    from course.reference.layers import AddLayer, MulLayer
    price, grads = apps.shop_with_layers(100.0, 2.0, 150.0, 3.0, 1.1)
    assert price == pytest.approx(715.0)
    assert grads == pytest.approx((2.2, 110.0, 3.3, 165.0, 650.0))
    # 随机的输入上与第 02 课的层逐个一致
    rng = np.random.default_rng(3)
    for _ in range(5):
        a, an, o, on, t = rng.uniform(1, 300, 5)
        m1, m2, add, m3 = MulLayer(), MulLayer(), AddLayer(), MulLayer()
        p = m3.forward(add.forward(m1.forward(a, an), m2.forward(o, on)), t)
        dall, dtax = m3.backward(1.0)
        da, do = add.backward(dall)
        want = m1.backward(da) + m2.backward(do) + (dtax,)
        got_price, got = apps.shop_with_layers(a, an, o, on, t)
        assert got_price == pytest.approx(p) and got == pytest.approx(want)


def test_reference_grads_match_numerical_and_engine():
    import numpy as np
    from course.gradcheck import numerical_gradient
    for seed in range(20):
        rng = np.random.default_rng(seed)
        leaves, steps = bw.random_program(rng, 3, 25, ("+", "*", "c+", "c*", "pow", "exp", "tanh", "relu"),
                                          chain=seed % 2 == 0)
        ref = bw.reference_grads(leaves, steps)
        num = numerical_gradient(lambda x: bw.run_program(list(x), steps)[-1], np.array(leaves))
        assert np.allclose(ref[:3], num, rtol=1e-5, atol=1e-7)
        regs = bw.run_program(leaves, steps, numeric=False, make=Value)
        regs[-1].backward()
        assert np.allclose([r.grad for r in regs], ref)
        assert np.allclose([expected_grads(regs[-1])[id(r)] for r in regs], ref)


def test_to_graph_shows_engine_grads_and_marks_mistakes():
    x, w, b = Value(2.0), Value(-0.5), Value(0.25)
    out = (w * x + b).tanh()
    out.backward()
    g = to_graph(out, names=dict(x=x, w=w, b=b), title="神经元")
    assert [n.kind for n in g.nodes].count("input") == 3 and g.output.value == pytest.approx(out.data)
    assert g.edge(g.find("x"), g.nodes[2]).grad == pytest.approx(x.grad)
    assert not any(e.mark for e in g.edges)
    assert "<svg" in g._repr_svg_() and "∂" not in g.to_svg()  # 只用了一次的叶子不另写 grad
    a = Value(1.5)
    out = a * a + a
    out.backward()
    assert to_graph(out, names=dict(a=a)).find("a").label == "a ∂4"  # 用了三次：写出总和 2a + 1


def test_to_graph_marks_a_wrongly_accumulated_node_not_its_correct_edges():
    """闭包用 = 时，两条边传回的值都对（各 2），错的是 a 收齐的 grad：标节点 a，不标这两条边。"""
    broken = variant(__add__=add_with(assign_add))
    a = broken(3.0)
    c = (a + a) * 2.0
    c.backward()
    g = to_graph(c, names=dict(a=a))
    node_a = g.find("a")
    assert [e.grad for e in g.out_edges(node_a)] == [2.0, 2.0]
    assert [e.mark for e in g.out_edges(node_a)] == [None, None]
    assert node_a.mark == "wrong" and "∂2≠4" in node_a.label  # 两条边各传回 2，a.grad 却只剩 2
    assert not any(e.mark for e in g.edges) and [n.mark for n in g.nodes].count("wrong") == 1
    svg = g.to_svg()
    assert svg.count('class="node wrong"') == 1 and 'class="edge wrong"' not in svg and "图例：名字或圆圈" in svg


def test_to_graph_marks_an_edge_whose_own_value_is_wrong():
    """不清零又 backward() 一次：加法节点残留了梯度（节点标出），它传回去的值也错了（边标出，写“应为”）。"""
    x = Value(0.5)
    s = x + 1.0
    f = s * 3.0
    f.backward()
    f.backward()  # f 的 grad 重新设为 1：× 传给 s 的值 3 是对的，s 却收到了 3 + 3
    g = to_graph(f, names=dict(x=x))
    plus, times = g.nodes[2], g.nodes[4]
    assert (plus.label, times.label) in (("+", "×"), ("+", "*"))
    into_times = g.edge(plus, times)
    assert into_times.grad == 3.0 and into_times.mark is None and times.mark is None
    assert plus.mark == "wrong"  # s.grad = 6，应为 3
    into_plus = g.edge(g.find("x"), plus)
    assert into_plus.grad == 6.0 and into_plus.mark == "wrong" and into_plus.expected == 3.0
    assert g.find("x").mark == "wrong"  # x.grad = 3 + 6 = 9，应为 3
    svg = g.to_svg()
    # 两个常数叶子（1 和 3）的 grad 也累加了两遍：x、1、3、+ 四个节点标出，× 和它的出边没有
    assert svg.count('class="node wrong"') == [n.mark for n in g.nodes].count("wrong") == 4
    assert 'class="edge wrong"' in svg and "应为 3" in svg


def test_to_graph_leaves_room_for_long_names():
    """长的叶子名字整个落在画面里（版面按名字的宽度留出左边的地方）。"""
    import re
    from course.graph.svg import text_width
    leaf = Value(2.0)
    out = leaf * 3.0
    out.backward()
    long = to_graph(out, names={"a_rather_long_leaf_name": leaf}).to_svg()
    min_x = float(re.search(r'<svg[^>]*viewBox="(-?[\d.]+) ', long).group(1))
    x = float(re.search(r'<text x="([-\d.]+)"[^>]*text-anchor="end"[^>]*>a_rather_long_leaf_name', long).group(1))
    assert x - text_width("a_rather_long_leaf_name") >= min_x


def test_to_graph_bad_input():
    with pytest.raises(TypeError, match="计算图里的节点"):
        to_graph(3.0)
    with pytest.raises(TypeError, match="names"):
        to_graph(Value(1.0), names=["a"])
    v = Value(0.0)
    for _ in range(250):
        v = v + 1.0
    with pytest.raises(ValueError, match="超过 200 个节点"):
        to_graph(v)
    assert len(graph_nodes(v)) == 501  # 深链不受递归深度限制


# ---- 学生版里还没写的方法：别的检查说“先完成练习 N” ------------------------------------------
def _release_value(*unfinished_methods):
    """像学生版那样，部分方法仍是 raise NotImplementedError()：代码在“notebook 单元”里编译，帧名就是方法名。"""
    ns = {}
    body = "".join("    def %s(self, *args):\n        raise NotImplementedError()\n\n" % m for m in unfinished_methods)
    exec(compile("class Unfinished:\n" + body, "<ipython-input-1>", "exec"), ns)
    return variant(**{m: getattr(ns["Unfinished"], m) for m in unfinished_methods})


@pytest.mark.parametrize("method, check, exercise", [
    ("__add__", lambda V: bw.check_backward(V, report=False), "先完成练习 1"),
    ("__add__", lambda V: bw.check_forks(V, report=False), "先完成练习 1"),
    ("tanh", lambda V: apps.check_neuron(neuron, V, report=False), "先完成练习 2"),
    ("backward", lambda V: bw.check_zero_grad(zero_grad, V, report=False), "先完成练习 3"),
])
def test_a_later_check_names_the_unfinished_exercise(method, check, exercise):
    with pytest.raises(CheckFailure) as err:
        check(_release_value(method))
    text = str(err.value)
    assert exercise in text and "NotImplementedError" in text, text
    assert "还没有实现" not in text  # 不把正在检查的这一项说成没写


def test_unfinished_reads_the_method_from_the_grading_side_message():
    exc = NotImplementedError()
    exc.remote_where = "\n  位置：notebook 单元的第 3 行（在 __mul__ 里）"
    assert ops.unfinished(exc) == "__mul__"
    exc.remote_where = "\n  位置：notebook 单元的第 3 行（在 hinge_loss 里）"
    assert ops.unfinished(exc) is None  # 不是引擎的方法：照常说“hinge_loss 还没有实现”
    assert ops.unfinished(ValueError("x")) is None
