"""概念题的检查：选择题和读图填数。

选择题的正确答案不以明文写在测试单元里，只写它的摘要 digest(题号, 答案)；每个选项（包括正确的那个）
都可以配一条说明，答错时给出所选选项错在哪里。出题时用
`python -c "from course.checks.concepts import digest; print(digest('题号', '答案'))"` 算摘要。

    ANSWER_Q1 = "B"   # 学生填写
    check_choice(ANSWER_Q1, "02-q1", options="ABCD", correct="3f0c…", hints={"A": "…", ...})

题号 "02-q1" 只用来算摘要，不给学生看：消息里这道题叫“第 1 道概念题”（从题号末尾的数字得来；
what="概念题 1" 也写成这个样子）。提示里的简单 LaTeX（如 $10^{-7}$）打印前换成纯文本（1e-7）。
"""
import hashlib
import re

from ._core import CheckFailure, check, expect_number, fail, passed

__all__ = ["digest", "normalize_choice", "check_choice", "check_value", "quiz_name", "plain_text"]

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
