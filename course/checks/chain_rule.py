"""第 01 课《计算图与链式法则》的检查函数。

练习 1：购物计算图的正向传播 buy_apple、buy_apple_orange
练习 2：苹果和橘子那张图的反向传播 apple_orange_backward（对照数值微分和精确公式）
练习 3：中心差分 numerical_diff，以及按链式法则手算的导数 dz_dx、dw_dx、dw_dy
backward_graph 把学生算出的反向值写到计算图上，写错的边标红并注明应为多少；练习 2 的公开检查没通过时，
先在 notebook 里显示诊断图（第一个出错的信号标红，见 course.checks.diagram），再报错。
"""
import inspect

import numpy as np

from ..gradcheck import numerical_diff as _num_diff
from ._core import (call, check, diagnose, expect_close, expect_number, fail, own_class, passed, rng_for,
                    same_shape)
from .diagram import shop_diagnosis, shop_graph, show_diagnosis

__all__ = ["check_buy_apple", "check_buy_apple_orange", "check_apple_orange_backward",
           "check_numerical_diff", "check_dz_dx", "check_dw", "backward_graph"]

BOOK = dict(apple=100.0, apple_num=2, orange=150.0, orange_num=3, tax=1.1)
INPUTS = ("apple", "apple_num", "orange", "orange_num", "tax")
FORWARD_KEYS = ("apple_price", "orange_price", "all_price", "price")
BACKWARD_KEYS = ("all_price", "tax", "apple_price", "orange_price", "apple", "apple_num", "orange", "orange_num")

NO_TAX = "忘了乘消费税 tax：支付金额是税前金额再乘 tax。"
FLIP = "乘法节点往回传的是“翻转值”：对单价的导数要乘个数，对个数的导数要乘单价，你把两者对调了。"
THROUGH_ADD = "忘了消费税那个乘法节点：传到加法节点的已经是 dout × tax，加法节点再把它原样传给两个输入。"
NO_DOUT = "这个值等于 dout = 1 时的结果：是不是忘了乘上游传来的 dout？"
HARDCODED = "换了输入，你的结果却还是书中例子的数：要用参数来算，不能把数字写死。"


def _same_as_book(got, book_value, expected):
    """got 等于书中例子的值时返回“写死了数字”的提示（用作 diagnose 的 default）。

    expected 是这一题的正确结果。只比较 expect_close 会接受的形状（与 expected 相同；expected 是一个数时，
    got 也只能是一个数或单元素数组），别的形状反正会因为形状不通过：不为它们转换类型、与书中的值比较。
    """
    shape = np.shape(expected)
    if not (same_shape(got, shape) or (shape == () and isinstance(got, np.ndarray) and got.size == 1)):
        return None
    try:
        return HARDCODED if np.allclose(np.asarray(got, dtype=float), book_value) else None
    except (TypeError, ValueError):
        return None


def _cases(seed, n=3):
    """书中的数字，加上 n 组随机的单价、个数和税率。"""
    rng = rng_for(seed)
    out = [dict(BOOK)]
    for _ in range(n):
        out.append(dict(apple=round(float(rng.uniform(20, 300)), 1), apple_num=int(rng.integers(1, 10)),
                        orange=round(float(rng.uniform(20, 300)), 1), orange_num=int(rng.integers(1, 10)),
                        tax=round(float(rng.uniform(1.03, 1.25)), 3)))
    return out


def _expect_dict(value, keys, what):
    __tracebackhide__ = True
    need = "、".join('"%s"' % k for k in keys)
    if value is None:
        fail("%s 是 None：是不是忘了写 return？应返回一个 dict，键为 %s。" % (what, need), show=False)
    if not isinstance(value, dict):
        fail("%s 应返回 dict（字典），你返回的是 %s。写成 return {\"%s\": ..., ...} 的样子。"
             % (what, type(value).__name__, keys[0]), show=False)
    missing = [k for k in keys if k not in value]
    if missing:
        fail("%s 返回的 dict 缺少键 %s（需要的键：%s）。" % (what, "、".join('"%s"' % k for k in missing), need),
             show=False)
    return value


