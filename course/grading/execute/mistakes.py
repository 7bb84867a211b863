"""评分时记下“哪项检查没有通过、它给了什么提示”：班级报告（python -m course class-report）据此数出
全班最常见的错误。

记录只在可信的一端产生：评判进程（judge.py）从它自己的检查函数抛出的 CheckFailure 对象上读，
不看任何输出文字。学生的内核送不来 CheckFailure（它的异常在评判进程里是 RemoteError 或者带着
remote_where 的内置异常），学生打印出来的“✘ 检查没有通过 … 提示：…”只是一段文字，不产生记录。

一条记录（纯数据，每个测试单元至多 MAX_RECORDS 条，每个字符串都有长度上限）：

    {"check": 检查函数名或 None, "hint": 提示或 None, "hidden": 是否在隐藏部分,
     "expected": 期望值的简短写法或 None, "got": 学生的值的简短写法或 None}

隐藏部分只留检查自己的固定提示（is_fixed：整段提示能拆成课程检查代码里的字符串常量和它们的格式化
片段，常量之间只夹着检查里的短名字或数字），期望值和学生的值都不留；公开部分留提示和两个简短的值，
它们本来就写在学生看得到的输出里。nbgrader 进程（boundary.py 经 JudgeClient）用 validate() 逐项
检查类型、长度和条数，隐藏部分的提示再按同样的规则核对一遍，才写进评分报告（report.py）。
"""
import ast
import functools
import os
import re

__all__ = ["MAX_RECORDS", "MAX_HINT", "MAX_VALUE", "record_from", "validate", "is_fixed", "fixed_pieces"]

MAX_RECORDS = 4  # 一个测试单元至多几条（单元在第一个失败处就停下，通常只有一条）
MAX_HINT = 600
MAX_VALUE = 160
MAX_CHECK = 80
KEYS = ("check", "hint", "hidden", "expected", "got")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,%d}" % (MAX_CHECK - 1))
_FORMAT = re.compile(r"%(?:\([^)]*\))?[-+ #0]*(?:\d+|\*)?(?:\.\d+)?[sdirfgeEGx%]")
_SHORT = re.compile(r"[A-Za-z_][A-Za-z0-9_.\[\]']{0,23}")  # 检查里的短名字：dx、self.W、grads['W1']……
_NUMBER = re.compile(r"[-+0-9.e()×x, ]{1,24}")
MIN_PIECE = 3


def _checks_dir():
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "checks")


def _constants(source):
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _split(constants):
    pieces, shorts = set(), set()
    for text in constants:
        for part in _FORMAT.split(text):
            if len(part) >= MIN_PIECE:
                pieces.add(part)
        if _SHORT.fullmatch(text):
            shorts.add(text)
    return pieces, shorts


@functools.lru_cache(maxsize=1)
def fixed_pieces():
    """课程检查代码（course/checks/*.py）里的字符串常量，按 % 格式说明拆开的片段；以及其中的短名字。"""
    constants = []
    folder = _checks_dir()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                constants += _constants(f.read())
    pieces, shorts = _split(constants)
    return frozenset(pieces), frozenset(shorts)


def is_fixed(text, source=""):
    """text 是不是检查自己的固定文字：能从头到尾拆成课程检查代码（和测试单元源码 source）里的字符串片段，
    片段之间至多夹着一个检查里的短名字或一个数。学生能控制的文字（异常信息、打印的东西）拆不出来。"""
    if not isinstance(text, str) or not text or len(text) > MAX_HINT:
        return False
    pieces, shorts = fixed_pieces()
    if source:
        extra_pieces, extra_shorts = _split(_constants(source))
        pieces, shorts = pieces | extra_pieces, shorts | extra_shorts
    n = len(text)
    lengths = sorted({len(p) for p in pieces if len(p) <= n}, reverse=True)
    # ok[i]：text[i:] 能拆开；filler 只能夹在两个片段之间（不能连着两个 filler）
    ok_piece = [False] * (n + 1)  # 从 i 开始、以片段开头
    ok_any = [False] * (n + 1)  # 从 i 开始、以片段或 filler 开头
    ok_piece[n] = ok_any[n] = True
    for i in range(n - 1, -1, -1):
        for L in lengths:
            if i + L <= n and ok_any[i + L] and text[i:i + L] in pieces:
                ok_piece[i] = True
                break
        ok_any[i] = ok_piece[i]
        if not ok_any[i]:
            for j in range(i + 1, min(n, i + 24) + 1):
                if ok_piece[j] or j == n:
                    chunk = text[i:j]
                    if (chunk in shorts or (_NUMBER.fullmatch(chunk) and any(c.isdigit() for c in chunk))):
                        ok_any[i] = True
                        break
    return ok_any[0]


def _cap(value, limit):
    if value is None:
        return None
    value = str(value)
    return value if len(value) <= limit else value[:limit - 1] + "…"


def record_from(exc, hidden, source=""):
    """评判进程里：测试单元的一段（公开或隐藏）以 exc 结束时的记录；不是检查失败时是 None。

    只认课程自己的 CheckFailure，和测试代码自己的 assert（不是从学生内核传回来的 AssertionError）。"""
    from ...checks._core import CheckFailure

    if getattr(exc, "remote_where", None) is not None:  # 学生内核里抛出的异常，只是被转交过来
        return None
    if isinstance(exc, CheckFailure):
        check, hint = getattr(exc, "check", None), getattr(exc, "hint", None)
        expected, got = getattr(exc, "expected", None), getattr(exc, "got", None)
    elif type(exc) is AssertionError:
        check, hint, expected, got = None, (str(exc.args[0]) if exc.args else None), None, None
    else:
        return None
    if not (isinstance(check, str) and _NAME.fullmatch(check)):
        check = None
    if not isinstance(hint, str) or not hint.strip():
        hint = None
    if hidden:  # 隐藏部分：只留固定的提示，值一个也不留
        return {"check": check, "hint": hint if is_fixed(hint, source) else None, "hidden": True,
                "expected": None, "got": None}
    return {"check": check, "hint": _cap(hint, MAX_HINT), "hidden": False,
            "expected": _cap(expected, MAX_VALUE), "got": _cap(got, MAX_VALUE)}


class InvalidRecords(ValueError):
    """评判进程送来的记录格式不对。"""


def validate(records, source=""):
    """nbgrader 进程里：评判进程送来的记录 → 检查过的记录列表（格式不对时抛 InvalidRecords）。"""
    if records is None:
        return []
    if not isinstance(records, list) or len(records) > MAX_RECORDS:
        raise InvalidRecords("记录不是列表，或者太多")
    clean = []
    for rec in records:
        if not isinstance(rec, dict) or set(rec) - set(KEYS) or not isinstance(rec.get("hidden"), bool):
            raise InvalidRecords("记录的格式不对")
        for key in ("check", "hint", "expected", "got"):
            if rec.get(key) is not None and not isinstance(rec[key], str):
                raise InvalidRecords("记录里的 %s 不是字符串" % key)
        check = rec.get("check")
        if check is not None and not _NAME.fullmatch(check):
            check = None
        hint = _cap(rec.get("hint"), MAX_HINT)
        if rec["hidden"]:
            clean.append({"check": check, "hint": hint if hint and is_fixed(hint, source) else None,
                          "hidden": True, "expected": None, "got": None})
        else:
            clean.append({"check": check, "hint": hint, "hidden": False,
                          "expected": _cap(rec.get("expected"), MAX_VALUE), "got": _cap(rec.get("got"), MAX_VALUE)})
    return clean
