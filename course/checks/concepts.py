"""概念题的检查：学生写的小函数 qN(...)（check_quiz），以及选择题和读图填数。

每道概念题都要学生写一个小函数，从题目里的具体数字算出答案，例如 `def q2(apple, apple_num, ...)`。
公开测试用题目里那组数，只说对不对；不对时给一条讲道理的提示，这条提示对任何错的答案都一样，
从不写出正确的值，也不会因为答案不同而不同，所以一个一个地试不出答案。隐藏测试换几组学生没见过的数：
把公开那组的答案写死的函数拿不到隐藏测试的分。

公开测试的单元里只有正确答案的摘要（quiz_digest：数取 6 位有效数字、字符串去掉空格以后的散列），
参考答案的函数在答案文件夹里（course/reference/quizzes.py），只有隐藏测试导入它：学生版的课程包里没有答案。

    check_quiz(globals().get("q2"), "01-q2", cases=[(200, 2, 150, 3, 1.1)], expect=["9c1e…"], hint="……")  # 公开
    _check_quiz(globals().get("q2"), "01-q2", cases=[(80, 4, 150, 3, 1.08)], ref=_reference("01-q2"),
                report=False)                                                                          # 隐藏

题号 "01-q2" 不给学生看：消息里这道题叫“第 2 道概念题”（从题号末尾的数字得来）。提示里的简单 LaTeX
（如 $10^{-7}$）打印前换成纯文本（1e-7）。

选择题 check_choice（正确答案只以摘要 digest(题号, 答案) 写在测试单元里）和读图填数 check_value 仍然可用，
但课程的概念题不再用选择题：逐个选项配提示的选择题，一试就知道答案。
"""
import copy
import hashlib
import re

import numbers

import numpy as np

from ..fmt import fmt
from ._core import CheckFailure, call, check, expect_number, fail, passed

__all__ = ["check_quiz", "quiz_digest", "digest", "normalize_choice", "check_choice", "check_value", "quiz_name", "plain_text"]

_SALT = "backprop-zh/concept"


def _spaced(text):
    """英文、数字后面接汉字时空一格（“dApple 不对”），汉字后面不空（“第 1 道概念题不对”）。"""
    return text + " " if text and text[-1].isascii() and text[-1].isalnum() else text


def quiz_name(qid, what=None):
    """给学生看的题目名称：总是“第 N 道概念题”，不露出 "05-q1" 这样的内部题号。"""
    if what:
        m = re.fullmatch(r"\s*(?:第\s*)?概念题\s*(\d+)\s*", what) or re.fullmatch(r"\s*第\s*(\d+)\s*道概念题\s*", what)
        return "第 %s 道概念题" % m.group(1) if m else what
    m = re.search(r"q(\d+)$", str(qid))
    return "第 %s 道概念题" % m.group(1) if m else "这道概念题"


