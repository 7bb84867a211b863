"""第 06 课《自动微分》的检查函数（二）：backward() 的顺序、分叉、重复使用的节点、zero_grad。

练习 3：backward()：拓扑排序、种子梯度 1       check_backward
分叉处梯度相加、重复使用的节点                  check_forks、check_reused_nodes
练习 4：zero_grad                               check_zero_grad
随机计算图（菱形、长链、所有运算混在一起）       check_random_graphs

计算图写成一串“步骤”，同一串步骤既能用学生的 Value 跑，也能用普通的 float 跑：
float 版给出数值微分，再按步骤的逆序手工反向传播得到每个节点的参考梯度。
梯度不对时，同一个程序再搭一遍，这次给学生的每个 _backward 套上一层记录调用顺序，据此判断是没按
拓扑顺序、忘了 reversed、重复调用，还是闭包本身写错了（梯度对时不套：评分时每套一层、每记一次都是
一条跨进程的消息）。
"""
import math
import numbers

import numpy as np

from ..graph.engine import graph_nodes
from ..gradcheck import numerical_gradient
from ..boundary import getattrs
from ._core import check, diagnose, expect_close, fail, passed, rng_for
from .autodiff import ASSIGN, call, grads_of, probe_assign, run, value_class

__all__ = ["check_backward", "check_forks", "check_reused_nodes", "check_zero_grad", "check_random_graphs",
           "random_program", "run_program", "reference_grads", "check_program"]


# ---- 计算图“程序”：同一串运算既能用学生的 Value 跑，也能用普通的 float 跑 -------------
# 每一步 (运算, i, 参数)：结果追加到寄存器列表末尾；参数是另一个寄存器的下标或一个常数
def apply_step(step, regs, numeric):
    op, i, arg = step
    a = regs[i]
    if op in ("+", "*"):
        return a + regs[arg] if op == "+" else a * regs[arg]
    if op == "c+":
        return a + arg
    if op == "c*":
        return arg * a  # 常数在左边：顺便检查 __rmul__
    if op == "pow":
        return a ** arg
    if numeric:
        return {"exp": math.exp, "tanh": math.tanh, "relu": lambda v: max(v, 0.0)}[op](a)
    return getattr(a, op)()


def run_program(leaves, steps, numeric=True, make=float):
    regs = [make(v) for v in leaves]
    for step in steps:
        regs.append(apply_step(step, regs, numeric))
    return regs


def reference_grads(leaves, steps):
    """按拓扑顺序的逆序（就是步骤的逆序）手工做反向传播，返回每个寄存器的梯度。"""
    vals = run_program(leaves, steps)
    grads = [0.0] * len(vals)
    grads[-1] = 1.0
    n = len(leaves)
    for t in range(len(steps) - 1, -1, -1):
        (op, i, arg), g, out = steps[t], grads[n + t], vals[n + t]
        x = vals[i]
        if op in ("+", "*"):
            grads[i] += g * (1.0 if op == "+" else vals[arg])
            grads[arg] += g * (1.0 if op == "+" else x)
        else:
            local = {"c+": 1.0, "c*": arg, "exp": out, "tanh": 1 - out * out, "relu": float(x > 0)}
            grads[i] += g * (arg * x ** (arg - 1) if op == "pow" else local[op])
    return grads


def random_program(rng, n_leaves=3, n_steps=12, ops=("+", "*"), chain=False):
    """随机的计算图：节点常被重复使用（分叉、菱形），chain=True 时是一条长链。中间值保持在 ±4 以内。"""
    leaves = [float(v) for v in rng.choice([-1, 1], n_leaves) * rng.uniform(0.4, 1.6, n_leaves)]
    vals, steps = list(leaves), []

    def push(step):
        steps.append(step)
        vals.append(apply_step(step, vals, True))

    for _ in range(n_steps):
        n = len(vals)
        i = n - 1 if chain or rng.random() < 0.3 else int(rng.integers(n))
        op = ops[int(rng.integers(len(ops)))]
        arg = {"+": int(rng.integers(n)), "*": int(rng.integers(n)), "pow": [2, 3, -1][int(rng.integers(3))],
               "c+": float(rng.uniform(-1, 1)), "c*": float(rng.uniform(0.5, 1.5))}.get(op)
        step = (op, i, arg)
        x = vals[i]
        bad = (op == "relu" and abs(x) < 0.05) or (op == "pow" and not 0.3 < abs(x) < 1.5) or \
            (op == "exp" and x > 1.2)
        if bad or not 0.05 < abs(apply_step(step, vals, True)) < 4:
            step = ("c*", i, 0.5) if abs(x) > 1 else ("c+", i, 1.0 if x >= 0 else -1.0)
        push(step)
    used = {s[1] for s in steps} | {s[2] for s in steps if s[0] in ("+", "*")}
    for r in range(len(vals) - 1):  # 没被用到的节点都加进输出：每个节点都在通往输出的路上
        if r not in used:
            push(("+", len(vals) - 1, r))
    push(("c*", len(vals) - 1, float(rng.uniform(0.5, 2))))  # 随机的上游梯度
    return leaves, steps


