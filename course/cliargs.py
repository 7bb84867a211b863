"""命令行参数的类型检查（python -m course.bench、python -m course grade-demo 等共用）：出错时给一句中文。"""
import argparse
import math

__all__ = ["checked_int", "positive_int", "positive_float"]


def checked_int(text, ok, what):
    """把 text 转成整数，并要求 ok(值) 为真；否则给出“应当是<what>”的中文错误。"""
    if what[:1].isascii():  # 中文与数字之间空一格
        what = " " + what
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("应当是%s，收到的是 %r" % (what, text)) from None
    if not ok(value):
        raise argparse.ArgumentTypeError("应当是%s，收到的是 %d" % (what, value))
    return value


def positive_int(text):
    return checked_int(text, lambda v: v >= 1, "正整数")


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("应当是正数，收到的是 %r" % text) from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError("应当是有限的正数，收到的是 %r" % text)
    return value