# ---- 练习 1：正向传播 -------------------------------------------------------
@check
def check_buy_apple(fn, *, seed=0, report=True):
    """buy_apple(apple, apple_num, tax) 应返回 apple * apple_num * tax，也要能处理数组和 0 个。"""
    rng = rng_for(seed)
    cases = [(c["apple"], c["apple_num"], c["tax"]) for c in _cases(seed)]
    cases.append((float(rng.uniform(20, 300)), 0, 1.1))
    cases.append((rng.uniform(20, 300, size=5), rng.integers(0, 6, size=5), float(rng.uniform(1.0, 1.2))))
    for a, n, t in cases:
        got = call(fn, a, n, t, what="buy_apple(apple, apple_num, tax)")
        hint = diagnose(got, [(a * n, NO_TAX), (a * n * (1 + t), "tax 已经是 1.1 这样的倍数（含 10% 的税），直接相乘，不要再加 1。"),
                              (a * n + t, "消费税节点是乘法节点，不是加法。"), (a * t, "忘了乘个数 apple_num。")],
                        default=_same_as_book(got, 220.0, a * n * t))
        expect_close(got, a * n * t, "支付金额", hint=hint, inputs=dict(apple=a, apple_num=n, tax=t))
    if report:
        passed("buy_apple 的正向传播正确")


@check
def check_buy_apple_orange(fn, *, seed=0, report=True):
    """buy_apple_orange(...) 应返回 dict：apple_price、orange_price、all_price（都是税前）和 price。"""
    rng = rng_for(seed)
    cases = _cases(seed)
    cases.append(dict(apple=float(rng.uniform(20, 300)), apple_num=0, orange=float(rng.uniform(20, 300)),
                      orange_num=int(rng.integers(1, 6)), tax=1.1))
    cases.append(dict(apple=rng.uniform(20, 300, 4), apple_num=rng.integers(0, 6, 4), orange=rng.uniform(20, 300, 4),
                      orange_num=rng.integers(0, 6, 4), tax=rng.uniform(1.0, 1.2, 4)))
    what = "buy_apple_orange(apple, apple_num, orange, orange_num, tax)"
    book = dict(apple_price=200.0, orange_price=450.0, all_price=650.0, price=715.0)
    for c in cases:
        a, an, o, on, t = (c[k] for k in INPUTS)
        out = _expect_dict(call(fn, a, an, o, on, t, what=what), FORWARD_KEYS, what)
        ap, op = a * an, o * on
        before_tax = "计算图里的 %s 是税前金额，消费税在最后一个乘法节点才乘。"
        expected = {
            "apple_price": (ap, [(ap * t, before_tax % "apple_price")]),
            "orange_price": (op, [(o * an, "橘子的金额要乘橘子的个数 orange_num，不是 apple_num。"),
                                  (op * t, before_tax % "orange_price")]),
            "all_price": (ap + op, [((ap + op) * t, before_tax % "all_price")]),
            "price": ((ap + op) * t, [(ap * t + op, "消费税只乘在了苹果上：要先把两种水果加起来，再乘 tax。"),
                                      (ap + op * t, "消费税只乘在了橘子上：要先把两种水果加起来，再乘 tax。"),
                                      (ap + op, NO_TAX), ((ap + op) * (1 + t), "tax 是倍数，直接相乘，不要再加 1。")]),
        }
        for key in FORWARD_KEYS:
            value, mistakes = expected[key]
            hint = diagnose(out[key], mistakes, default=_same_as_book(out[key], book[key], value))
            expect_close(out[key], value, '返回的 dict 里的 "%s"' % key, hint=hint, inputs=c)
    if report:
        passed("buy_apple_orange 的正向传播正确")