# ---- 练习 3：backward ---------------------------------------------------------
NO_SEED = "输出节点的 grad 应为 1：backward 一开始要写 self.grad = 1.0（输出对自己的导数是 1）。"
SEED_LATE = "输出节点的 _backward 被调用时它的 grad 还是 0：先设 self.grad = 1.0，再往回传。"
NONE_CALLED = "backward 没有调用任何节点的 _backward：要对图里的每个节点调用一次。"
MISSING = ("有 %d 个节点的 _backward 从来没被调用：backward 只处理了输出附近的节点。"
           "先用拓扑排序收集整张图的所有节点，再逐个调用。")
TWICE = ("有节点的 _backward 被调用了不止一次（遍历时没有记下访问过的节点），同一份梯度被往回传了好几次。"
         "拓扑排序时用一个 visited 集合，让每个节点只出现一次。")
FORWARD_ORDER = "节点是按从输入到输出的顺序处理的：拓扑序列要反过来，for v in reversed(topo)。"
ORDER = ("有节点在它的梯度还没收齐时就调用了 _backward：只有用到它的节点都处理完，它的 grad 才是最终值。"
         "按拓扑排序的逆序处理节点（先把输入排好再把自己加进 topo，然后 reversed）。")
CLOSURE = "backward 的顺序没有问题，但有节点的梯度不对：先让练习 1、2 的测试通过。"


def _instrument(regs):
    """给每个运算节点的 _backward 套一层，记下调用的先后和当时的 grad。"""
    log = []
    for k, v in enumerate(regs):
        if list(v._prev):
            def wrapped(orig=v._backward, k=k, v=v):
                log.append((k, v.grad))
                return orig()
            v._backward = wrapped
    return log


def _order_hint(log, leaves, steps):
    n, root = len(leaves), len(leaves) + len(steps) - 1
    calls = [k for k, _ in log]
    if not calls:
        return NONE_CALLED
    if len(set(calls)) < len(calls):
        return TWICE
    missing = set(range(n, root + 1)) - set(calls)
    if missing:
        return MISSING % len(missing)
    where = {k: i for i, k in enumerate(calls)}
    edges = [(r, n + t) for t, (op, i, arg) in enumerate(steps)
             for r in ({i, arg} if op in ("+", "*") else {i}) if r >= n]
    early = [1 for r, user in edges if where[r] < where[user]]  # 输入比用到它的节点先处理
    if early:
        return FORWARD_ORDER if len(early) == len(edges) else ORDER
    if dict(log).get(root) == 0:
        return SEED_LATE
    return None


def _build(Value, leaves, steps, what):
    return run(lambda: run_program(leaves, steps, numeric=False, make=Value), "搭建「%s」" % what)


def _diagnose_order(Value, leaves, steps, what):
    """梯度不对时才调用：同一个程序重新搭一遍，这次记下每个 _backward 的调用顺序，据此给出提示（或 None）。

    只影响提示，不影响判定；重新搭图、反向传播时学生代码出什么错都当作看不出顺序问题。
    """
    try:
        regs = _build(Value, leaves, steps, what)
        log = _instrument(regs)
        regs[-1].backward()
    except Exception:  # noqa: BLE001  诊断用
        return None
    return _order_hint(log, leaves, steps)


