"""course/checks/chain_rule.py 的单元测试：正确的实现安静地通过，每种常见错误都得到它自己的提示。"""
import warnings

import numpy as np
import pytest

from course import numerical_diff as course_numerical_diff
from course.checks import CheckFailure
from course.checks.chain_rule import (
    backward_graph, check_apple_orange_backward, check_buy_apple, check_buy_apple_orange, check_dw, check_dz_dx,
    check_numerical_diff,
)
from conftest import student


# ---- 正确的实现 -------------------------------------------------------------
def buy_apple(apple, apple_num, tax):
    return apple * apple_num * tax


def buy_apple_orange(apple, apple_num, orange, orange_num, tax):
    apple_price, orange_price = apple * apple_num, orange * orange_num
    all_price = apple_price + orange_price
    return {"apple_price": apple_price, "orange_price": orange_price, "all_price": all_price,
            "price": all_price * tax}


def apple_orange_backward(apple, apple_num, orange, orange_num, tax, dout=1.0):
    dall_price = dout * tax
    return {"all_price": dall_price, "tax": dout * (apple * apple_num + orange * orange_num),
            "apple_price": dall_price, "orange_price": dall_price,
            "apple": dall_price * apple_num, "apple_num": dall_price * apple,
            "orange": dall_price * orange_num, "orange_num": dall_price * orange}


@student
def numerical_diff(f, x, h=1e-4):
    return (f(x + h) - f(x - h)) / (2 * h)


def dz_dx(x, y):
    return 2 * (x + y)


def dw_dx(x, y):
    return 9 * (3 * x + y ** 2) ** 2


def dw_dy(x, y):
    return 3 * (3 * x + y ** 2) ** 2 * 2 * y


@student
def numerical_diff_book(f, x):
    """书上的写法：h 是函数里的局部常数。"""
    h = 1e-4
    return (f(x + h) - f(x - h)) / (2 * h)


CORRECT = [
    (check_numerical_diff, (numerical_diff_book,)),
    # 别的合理的 h 也对（第 05 课的 numerical_gradient 用 1e-5）：原先要求默认值恰好是 1e-4、必须有参数 h，
    # 现在判据是结果的精度和中心差分的对称性
    (check_numerical_diff, (student(lambda f, x, h=1e-5: (f(x + h) - f(x - h)) / (2 * h)),)),
    (check_numerical_diff, (student(lambda f, x, h=1e-3: (f(x + h) - f(x - h)) / (2 * h)),)),
    (check_numerical_diff, (student(lambda f, x: (f(x + 1e-6) - f(x - 1e-6)) / 2e-6),)),
    (check_buy_apple, (buy_apple,)),
    (check_buy_apple_orange, (buy_apple_orange,)),
    (check_apple_orange_backward, (apple_orange_backward,)),
    (check_numerical_diff, (numerical_diff,)),
    (check_dz_dx, (dz_dx,)),
    (check_dw, (dw_dx, dw_dy)),
]