# ---- 练习 2：反向传播 -------------------------------------------------------
def _reference_backward(a, an, o, on, t, d):
    """按“上游值 × 局部导数”从右往左算出的每条边上的反向值。"""
    return {"all_price": d * t, "tax": d * (a * an + o * on), "apple_price": d * t, "orange_price": d * t,
            "apple": d * t * an, "apple_num": d * t * a, "orange": d * t * on, "orange_num": d * t * o}


def _numerical_backward(c, d):
    """同样的量用数值微分（中心差分）算一遍：支付金额对每个输入和中间值的导数，再乘 dout。"""
    args = [float(c[k]) for k in INPUTS]
    pay = lambda a, an, o, on, t: (a * an + o * on) * t  # noqa: E731
    grads = {}
    for i, key in enumerate(INPUTS):
        grads[key] = d * _num_diff(lambda v, i=i: pay(*(args[:i] + [v] + args[i + 1:])), args[i])
    a, an, o, on, t = args
    grads["all_price"] = d * _num_diff(lambda s: s * t, a * an + o * on)
    grads["apple_price"] = d * _num_diff(lambda s: (s + o * on) * t, a * an)
    grads["orange_price"] = d * _num_diff(lambda s: (a * an + s) * t, o * on)
    return grads


def _backward_mistakes(a, an, o, on, t, d):
    """常见错误在每个键上会得到的值，以及对应的提示。"""
    local = "乘法节点往回传要乘另一个输入 tax（局部导数），你只传回了上游的 dout。"
    m = {
        "all_price": [(d, local), (d * (a * an + o * on), "传给 all_price 的是 dout × tax（另一个输入），不是乘它自己。")],
        "tax": [(d * a * an, "tax 的导数只用了苹果的小计：tax 乘的是两种水果的合计 all_price，导数是 dout × all_price。"),
                (d * o * on, "tax 的导数只用了橘子的小计：tax 乘的是两种水果的合计 all_price，导数是 dout × all_price。"),
                (d * t, "乘法节点传给 tax 的是 dout × all_price（另一个输入的翻转值），不是 tax 自己。")],
        "apple_price": [(d, THROUGH_ADD)],
        "orange_price": [(d, THROUGH_ADD)],
        "apple": [(d * an, NO_TAX), (d * t * a, FLIP), (d * t, "到了 × 节点还要乘另一个输入 apple_num。")],
        "apple_num": [(d * a, NO_TAX), (d * t * an, FLIP), (d * t, "到了 × 节点还要乘另一个输入 apple。")],
        "orange": [(d * on, NO_TAX), (d * t * o, FLIP), (d * t, "到了 × 节点还要乘另一个输入 orange_num。")],
        "orange_num": [(d * o, NO_TAX), (d * t * on, FLIP), (d * t, "到了 × 节点还要乘另一个输入 orange。")],
    }
    if d != 1:
        ref1, m1 = _reference_backward(a, an, o, on, t, 1.0), _backward_mistakes(a, an, o, on, t, 1.0)
        for k in m:
            m[k] = m[k] + [(ref1[k], NO_DOUT)] + m1[k]
    return m