def check_program(Value, leaves, steps, what):
    """用学生的 Value 跑一遍程序并 backward，与参考梯度和数值梯度对照。"""
    __tracebackhide__ = True
    vals = run_program(leaves, steps)
    regs = _build(Value, leaves, steps, what)
    datas = getattrs(regs[len(leaves):], "data", None)  # 评分时节点在学生的内核里：一条消息读完
    for r, data, v in zip(regs[len(leaves):], datas, vals[len(leaves):]):
        data = data if isinstance(r, Value) else None
        if not isinstance(data, numbers.Real) or abs(data - v) > 1e-9 * max(1, abs(v)):
            fail("%s：正向值不对。" % what, v, data, hint="先让练习 1、2 的测试通过。")
    run(regs[-1].backward, "%s：out.backward()" % what)
    root_grad = getattr(regs[-1], "grad", None)
    if isinstance(root_grad, (int, float)) and root_grad == 0:
        fail("%s：backward() 之后输出节点的 grad 是 0。" % what, show=False, hint=NO_SEED)
    want = np.array(reference_grads(leaves, steps))
    got = grads_of(regs)
    if not np.allclose(got, want, rtol=1e-7, atol=1e-9):
        hint = _diagnose_order(Value, leaves, steps, what) or (ASSIGN if probe_assign(Value) else CLOSURE)
        fail("%s：backward() 之后各节点的 grad 不对（按创建顺序列出，最后一个是输出）。" % what,
             want, got, hint=hint)
    num = numerical_gradient(lambda x: run_program(list(x), steps)[-1], np.array(leaves, dtype=np.float64))
    expect_close(got[:len(leaves)], num, "%s：输入节点的 grad（与数值微分对照）" % what, rtol=1e-5, atol=1e-7)


# 一个“迟到的分叉”：c 直接连到输出，又经过一条长链连到输出。不按拓扑顺序处理时，
# c 往往在长链那边的梯度到达之前就被处理了；两种加法顺序都试，遍历顺序碰巧对也躲不过
LATE_FORK = [("*", 0, 1), ("c*", 2, 0.5), ("c+", 3, 1.0), ("c*", 4, 0.8), ("c+", 5, 0.3)]


@check
def check_backward(Value, *, seed=0, report=True, n_random=3, n_steps=12):
    Value = value_class(Value)
    rng = rng_for(seed)
    x, y = (float(v) for v in rng.uniform(0.5, 1.5, 2))
    check_program(Value, [x], [("c*", 0, 2.0), ("c+", 1, 1.0), ("c*", 2, 3.0)], "一条链 3 * (2x + 1)")
    for last in (("+", 2, 6), ("+", 6, 2)):
        check_program(Value, [x, y], LATE_FORK + [last, ("c*", 7, 1.5)], "迟到的分叉 c + d（d 由 c 经一条长链算出）")
    for k in range(n_random):
        leaves, steps = random_program(rng, 3, n_steps, ("+", "*", "c+", "c*"), chain=k % 2 == 1)
        check_program(Value, leaves, steps, "随机计算图（%d 个运算）" % len(steps))
    if report:
        passed("backward() 的拓扑顺序")


@check
def check_forks(Value, *, seed=0, report=True):
    """a + a、a * a、a * b + a：同一个节点在一个运算或几个运算里出现两次。"""
    Value = value_class(Value)
    rng = rng_for(seed)
    x, y = (float(v) for v in rng.uniform(0.5, 2, 2) * rng.choice([-1, 1], 2))
    for text, build, want, assigned in (
            ("b = a + a", lambda a, b: a + a, 2.0, 1.0),
            ("b = a * a", lambda a, b: a * a, 2 * x, x),
            ("c = a * b + a", lambda a, b: a * b + a, y + 1.0, y)):
        a, b = Value(x), Value(y)
        out = run(lambda: build(a, b), text)
        run(out.backward, "(%s).backward()" % text.split(" = ")[0])
        expect_close(a.grad, want, "%s 之后 backward 得到的 a.grad" % text, inputs=dict(a=x, b=y),
                     hint=diagnose(a.grad, [(assigned, ASSIGN)], "分叉处各条路径传回的梯度要相加。"))
    check_program(Value, [x, y], [("+", 0, 1), ("*", 2, 0), ("+", 3, 2), ("c*", 4, 1.5)],
                  "菱形 (a + b) * a + (a + b)")
    if report:
        passed("分叉处梯度相加")


