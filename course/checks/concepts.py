"""概念题的检查：选择题和读图填数。

选择题的正确答案不以明文写在测试单元里，只写它的摘要 digest(题号, 答案)；每个选项（包括正确的那个）
都可以配一条说明，答错时给出所选选项错在哪里。出题时用
`python -c "from course.checks.concepts import digest; print(digest('题号', '答案'))"` 算摘要。

    ANSWER_Q1 = "B"   # 学生填写
    check_choice(ANSWER_Q1, "02-q1", options="ABCD", correct="3f0c…", hints={"A": "…", ...})
"""
import hashlib
import re

from ._core import CheckFailure, check, expect_number, fail, passed

__all__ = ["digest", "normalize_choice", "check_choice", "check_value"]

_SALT = "backprop-zh/concept"


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
    what = what or "第 %s 题" % qid
    options = [normalize_choice(o) for o in options]
    if answer is None or answer is Ellipsis:
        fail("%s还没有作答：把答案写成一个字母，例如 \"%s\"。" % (what, options[0]), show=False)
    norm = normalize_choice(answer)
    if norm is None:
        fail("%s的答案应当是一个字母组成的字符串（如 \"%s\"），你填的是 %s。"
             % (what, options[0], type(answer).__name__), show=False)
    if norm not in options:
        fail("%s的选项只有 %s，你填的是 %r。" % (what, "、".join(options), answer), show=False)
    if digest(qid, norm) != correct:
        hint = (hints or {}).get(norm)
        fail("%s选 %s 不对。" % (what, norm), show=False, hint=hint or "回到上面的讲解再想一想。")
    if report:
        passed(what)


@check
def check_value(answer, expected, what, hint=None, rtol=1e-3, atol=1e-6, report=True):
    """读图或心算得到的一个数：与 expected 在 rtol / atol 内一致即可。"""
    if answer is None or answer is Ellipsis:
        fail("%s还没有作答：把你的答案写成一个数。" % what, show=False)
    got = expect_number(answer, what)
    if abs(got - float(expected)) > atol + rtol * abs(float(expected)):
        raise CheckFailure("%s不对：你填的是 %s。%s" % (what, answer, ("\n  提示：" + hint) if hint else ""))
    if report:
        passed(what)