_SUPERSCRIPT = str.maketrans("0123456789-+", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺")
_SYMBOLS = {"cdot": "·", "times": "×", "approx": "≈", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥",
            "varepsilon": "ε", "epsilon": "ε", "delta": "δ", "sim": "~", "infty": "∞", "sum": "Σ", "partial": "∂"}


def _math_to_text(expr):
    expr = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", expr)
    expr = re.sub(r"(?<![\w.])10\^\{?(-?\d+)\}?", r"1e\1", expr)  # 10^{-7} -> 1e-7，和代码里的写法一样
    expr = re.sub(r"\^\{?([-+]?\d+)\}?", lambda m: m.group(1).translate(_SUPERSCRIPT), expr)
    expr = re.sub(r"\\([A-Za-z]+)", lambda m: _SYMBOLS.get(m.group(1), m.group(1)), expr)
    return expr.replace("{", "").replace("}", "")


def plain_text(text):
    """把提示里 $...$ 之间的简单 LaTeX 换成纯文本：检查的消息是纯文本，不会被渲染成公式。"""
    if not isinstance(text, str) or "$" not in text:
        return text
    return re.sub(r"\$([^$]+)\$", lambda m: _math_to_text(m.group(1)), text)


def normalize_choice(answer):
    """'b'、' B '、'(B)'、'B.'、'Ｂ' 都算作 'B'。不是字符串时返回 None。"""
    if not isinstance(answer, str):
        return None
    text = answer.strip().upper()
    text = text.translate({ord(c): ord(c) - 0xFEE0 for c in "ＡＢＣＤＥＦＧＨ"})  # 全角字母
    text = re.sub(r"^[(（\[【]\s*|\s*[)）\]】.。、:：]?$", "", text)
    return text


def digest(qid, answer):
    """题号和（规范化后的）答案的摘要：测试单元里只写它，不写答案本身。"""
    norm = normalize_choice(answer) if isinstance(answer, str) else repr(answer)
    return hashlib.sha256(("%s|%s|%s" % (_SALT, qid, norm)).encode("utf-8")).hexdigest()[:16]


@check
def check_choice(answer, qid, options, correct, hints=None, what=None, report=True):
    """answer：学生填的选项字母；options：合法选项，如 "ABCD"；correct：digest(qid, 正确选项)。"""
    name = quiz_name(qid, what)
    subject = _spaced(name)
    options = [normalize_choice(o) for o in options]
    if answer is None or answer is Ellipsis:
        fail("%s还没有作答：把答案写成一个字母，例如 \"%s\"。" % (subject, options[0]), show=False)
    norm = normalize_choice(answer)
    if norm is None:
        fail("%s的答案应当是一个字母组成的字符串（如 \"%s\"），你填的是 %s。"
             % (subject, options[0], type(answer).__name__), show=False)
    if norm not in options:
        fail("%s的选项只有 %s，你填的是 %r。" % (subject, "、".join(options), answer), show=False)
    if digest(qid, norm) != correct:
        hint = (hints or {}).get(norm)
        fail("%s选 %s 不对。" % (subject, norm), show=False, hint=plain_text(hint) or "回到上面的讲解再想一想。")
    if report:
        passed(name)


@check
def check_value(answer, expected, what, hint=None, rtol=1e-3, atol=1e-6, report=True):
    """读图或心算得到的一个数：与 expected 在 rtol / atol 内一致即可。"""
    subject = _spaced(what)
    if answer is None or answer is Ellipsis:
        fail("%s还没有作答：把你的答案写成一个数。" % subject, show=False)
    got = expect_number(answer, what)
    if abs(got - float(expected)) > atol + rtol * abs(float(expected)):
        exc = CheckFailure("%s不对：你填的是 %s。%s" % (subject, answer, ("\n  提示：" + plain_text(hint)) if hint else ""))
        exc.hint, exc.expected, exc.got = (plain_text(hint) or None) if hint else None, "%g" % float(expected), "%g" % got
        raise exc
    if report:
        passed(what)


def _call_text(fname, args):
    return "%s(%s)" % (fname, ", ".join(" ".join(fmt(a).split()) for a in args))


def _text(value):
    return "".join(value.split()).replace("误差", "").lower() if isinstance(value, str) else None


def _canon(value):
    """答案的规范写法（算摘要用）：和 _matches 认为相同的答案写法相同。数取 6 位有效数字，|x| < 1e-9 算 0；
    tuple、list、数组一样看待；字符串去掉空格和“误差”、小写。"""
    if isinstance(value, str):
        return "s:" + _text(value)
    if isinstance(value, (bool, np.bool_)):
        return "b:%d" % bool(value)
    if value is None:
        return "none"
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        arr = None
    if arr is not None and not isinstance(value, dict):
        flat = ["0" if abs(x) < 1e-9 else format(float(x), ".6g") for x in arr.ravel()]
        return "n%s:%s" % (arr.shape if arr.ndim else "", ",".join(flat))
    if isinstance(value, (tuple, list)):
        return "t:(" + "|".join(_canon(v) for v in value) + ")"
    return "r:" + repr(value)


def quiz_digest(qid, value):
    """概念题 qid 的一个答案的摘要：公开测试的单元里只写它（课程的作者用参考答案算好写进去）。"""
    return hashlib.sha256(("%s|quiz|%s|%s" % (_SALT, qid, _canon(value))).encode("utf-8")).hexdigest()[:16]


def _matches(got, want):
    """got 和参考答案 want 是否一致：数按 rtol 1e-6 比较，数组要同形状，tuple 逐项比较，字符串去掉空格比较。"""
    if isinstance(want, str):
        return _text(got) == _text(want)
    if isinstance(want, bool):
        return isinstance(got, (bool, np.bool_)) and bool(got) == want
    if isinstance(want, tuple):
        return isinstance(got, (tuple, list)) and len(got) == len(want) and all(map(_matches, got, want))
    if isinstance(got, (bool, np.bool_, str)) or got is None:
        return False
    if isinstance(want, numbers.Real) and not (isinstance(got, numbers.Real) or np.ndim(got) == 0):
        return False
    want = np.asarray(want, dtype=float)
    try:
        arr = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return False
    return arr.shape == want.shape and bool(np.allclose(arr, want, rtol=1e-6, atol=1e-9))


@check
def check_quiz(fn, qid, cases, expect=None, ref=None, hint=None, what=None, report=True):
    """fn：学生写的函数 qN；cases：参数的 tuple 组成的 list；hint：答错时的提示，对任何错的答案都一样。

    正确答案二选一：expect 是每组参数的 quiz_digest（公开测试：单元里看不到答案），ref 是参考答案的函数
    （隐藏测试：从 course/reference/quizzes.py 取来，在评判进程里运行）。
    答错时只说哪一组参数下的结果不对、学生返回了什么，不写正确的值。
    """
    name = quiz_name(qid, what)
    subject = _spaced(name)
    number = re.search(r"q(\d+)$", str(qid))
    fname = "q" + number.group(1) if number else "这个函数"
    if (expect is None) == (ref is None) or (expect is not None and len(expect) != len(cases)):
        raise ValueError("check_quiz 要么给 expect（与 cases 一样多的摘要），要么给 ref（参考答案的函数）")
    if fn is None or fn is Ellipsis:
        fail("%s还没有作答：先在上面的单元里写好函数 %s，再运行那个单元。" % (subject, fname), show=False)
    if not callable(fn):
        fail("%s的答案应当是一个函数 %s（用 def 写出来），现在它是 %s。" % (subject, fname, type(fn).__name__), show=False)
    for i, args in enumerate(cases):
        args = tuple(args)
        want = ref(*copy.deepcopy(args)) if ref is not None else None  # 先算参考答案：学生的函数可能原地改动参数
        try:
            got = fn(*copy.deepcopy(args))
        except NotImplementedError:
            fail("%s还没有作答：删掉 %s 里 raise 那一行，写上你的代码。" % (subject, fname), show=False)
        except Exception:  # 学生代码里的错误交给 call 用中文说明
            got = call(fn, *args, what=_call_text(fname, args))
        if not (_matches(got, want) if ref is not None else quiz_digest(qid, got) == expect[i]):
            shown = " ".join(fmt(got).split())
            fail("%s：%s 返回了 %s，不对。" % (name, _call_text(fname, args), shown[:200]), show=False,
                 hint=plain_text(hint) or "回到上面的讲解，按计算图一步一步地推。")
    if report:
        passed(name)