@pytest.mark.parametrize("checker, args", CORRECT, ids=lambda v: getattr(v, "__name__", ""))
def test_correct_passes_quietly(checker, args, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for seed in (0, 1, 913, 2024):
            checker(*args, seed=seed, report=False)
        checker(*args)
    out, err = capsys.readouterr()
    assert err == ""
    assert out.count("✔") == 1 and "隐藏测试" in out


# ---- 错误的实现：每个都要得到自己的提示 --------------------------------------
def _raise(exc):
    def fn(*args, **kwargs):
        raise exc
    return fn


def _edit(base, **changes):
    """在正确结果的基础上改掉几个键：changes 的值是 (apple, apple_num, orange, orange_num, tax, dout) 的函数。"""
    def fn(a, an, o, on, t, dout=1.0):
        out = dict(base(a, an, o, on, t, dout))
        for key, f in changes.items():
            out[key] = f(a, an, o, on, t, dout)
        return out
    return fn


def _backward_numerically(a, an, o, on, t, dout=1.0):
    pay = lambda a, an, o, on, t: (a * an + o * on) * t  # noqa: E731
    out = apple_orange_backward(a, an, o, on, t, dout)
    out["apple"] = dout * course_numerical_diff(lambda v: pay(v, an, o, on, t), a)
    return out


def _forward_edit(**changes):
    def fn(a, an, o, on, t):
        out = dict(buy_apple_orange(a, an, o, on, t))
        out.update({k: f(a, an, o, on, t) for k, f in changes.items()})
        return out
    return fn


BROKEN = [
    # 练习 1：buy_apple
    ("apple_no_tax", check_buy_apple, (lambda a, n, t: a * n,), "忘了乘消费税"),
    ("apple_one_plus_tax", check_buy_apple, (lambda a, n, t: a * n * (1 + t),), "不要再加 1"),
    ("apple_add_tax", check_buy_apple, (lambda a, n, t: a * n + t,), "不是加法"),
    ("apple_no_count", check_buy_apple, (lambda a, n, t: a * t,), "忘了乘个数"),
    ("apple_hardcoded", check_buy_apple, (lambda a, n, t: 220.0,), "不能把数字写死"),
    ("apple_none", check_buy_apple, (lambda a, n, t: None,), "忘了写 return"),
    ("apple_list", check_buy_apple, (lambda a, n, t: [a * n * t],), "你得到的是 list"),
    ("apple_exception", check_buy_apple, (_raise(ZeroDivisionError("division by zero")),), "ZeroDivisionError"),
    ("apple_not_implemented", check_buy_apple, (_raise(NotImplementedError()),), "还没有实现"),
    ("apple_not_callable", check_buy_apple, (220,), "不是可以调用的函数"),
    # 练习 1：buy_apple_orange
    ("both_tax_apples_only", check_buy_apple_orange,
     (_forward_edit(price=lambda a, an, o, on, t: a * an * t + o * on),), "只乘在了苹果上"),
    ("both_tax_oranges_only", check_buy_apple_orange,
     (_forward_edit(price=lambda a, an, o, on, t: a * an + o * on * t),), "只乘在了橘子上"),
    ("both_no_tax", check_buy_apple_orange, (_forward_edit(price=lambda a, an, o, on, t: a * an + o * on),),
     "忘了乘消费税"),
    ("both_wrong_count", check_buy_apple_orange, (_forward_edit(orange_price=lambda a, an, o, on, t: o * an),),
     "不是 apple_num"),
    ("both_taxed_subtotal", check_buy_apple_orange,
     (_forward_edit(apple_price=lambda a, an, o, on, t: a * an * t),), "税前金额"),
    ("both_hardcoded", check_buy_apple_orange,
     (lambda *args: {"apple_price": 200.0, "orange_price": 450.0, "all_price": 650.0, "price": 715.0},), "不能把数字写死"),
    ("both_none", check_buy_apple_orange, (lambda *args: None,), "忘了写 return"),
    ("both_tuple", check_buy_apple_orange, (lambda a, an, o, on, t: (a * an, o * on),), "应返回 dict"),
    ("both_missing_key", check_buy_apple_orange, (lambda *args: {"price": 715.0},), '缺少键 "apple_price"'),
    ("both_exception", check_buy_apple_orange, (_raise(KeyError("apple")),), "KeyError"),
    ("both_not_implemented", check_buy_apple_orange, (_raise(NotImplementedError()),), "还没有实现"),
    # 练习 2：apple_orange_backward
    ("back_no_tax", check_apple_orange_backward,
     (_edit(apple_orange_backward, apple=lambda a, an, o, on, t, d: d * an),), "忘了乘消费税"),
    ("back_flipped", check_apple_orange_backward,
     (_edit(apple_orange_backward, apple=lambda a, an, o, on, t, d: d * t * a,
            apple_num=lambda a, an, o, on, t, d: d * t * an),), "翻转值"),
    ("back_no_dout", check_apple_orange_backward,
     (lambda a, an, o, on, t, dout=1.0: apple_orange_backward(a, an, o, on, t, 1.0),), "忘了乘上游传来的 dout"),
    ("back_tax_apples_only", check_apple_orange_backward,
     (_edit(apple_orange_backward, tax=lambda a, an, o, on, t, d: d * a * an),), "只用了苹果的小计"),
    ("back_tax_oranges_only", check_apple_orange_backward,
     (_edit(apple_orange_backward, tax=lambda a, an, o, on, t, d: d * o * on),), "只用了橘子的小计"),
    ("back_tax_flipped", check_apple_orange_backward,
     (_edit(apple_orange_backward, tax=lambda a, an, o, on, t, d: d * t),), "不是 tax 自己"),
    ("back_all_price_no_local", check_apple_orange_backward,
     (_edit(apple_orange_backward, all_price=lambda a, an, o, on, t, d: d),), "局部导数"),
    ("back_subtotal_no_tax", check_apple_orange_backward,
     (_edit(apple_orange_backward, orange_price=lambda a, an, o, on, t, d: d),), "原样传给两个输入"),
    ("back_numerical", check_apple_orange_backward, (_backward_numerically,), "用数值微分算的"),
    ("back_hardcoded", check_apple_orange_backward,
     (lambda *args, **kw: {"all_price": 1.1, "tax": 650.0, "apple_price": 1.1, "orange_price": 1.1, "apple": 2.2,
                           "apple_num": 110.0, "orange": 3.3, "orange_num": 165.0},), "不能把数字写死"),
    ("back_none", check_apple_orange_backward, (lambda *args, **kw: None,), "忘了写 return"),
    ("back_list", check_apple_orange_backward, (lambda *args, **kw: [2.2, 110.0],), "你返回的是 list"),
    ("back_missing_key", check_apple_orange_backward,
     (lambda *args, **kw: {k: 1.0 for k in ("apple", "apple_num", "orange", "orange_num", "tax")},),
     '缺少键 "all_price"、"apple_price"、"orange_price"'),
    ("back_no_dout_param", check_apple_orange_backward,
     (lambda a, an, o, on, t: apple_orange_backward(a, an, o, on, t),), "TypeError"),
    ("back_not_implemented", check_apple_orange_backward, (_raise(NotImplementedError()),), "还没有实现"),
    # 练习 3：numerical_diff
    ("diff_forward", check_numerical_diff, (student(lambda f, x, h=1e-4: (f(x + h) - f(x)) / h),), "前向差分"),
    ("diff_backward", check_numerical_diff, (student(lambda f, x, h=1e-4: (f(x) - f(x - h)) / h),), "后向差分"),
    ("diff_precedence", check_numerical_diff,
     (student(lambda f, x, h=1e-4: (f(x + h) - f(x - h)) / 2 * h),), "运算优先级"),
    ("diff_no_two", check_numerical_diff, (student(lambda f, x, h=1e-4: (f(x + h) - f(x - h)) / h),), "除以 2 * h"),
    ("diff_tiny_default", check_numerical_diff,
     (student(lambda f, x, h=1e-50: (f(x + h) - f(x - h)) / (2 * h)),), "舍入误差"),
    ("diff_tiny_inside", check_numerical_diff,
     (student(lambda f, x, h=1e-4: (f(x + 1e-12) - f(x - 1e-12)) / (2 * 1e-12)),), "舍入误差"),
    ("diff_zero", check_numerical_diff, (student(lambda f, x, h=1e-4: (f(x + 1e-60) - f(x)) / 1e-60),), "舍入误差"),
    ("diff_ignores_h", check_numerical_diff,
     (student(lambda f, x, h=1e-4: (f(x + 1e-4) - f(x - 1e-4)) / 2e-4),), "没有用参数 h"),
    ("diff_forward_tiny_h", check_numerical_diff,
     (student(lambda f, x: (f(x + 1e-8) - f(x)) / 1e-8),), "不是中心差分"),  # 准到 1e-6，但不对称
    ("diff_forward_book_style", check_numerical_diff, (student(lambda f, x: (f(x + 1e-4) - f(x)) / 1e-4),),
     "前向差分"),
    ("diff_huge_default", check_numerical_diff,
     (student(lambda f, x, h=1e-1: (f(x + h) - f(x - h)) / (2 * h)),), "截断误差"),
    ("diff_tiny_book_style", check_numerical_diff, (student(lambda f, x: (f(x + 1e-50) - f(x - 1e-50)) / 2e-50),),
     "舍入误差"),
    ("diff_imported", check_numerical_diff, (course_numerical_diff,), "来自模块"),
    ("diff_not_callable", check_numerical_diff, (1e-4,), "不是可以调用的函数"),
    ("diff_none", check_numerical_diff, (student(lambda f, x, h=1e-4: None),), "忘了写 return"),
    ("diff_exception", check_numerical_diff, (student(lambda f, x, h=1e-4: f(x)[0]),), "抛出了异常"),
    ("diff_not_implemented", check_numerical_diff,
     (student(lambda f, x, h=1e-4: _raise(NotImplementedError())()),), "还没有实现"),
    # 练习 3：dz_dx
    ("dz_only_x", check_dz_dx, (lambda x, y: 2 * x,), "把 y 丢了"),
    ("dz_is_z", check_dz_dx, (lambda x, y: (x + y) ** 2,), "这是 z 本身"),
    ("dz_no_two", check_dz_dx, (lambda x, y: x + y,), "漏了外层导数"),
    ("dz_numerical", check_dz_dx, (lambda x, y: course_numerical_diff(lambda v: (v + y) ** 2, x),), "抛出了异常"),
    ("dz_numerical_scalar", check_dz_dx, (lambda x, y: (((x + 1e-3) + y) ** 2 - ((x - 1e-3) + y) ** 2) / 2e-3
                                          + 1e-8,), "不够精确"),
    ("dz_hardcoded", check_dz_dx, (lambda x, y: 10.0,), "dz_dx 的结果"),
    ("dz_none", check_dz_dx, (lambda x, y: None,), "忘了写 return"),
    ("dz_not_implemented", check_dz_dx, (_raise(NotImplementedError()),), "还没有实现"),
    ("dz_not_callable", check_dz_dx, ("2 * (x + y)",), "不是可以调用的函数"),
    # 练习 3：dw_dx、dw_dy
    ("dw_x_no_inner", check_dw, (lambda x, y: 3 * (3 * x + y ** 2) ** 2, dw_dy), "漏了内层导数 ∂t/∂x = 3"),
    ("dw_x_mixed", check_dw, (lambda x, y: 3 * (3 * x + y ** 2) ** 2 * (3 + 2 * y), dw_dy), "y**2 当作常数"),
    ("dw_x_is_w", check_dw, (lambda x, y: (3 * x + y ** 2) ** 3, dw_dy), "这是 w 本身"),
    ("dw_y_no_inner", check_dw, (dw_dx, lambda x, y: 3 * (3 * x + y ** 2) ** 2), "漏了内层导数 ∂t/∂y = 2y"),
    ("dw_y_two", check_dw, (dw_dx, lambda x, y: 6 * (3 * x + y ** 2) ** 2), "是 2y，不是 2"),
    ("dw_y_is_dx", check_dw, (dw_dx, dw_dx), "这是 ∂w/∂x 的结果"),
    ("dw_y_none", check_dw, (dw_dx, lambda x, y: None), "忘了写 return"),
    ("dw_y_exception", check_dw, (dw_dx, _raise(ValueError("bad"))), "ValueError"),
    ("dw_x_not_implemented", check_dw, (_raise(NotImplementedError()), dw_dy), "还没有实现"),
    ("dw_y_not_callable", check_dw, (dw_dx, None), "不是可以调用的函数"),
]


@pytest.mark.parametrize("name, checker, args, hint", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_gets_its_hint(name, checker, args, hint, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(CheckFailure) as info:
            checker(*args, seed=3, report=True)
    message = str(info.value)
    assert hint in message, message
    assert "✔" not in capsys.readouterr().out


def test_book_numbers_are_checked_first():
    """忘了乘 dout 的实现能通过书中的例子（dout = 1），要靠随后 dout ≠ 1 的随机输入才能发现。"""
    with pytest.raises(CheckFailure) as info:
        check_apple_orange_backward(lambda a, an, o, on, t, dout=1.0: apple_orange_backward(a, an, o, on, t, 1.0))
    assert "dout = 1\n" not in str(info.value) and "dout = " in str(info.value)


def test_backward_graph_marks_wrong_edges():
    g = backward_graph(apple_orange_backward)
    assert "全部正确" in g.title and not any(e.mark for e in g.edges)
    assert sorted(round(e.grad, 9) for e in g.edges) == sorted([2.2, 110, 3.3, 165, 1.1, 1.1, 1.1, 650])
    assert abs(g.output.value - 715) < 1e-9 and g.output.grad == 1.0

    bad = _edit(apple_orange_backward, tax=lambda a, an, o, on, t, d: d * a * an)
    g = backward_graph(bad, dout=2.0)
    wrong = [e for e in g.edges if e.mark == "wrong"]
    assert len(wrong) == 1 and wrong[0].grad == 400.0 and np.isclose(wrong[0].expected, 1300.0)
    assert "1 条边不对" in g.title and "应为 1300" in g.to_svg()


def test_backward_graph_bad_results():
    with pytest.raises(CheckFailure, match="忘了写 return"):
        backward_graph(lambda *args, **kw: None)
    with pytest.raises(CheckFailure, match="还没有实现"):
        backward_graph(_raise(NotImplementedError()))
    with pytest.raises(CheckFailure, match="应当是一个数"):
        backward_graph(_edit(apple_orange_backward, apple=lambda *args: "2.2"))