@check
def check_apple_orange_backward(fn, *, seed=0, report=True, trials=3):
    """apple_orange_backward 的每个键都要与数值微分和链式法则的精确结果一致，dout 不等于 1 时也一样。"""
    rng = rng_for(seed)
    what = "apple_orange_backward(apple, apple_num, orange, orange_num, tax, dout)"
    book = _reference_backward(*(BOOK[k] for k in INPUTS), 1.0)
    for i, c in enumerate(_cases(seed, trials)):
        d = 1.0 if i == 0 else round(float(rng.choice([-1.0, 1.0]) * rng.uniform(1.5, 3.0)), 2)
        out = _expect_dict(call(fn, *(c[k] for k in INPUTS), dout=d, what=what), BACKWARD_KEYS, what)
        ref, num = _reference_backward(*(c[k] for k in INPUTS), d), _numerical_backward(c, d)
        mistakes = _backward_mistakes(*(c[k] for k in INPUTS), d)
        inputs = dict(c, dout=d)
        if report:  # 有信号不对时先画出诊断图；隐藏测试（report=False）不画
            show_diagnosis(lambda: shop_diagnosis(c, d, out))
        for key in BACKWARD_KEYS:
            name = '返回的 dict 里的 "%s"（支付金额对 %s 的导数）' % (key, key)
            hint = diagnose(out[key], mistakes[key], default=_same_as_book(out[key], book[key], num[key]) if i else None)
            got = expect_close(out[key], num[key], name, hint=hint, inputs=inputs, rtol=1e-6, atol=1e-6)
            if not np.isclose(got, ref[key], rtol=1e-12, atol=1e-12):
                fail("%s 与精确值 %r 差了 %.1e（你的是 %r）。" % (name, ref[key], abs(got - ref[key]), got),
                     inputs=inputs, show=False,
                     hint="看起来是用数值微分算的。这个练习要用局部导数按链式法则手算，结果是精确的。")
    if report:
        passed("apple_orange_backward 的反向传播正确（已和数值微分对照）")


@check
def backward_graph(fn, apple=100.0, apple_num=2, orange=150.0, orange_num=3, tax=1.1, dout=1.0):
    """画出苹果和橘子的计算图，把 fn 算出的反向值写在边上；不对的边标红，并注明应为多少。"""
    c = dict(zip(INPUTS, (apple, apple_num, orange, orange_num, tax)))
    what = "apple_orange_backward(apple, apple_num, orange, orange_num, tax, dout)"
    out = _expect_dict(call(fn, apple, apple_num, orange, orange_num, tax, dout=dout, what=what), BACKWARD_KEYS, what)
    grads = {key: expect_number(out[key], '返回的 dict 里的 "%s"' % key) for key in BACKWARD_KEYS}
    g = shop_graph(c, expect_number(dout, "dout"), grads)
    if g is None:
        fail("backward_graph 只画得了一组数：单价、个数、税率和 dout 都要是数（不能是数组）。", show=False)
    ref = _reference_backward(apple, apple_num, orange, orange_num, tax, dout)
    wrong = 0
    for e in g.edges:  # 边名 "dapple" 对应键 "apple"
        if not np.isclose(e.grad, ref[e.name[1:]], rtol=1e-9, atol=1e-12):
            e.mark, e.expected, wrong = "wrong", ref[e.name[1:]], wrong + 1
    g.title = "你的反向值：全部正确" if not wrong else "你的反向值：%d 条边不对（带 ✗ 的橙色虚线，绿字是应有的值）" % wrong
    return g


# ---- 练习 3：数值微分与链式法则 ---------------------------------------------
# (f, f', 取点的范围)。判据是“结果准到约 1e-6（相对误差）”，而不是“h 必须是 1e-4”：
# h 在 1e-7 到 1e-3 之间的中心差分都能做到；前向差分、h 太小（舍入误差）或太大（截断误差）都做不到。
_TEST_FUNCS = [(lambda x: x ** 3 - 2 * x, lambda x: 3 * x ** 2 - 2, (1.5, 3.0)),
               (np.exp, np.exp, (2.0, 4.0)), (np.sin, np.cos, (-2.0, 2.0))]
DIFF_RTOL, DIFF_ATOL = 1e-6, 1e-7
ROUNDING = ("h 太小，舍入误差会淹没结果（x + h 甚至可能和 x 是同一个浮点数）；"
            "h 取 1e-4 或 1e-5 这一带（书里用 1e-4）。")


