"""notebook 里演示单元的两个小帮手。

1. 练习还没做完时，依赖它的演示单元只说一句“先完成练习 N”，不抛 traceback，
   所以 Run All 之后从上往下读，没做完的练习只在它自己的检查单元里报错：

       with needs("练习 2", "AddLayer"):
           diagnose_apple_orange(MulLayerNoFlip, AddLayer)

   或者先探一探，再决定画不画（适合那种“练习没做完时会画出误导人的图”的演示）：

       if ready("练习 2", lambda: AddLayer().forward(1, 2), what="AddLayer"):
           diagnose_apple_orange(MulLayerNoFlip, AddLayer)

2. nbgrader 评分（autograde）和 Validate 时，学生不会再看一遍的耗时演示（训练、计时实验）可以缩小：

       epochs = quick(full=40, fast=2)

   nbgrader 执行 notebook 时设置环境变量 NBGRADER_EXECUTION（"autograde" 或 "validate"）。
   测试单元和它们要用的东西绝不能依赖这个开关。
"""
import os
import sys

__all__ = ["needs", "ready", "grading_mode", "quick"]


def grading_mode():
    """nbgrader 正在执行这个 notebook 时返回 "autograde" 或 "validate"，学生自己运行时返回 None。"""
    return os.environ.get("NBGRADER_EXECUTION") or None


def quick(full, fast):
    """学生自己运行时返回 full；nbgrader 评分或 Validate 时返回 fast（缩小的演示）。"""
    return fast if grading_mode() else full


def _spaced(text):
    """“练习 1”后面接汉字时空一格：“先完成练习 1 并运行”，不是“先完成练习 1并运行”。"""
    return text + " " if text and text[-1].isascii() and text[-1].isalnum() else text


def _notice(exercise, what, exc):
    thing = "（%s）" % what if what else ""
    used = "%s%s" % (exercise, thing)  # “练习 2（AddLayer）”
    if isinstance(exc, NotImplementedError):
        return "⚠ 这个单元要用到%s，它还没有写完。先完成%s，再回来运行这个单元。" % (used, exercise)
    if isinstance(exc, NameError):
        return ("⚠ 这个单元要用到%s的结果，但前面的单元没有把它算出来（%s）。先完成%s并运行前面的单元，"
                "再回来运行这个单元。" % (_spaced(used), exc, _spaced(exercise)))
    return ("⚠ 这个单元要用到%s，运行时出错：%s: %s。先让%s的检查通过，再回来运行这个单元。"
            % (used, type(exc).__name__, exc, _spaced(exercise)))


class needs:
    """with needs("练习 N", "名字"): ... —— 里面的代码出错时只打印一句说明，不让整个单元报错。

    with 块结束后，.ok 表示里面的代码有没有顺利运行完。
    """

    def __init__(self, exercise, what=None):
        if not isinstance(exercise, str) or not exercise.strip():
            raise TypeError("needs() 的第一个参数应当是练习的名字，例如 needs(\"练习 2\")")
        self.exercise, self.what, self.ok = exercise, what, None

    def __enter__(self):
        return self

    def __exit__(self, etype, exc, tb):
        if etype is None:
            self.ok = True
            return False
        if not issubclass(etype, Exception):  # KeyboardInterrupt、SystemExit 照常向上传
            return False
        self.ok = False
        print(_notice(self.exercise, self.what, exc), file=sys.stdout)
        return True


def ready(exercise, probe, what=None):
    """运行 probe()（一个不带参数的函数，用练习的代码算一点东西）；顺利就返回 True。

    probe 出错时打印“先完成练习 N”并返回 False。
    """
    if not callable(probe):
        raise TypeError("ready() 的第二个参数应当是一个不带参数的函数，例如 lambda: AddLayer().forward(1, 2)")
    with needs(exercise, what) as guard:
        probe()
    return bool(guard.ok)