@check
def check_reused_nodes(Value, *, seed=0, report=True):
    """中间节点 u = x * y 被用在四处（其中 u * u 用了两次），x 也被用了两次。"""
    Value = value_class(Value)
    rng = rng_for(seed)
    leaves = [float(v) for v in rng.uniform(0.4, 1.2, 2) * rng.choice([-1, 1], 2)]
    steps = [("*", 0, 1), ("*", 2, 2), ("+", 3, 2), ("*", 0, 2), ("+", 4, 5), ("c*", 6, float(rng.uniform(0.5, 2)))]
    check_program(Value, leaves, steps, "u = x * y，f = u * u + u + x * u")
    if report:
        passed("重复使用的节点")


@check
def check_random_graphs(Value, *, seed=0, report=True, n_graphs=4, n_steps=16,
                        ops=("+", "*", "c+", "c*", "pow", "exp", "tanh", "relu")):
    """随机计算图：分叉、菱形、长链，所有运算混在一起。"""
    Value = value_class(Value)
    rng = rng_for(seed)
    for k in range(n_graphs):
        leaves, steps = random_program(rng, int(rng.integers(2, 5)), n_steps, tuple(ops), chain=k % 2 == 1)
        check_program(Value, leaves, steps, "随机计算图（%d 个运算）" % len(steps))
    if report:
        passed("随机计算图上的反向传播")


# ---- 练习 4：zero_grad --------------------------------------------------------
KEEPS_RESETTING = ("连续调用两次 backward()，梯度却和一次时一样：backward 不该自己清零。"
                   "梯度累加是有意的设计（PyTorch 也这样），清零交给 zero_grad。")
ZERO_NONE = "zero_grad 要把 grad 设成 0.0，不是 None：下一次 backward 里的 += 会出错。"
ZERO_LEAVES = "输入（叶子）节点的 grad 没有清零：zero_grad 要遍历整张图，从输出一直走到输入。"
ZERO_MIDDLE = ("中间节点的 grad 没有清零：下一次 backward 时，它们残留的旧梯度会混进新梯度一起往回传。"
               "整张图的每个节点都要清零。")


@check
def check_zero_grad(zero_grad, Value, *, seed=0, report=True):
    """两次 backward 会累加；zero_grad(out) 之后整张图的 grad 都是 0，再 backward 又得到正确的梯度。"""
    Value = value_class(Value)
    if not callable(zero_grad):
        fail("zero_grad 应当是一个函数，你传入的是 %s。" % type(zero_grad).__name__, show=False)
    rng = rng_for(seed)
    leaves = [float(v) for v in rng.uniform(0.5, 1.5, 2)]
    steps = [("*", 0, 1), ("+", 2, 0), ("*", 3, 3), ("c*", 4, 0.5)]  # out = 0.5 * (x*y + x)**2
    want = reference_grads(leaves, steps)
    regs = run(lambda: run_program(leaves, steps, numeric=False, make=Value), "搭建 0.5 * (x * y + x) ** 2")
    out = regs[-1]
    run(out.backward, "第一次 out.backward()")
    expect_close(grads_of(regs), want, "第一次 backward() 之后的梯度", hint="先让 backward 的测试通过。")
    run(out.backward, "第二次 out.backward()")
    if np.allclose(grads_of(regs[:2]), want[:2]):
        fail("第二次 backward() 之后输入的梯度没有变。", show=False, hint=KEEPS_RESETTING)
    nodes = run(lambda: graph_nodes(out), "遍历计算图")
    datas = [v.data for v in nodes]
    call(zero_grad, out, what="zero_grad(out)")
    if any(getattr(v, "grad", 0) is None for v in nodes):
        fail("zero_grad 之后有节点的 grad 是 None。", show=False, hint=ZERO_NONE)
    if [v.data for v in nodes] != datas:
        fail("zero_grad 改动了节点的 data：它只应当清零 grad。", show=False)
    left = [v for v in nodes if getattr(v, "grad", 0) != 0]
    if left:
        leaf = any(not list(v._prev) for v in left)
        fail("zero_grad 之后还有 %d 个节点的 grad 不是 0。" % len(left), show=False,
             hint=ZERO_LEAVES if leaf else ZERO_MIDDLE)
    run(out.backward, "zero_grad 之后的 out.backward()")
    expect_close(grads_of(regs), want, "zero_grad 之后再 backward() 的梯度",
                 hint="zero_grad 之后再反向传播，应当与第一次完全一样。")
    if report:
        passed("zero_grad")