def _diff_mistakes(f, x, h):
    central = lambda s: (f(x + s) - f(x - s)) / (2 * s)  # noqa: E731
    return [((f(x + h) - f(x)) / h, "这是前向差分 (f(x+h) - f(x)) / h，误差和 h 同阶，太大了；改用中心差分。"),
            ((f(x) - f(x - h)) / h, "这是后向差分，误差和 h 同阶，太大了；改用中心差分。"),
            ((f(x + h) - f(x - h)) / 2 * h, "运算优先级：/ 2*h 等于先除以 2 再乘 h，要写成 / (2 * h)。"),
            ((f(x + h) - f(x - h)) / h, "x + h 和 x - h 相距 2h，要除以 2 * h。")] + \
        [(central(s), ROUNDING) for s in (1e-10, 1e-12, 1e-14)] + \
        [(central(s), "h = %g 太大，差分公式本身的误差（截断误差）太大；h 取 1e-4 或 1e-5 这一带。" % s)
         for s in (1e-1, 1e-2)]


def _guess_h(fn):
    """学生实际用的 h：对 f(v) = v**3 在 0 处，中心差分、前向差分、后向差分都恰好给出 h**2。"""
    try:
        with np.errstate(all="ignore"):
            got = float(fn(lambda v: v ** 3, 0.0))
    except Exception:  # 只用来挑提示，出错时由正式的检查报告
        return None
    return got ** 0.5 if np.isfinite(got) and got > 0 else None


@check
def check_numerical_diff(fn, *, seed=0, report=True):
    """numerical_diff(f, x, h=1e-4) 应是中心差分：结果准到约 1e-6，传入 h 时要真的用它。

    和书一样把 h = 1e-4 写在函数里面、不设参数 h 的写法也是对的；默认的 h 取 1e-5 等别的合理值也行。
    """
    if not callable(fn):
        fail("numerical_diff 应当是函数，你传入的是 %s（不是可以调用的函数）。" % type(fn).__name__, show=False)
    own_class(fn, "numerical_diff")
    rng = rng_for(seed)
    try:
        has_h = "h" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        has_h = False
    guess = _guess_h(fn)
    hs = sorted({1e-4} | ({guess} - {None}))
    for f, df, (lo, hi) in _TEST_FUNCS:
        x = float(rng.uniform(lo, hi))
        what = "numerical_diff(f, x)"
        got = expect_number(call(fn, f, x, what=what), "%s 的返回值" % what)
        tiny = got == 0.0 or (guess is not None and guess < 1e-8)
        hint = ROUNDING if tiny else diagnose(got, [m for h in hs for m in _diff_mistakes(f, x, h)])
        expect_close(got, df(x), "%s 的结果（与真正的导数对照）" % what, hint=hint, inputs=dict(x=x),
                     rtol=DIFF_RTOL, atol=DIFF_ATOL)
        if has_h:  # 有参数 h，就要真的用它
            what = "numerical_diff(f, x, h=0.01)"
            got = expect_number(call(fn, f, x, h=1e-2, what=what), "%s 的返回值" % what)
            hint = diagnose(got, [(_num_diff(f, x, h), "你的函数没有用参数 h：传入 h=0.01 时结果和默认的 h 一样。")
                                  for h in hs] + _diff_mistakes(f, x, 1e-2))
            expect_close(got, _num_diff(f, x, 1e-2), "%s 的结果" % what, hint=hint, inputs=dict(x=x),
                         rtol=1e-7, atol=1e-10)
    # 前向差分配上很小的 h 也能准到 1e-6，只有对称性能分辨：偶函数 v**2 在 0 处的中心差分恰好是 0
    got = expect_number(call(fn, lambda v: v ** 2, 0.0, what="numerical_diff(f, 0)"), "numerical_diff 的返回值")
    if abs(got) > 1e-12:
        fail("对 f(v) = v**2，numerical_diff(f, 0) 应当是 0（中心差分左右对称），你的是 %r。" % got, show=False,
             hint="看起来不是中心差分：要用 (f(x+h) - f(x-h)) / (2*h)，在 x 的左右两边各取一点。")
    if report:
        passed("numerical_diff 是正确的中心差分" if has_h else
               "numerical_diff 是正确的中心差分（你和书上一样把 h 写在了函数里面；想试别的 h 时，把它改成参数 h=1e-4）")


