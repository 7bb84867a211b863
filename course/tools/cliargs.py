"""命令行的参数解析（python -m course、python -m course.bench.backprop、python -m course grade-demo 等共用）：出错时给一句中文。"""
import argparse
import math
import sys

__all__ = ["Parser", "checked_int", "positive_int", "positive_float"]


class Parser(argparse.ArgumentParser):
    """argparse 的解析器，错误说明换成中文。"""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, "%s：错误：%s\n（用 -h 查看帮助）\n" % (self.prog, _zh(message)))


def _zh(message):
    for en, zh in (("the following arguments are required", "缺少参数"), ("unrecognized arguments", "不认识的参数"),
                   ("invalid choice", "无效的子命令"), ("expected one argument", "这个选项需要一个值")):
        message = message.replace(en, zh)
    return message


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
