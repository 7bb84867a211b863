"""命令行参数的类型检查（python -m course.bench、python -m course grade-demo 等共用）：出错时给一句中文。"""
import argparse
import math

__all__ = ["positive_int", "positive_float"]


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("应当是正整数，收到的是 %r" % text) from None
    if value < 1:
        raise argparse.ArgumentTypeError("应当是正整数，收到的是 %d" % value)
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("应当是正数，收到的是 %r" % text) from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError("应当是有限的正数，收到的是 %r" % text)
    return value