def _check_derivative(fn, name, z, exact, mistakes, points, var):
    """在若干点上把 fn(x, y) 先与数值导数（对 var 求导）对照，再与精确导数对照。"""
    __tracebackhide__ = True
    for x, y in points:
        got = call(fn, x, y, what="%s(x, y)" % name)
        want = exact(x, y)
        if np.ndim(x) == 0:
            num = _num_diff(lambda v: z(v, y), x) if var == "x" else _num_diff(lambda v: z(x, v), y)
            expect_close(got, num, "%s 的结果（与数值微分对照）" % name, hint=diagnose(got, mistakes(x, y)),
                         inputs=dict(x=x, y=y), rtol=1e-6, atol=1e-6)
        expect_close(got, want, "%s 的结果" % name, hint=diagnose(got, mistakes(x, y), default=(
            "结果只是接近，不够精确：是不是用数值微分算的？这里要按链式法则写出公式。" if np.ndim(x) == 0 else None)),
            inputs=dict(x=x, y=y), rtol=1e-9, atol=1e-9)


def _points(seed, fixed, lo, hi):
    """一个固定的点、四个随机的点，再加一对形状为 (5,) 的数组。"""
    rng = rng_for(seed)
    pts = [fixed] + [tuple(float(v) for v in rng.uniform(lo, hi, 2)) for _ in range(4)]
    return pts + [tuple(rng.uniform(lo, hi, (2, 5)))]


@check
def check_dz_dx(fn, *, seed=0, report=True):
    """z = (x + y)**2 的 ∂z/∂x = 2(x + y)，与数值微分对照；x、y 也可以是数组。"""
    mistakes = lambda x, y: [(2 * x, "只对 x 求了导、把 y 丢了：z = t**2，t = x + y，∂z/∂x = 2t · ∂t/∂x。"),  # noqa: E731
                             ((x + y) ** 2, "这是 z 本身，不是导数。"),
                             (x + y, "漏了外层导数 ∂z/∂t = 2t 里的 2。")]
    _check_derivative(fn, "dz_dx", lambda x, y: (x + y) ** 2, lambda x, y: 2 * (x + y), mistakes,
                      _points(seed, (2.0, 3.0), -3, 3), "x")
    if report:
        passed("dz_dx 与数值微分一致")


@check
def check_dw(dw_dx, dw_dy, *, seed=0, report=True):
    """w = (3x + y**2)**3：∂w/∂x = 9t**2，∂w/∂y = 6y·t**2，其中 t = 3x + y**2。"""
    t = lambda x, y: 3 * x + y ** 2  # noqa: E731
    w = lambda x, y: t(x, y) ** 3  # noqa: E731
    mx = lambda x, y: [(3 * t(x, y) ** 2, "漏了内层导数 ∂t/∂x = 3：∂w/∂x = 3t**2 · 3。"),  # noqa: E731
                       (w(x, y), "这是 w 本身，不是导数。"),
                       (3 * t(x, y) ** 2 * (3 + 2 * y), "∂t/∂x 只对 x 求导，y**2 当作常数，所以是 3。")]
    my = lambda x, y: [(3 * t(x, y) ** 2, "漏了内层导数 ∂t/∂y = 2y：∂w/∂y = 3t**2 · 2y。"),  # noqa: E731
                       (6 * t(x, y) ** 2, "∂t/∂y 是 2y，不是 2。"),
                       (9 * t(x, y) ** 2, "这是 ∂w/∂x 的结果；对 y 求导时内层导数是 2y。"),
                       (w(x, y), "这是 w 本身，不是导数。")]
    pts = _points(seed, (1.0, 2.0), -1.5, 1.5)
    _check_derivative(dw_dx, "dw_dx", w, lambda x, y: 9 * t(x, y) ** 2, mx, pts, "x")
    _check_derivative(dw_dy, "dw_dy", w, lambda x, y: 6 * y * t(x, y) ** 2, my, pts, "y")
    if report:
        passed("dw_dx、dw_dy 与数值微分一致")
