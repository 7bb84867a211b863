"""学生用检查函数的公共部分：出错时给出“哪里错、应为多少、得到多少、可能的原因”。

所有检查失败都抛出 CheckFailure（AssertionError 的子类），nbgrader 据此判该测试单元不得分。
原则：
- 信息只描述输入、期望值、实际值和提示，从不打印测试代码本身；
- 学生代码里抛出的异常、返回 None、类型或形状不对，各有各的说法；
- 正确的实现不产生任何警告（nbgrader 会把写了 stderr 的测试单元判为 0 分）。
"""
import functools
import inspect
import numbers
import warnings

import numpy as np

from ..fmt import fmt, fmt_shape
from ..boundary import student_where

__all__ = [
    "CheckFailure", "check", "fail", "passed", "call", "expect_tuple", "expect_array",
    "expect_close", "expect_number", "same_shape", "diagnose", "own_class", "rng_for",
]

VISIBLE_NOTE = "公开测试通过；提交后还有隐藏测试"


class CheckFailure(AssertionError):
    """检查没有通过。信息是给学生看的中文说明。

    属性 check（检查函数名）、hint（提示）、expected / got（值的简短写法）是给评分报告的纯数据，
    由 fail() 和 @check 填写，没有时是 None。

    在 JupyterLab、Validate 和 nbgrader 的反馈里，IPython 用 _render_traceback_ 的结果代替整段
    traceback：学生只看到这段说明，看不到检查函数内部的调用栈。单元照样以错误结束，nbgrader 照样判它不得分。
    """

    check = hint = expected = got = None

    def _render_traceback_(self):
        return ["\x1b[1;31m✘ 检查没有通过\x1b[0m"] + str(self).splitlines()


def fail(what, expected=None, got=None, hint=None, inputs=None, show=True):
    lines = [what]
    if inputs:
        lines.append("  输入：" + "，".join("%s = %s" % (k, fmt(v)) for k, v in inputs.items()))
    if show:
        lines.append("  期望：%s" % fmt(expected))
        lines.append("  得到：%s" % fmt(got))
    if hint:
        lines.append("  提示：" + hint)
    exc = CheckFailure("\n".join(lines))
    # 给评分报告的纯数据（course/grading/execute/mistakes.py 在评判进程里读）：提示和两个值的简短写法
    exc.hint = hint or None
    if show:
        exc.expected, exc.got = _short(expected), _short(got)
    raise exc


def _short(value, limit=160):
    try:
        text = " ".join(fmt(value).split())
    except Exception:
        return None
    return text if len(text) <= limit else text[:limit - 1] + "…"


def passed(what):
    print("✔ %s：%s" % (what, VISIBLE_NOTE))


def check(func):
    """装饰公开的检查函数：把深层的检查失败重新抛出，让 traceback 只剩一两层。

    numpy 的浮点警告在检查期间被屏蔽：学生代码产生 inf/nan 时，由比较结果给出中文说明，
    而不是往 stderr 打一串英文警告。
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        __tracebackhide__ = True
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return func(*args, **kwargs)
        except CheckFailure as exc:
            again = CheckFailure(str(exc))
            again.__dict__.update(exc.__dict__)
            again.check = func.__name__  # 测试单元调用的那个检查（最外层）
            raise again from None

    return wrapper


def call(fn, *args, what, step_hint=None, **kwargs):
    """调用学生的函数；NotImplementedError 和其他异常都转换成中文说明。

    step_hint：学生代码抛出异常时，在按异常类型给的提示之后，再补一条针对这一步的提示。
    """
    __tracebackhide__ = True
    if not callable(fn):
        fail("%s 不是可以调用的函数或方法（它是 %s）。" % (what, type(fn).__name__), show=False)
    try:
        return fn(*args, **kwargs)
    except CheckFailure:
        raise
    except NotImplementedError:
        fail("%s 还没有实现：它仍然抛出 NotImplementedError。删掉那一行 raise，写上你的代码。" % what, show=False)
    except RecursionError:
        fail("%s 陷入了无限递归（RecursionError）。检查函数是否在调用它自己。" % what, show=False)
    except Exception as exc:  # 学生代码里的任何错误都要变成能看懂的说明
        where = _student_line(exc)
        hints = [h for h in (_exception_hint(exc, fn), step_hint) if h]
        fail(
            "运行 %s 时，你的代码抛出了异常 %s: %s%s" % (what, type(exc).__name__, exc, where),
            show=False,
            hint="\n  提示：".join(hints) or None,
        )


def expect_tuple(value, n, what, names=None):
    """value 应是长度为 n 的 tuple。返回 value。"""
    __tracebackhide__ = True
    names = names or ["第 %d 个" % (i + 1) for i in range(n)]
    if value is None:
        fail("%s 是 None：是不是忘了写 return？应返回 %d 个值 (%s)。" % (what, n, ", ".join(names)), show=False)
    if isinstance(value, list):
        fail("%s 是 list，应当是 tuple：写成 return %s 即可。" % (what, ", ".join(names)), show=False)
    if not isinstance(value, tuple):
        fail("%s 应当是 %d 个值组成的 tuple (%s)，你返回的是 %s。" % (what, n, ", ".join(names), type(value).__name__),
             show=False)
    if len(value) != n:
        fail("%s 应当包含 %d 个值 (%s)，你返回了 %d 个。" % (what, n, ", ".join(names), len(value)), show=False)
    return value


def expect_number(value, what):
    """value 应是一个实数（Python 数或 0 维/单元素 numpy 数）。返回 float。"""
    __tracebackhide__ = True
    if value is None:
        fail("%s 是 None：是不是忘了写 return？" % what, show=False)
    if isinstance(value, (bool, np.bool_)):
        fail("%s 应当是一个数，你得到的是布尔值 %r。" % (what, value), show=False)
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(())[()]
    if not isinstance(value, numbers.Real):
        fail("%s 应当是一个数，你得到的是 %s。" % (what, type(value).__name__), show=False)
    return float(value)


def expect_array(value, shape, what, hint=None):
    """value 应能转换成数值数组且形状为 shape。返回 float64 数组。"""
    __tracebackhide__ = True
    if value is None:
        fail("%s 是 None：是不是忘了写 return，或者忘了给它赋值？" % what, show=False)
    if isinstance(value, (list, tuple)) and not isinstance(value, np.ndarray):
        fail("%s 应当是 numpy 数组，你得到的是 %s。" % (what, type(value).__name__), show=False,
             hint="用 numpy 运算（如 x * y、np.dot）得到的结果本身就是数组，不需要转成 list。")
    # 先看形状，再转换类型、做运算：形状不对的大数组（比如 (8388608, 1) 对 (7,)）转换成 float64
    # 或与期望值广播比较，要占用成百上千 MB 内存
    if shape is not None and isinstance(value, (np.ndarray, np.generic)) and value.shape != tuple(shape):
        _wrong_shape(what, shape, value.shape, hint)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        fail("%s 应当是数值数组，你得到的是 %s。" % (what, type(value).__name__), show=False)
    if shape is not None and arr.shape != tuple(shape):
        _wrong_shape(what, shape, arr.shape, hint)
    return arr


def same_shape(value, shape):
    """value 的形状是否正好是 shape，在与期望值比较、做运算之前用。

    数组直接读 .shape，list、tuple 先看长度，对不上就不再转换：形状不对的大答案（比如 (4000000, 1)
    对 (7,)）既不转换成数组，也不与期望值广播比较，否则要占用成百上千 MB 内存。
    其他对象（评分时内核里对象的代理等）交给 np.shape。
    """
    shape = tuple(shape)
    if isinstance(value, (np.ndarray, np.generic)):
        return value.shape == shape
    if isinstance(value, numbers.Number):
        return shape == ()
    if isinstance(value, (list, tuple)) and (not shape or len(value) != shape[0]):
        return False
    try:
        return np.shape(value) == shape
    except (TypeError, ValueError):  # 长短不一的 list 之类：转换不成数组，形状也就对不上
        return False


def _wrong_shape(what, shape, got_shape, hint):
    __tracebackhide__ = True
    fail("%s 的形状应为 %s，你的是 %s。" % (what, fmt_shape(shape), fmt_shape(got_shape)), show=False, hint=hint)


def expect_close(got, expected, what, hint=None, inputs=None, rtol=1e-6, atol=1e-8):
    """比较两个数或数组；不一致时给出期望、实际和提示。"""
    __tracebackhide__ = True
    expected = np.asarray(expected, dtype=np.float64)
    if expected.ndim == 0:
        g = expect_number(got, what)
    else:
        g = expect_array(got, expected.shape, what)  # 形状不同时在这里就不通过，不会广播比较
    if not np.all(np.isfinite(g)) and np.all(np.isfinite(expected)):
        fail("%s 里出现了 inf 或 nan。" % what, expected, got, hint or "可能发生了溢出或除以 0。", inputs)
    if not np.allclose(g, expected, rtol=rtol, atol=atol):
        fail("%s 不对。" % what, expected if expected.ndim else float(expected), got, hint, inputs)
    return g


def diagnose(got, candidates, default=None):
    """在一组“常见错误会得到的结果”里找与 got 吻合的一个，返回对应的提示。

    candidates: [(错误实现会给出的值, 提示), ...]
    """
    g = got if isinstance(got, np.ndarray) else None  # 数组先只看形状，形状对得上的候选才转换、比较
    if g is None:
        try:
            g = np.asarray(got, dtype=np.float64)
        except (TypeError, ValueError):
            return default
    for value, hint in candidates:
        v = np.asarray(value, dtype=np.float64)
        if v.shape != g.shape:
            continue
        try:
            g = np.asarray(g, dtype=np.float64)
        except (TypeError, ValueError):
            return default
        if np.allclose(g, v, rtol=1e-6, atol=1e-9):
            return hint
    return default


def own_class(cls, name):
    """确认 cls 是学生在 notebook 里自己写的类或函数，而不是从别处导入的。"""
    __tracebackhide__ = True
    if cls is None:
        fail("%s 是 None：先运行定义它的那个单元。" % name, show=False)
    module = getattr(cls, "__module__", None)
    if module not in ("__main__", None) and not str(module).startswith("_student"):
        fail("%s 来自模块 %s：请在本 notebook 里自己实现它，而不是导入现成的实现。" % (name, module), show=False)
    return cls


def rng_for(seed):
    return np.random.default_rng(seed)


def _student_line(exc):
    """找出异常发生在学生代码（notebook 单元）的哪一行。"""
    remote = getattr(exc, "remote_where", None)  # 评分时学生代码在另一个进程里，位置由那边说明
    if remote is not None:
        return remote
    return student_where(exc.__traceback__)


def _is_layer_method(fn):
    """fn 是不是某个层对象的 forward / backward（只有这时“存成 self.x”的提示才对得上）。"""
    method = inspect.ismethod(fn) or type(fn).__name__ == "method"  # 评分时是内核里那个方法的代理
    return method and getattr(fn, "__name__", "") in ("forward", "backward")


def _exception_hint(exc, fn=None):
    layer = _is_layer_method(fn)
    if isinstance(exc, AttributeError):
        if layer:
            return "backward 用到的值要在 forward 里先存成 self.x 之类的属性；也检查一下属性名是否拼写一致。"
        return "用到了一个不存在的属性：检查属性名的拼写，以及这个对象是不是你以为的类型（数、数组，还是某个类的对象）。"
    if isinstance(exc, NameError):
        return "用到了没有定义的名字：检查拼写，或者是不是忘了运行前面的单元。"
    if isinstance(exc, ValueError) and "shapes" in str(exc):
        return "矩阵乘法的形状对不上：写下每个数组的形状，看看哪里需要转置。"
    if isinstance(exc, TypeError) and "NoneType" in str(exc):
        if layer:
            return "某个值还是 None：backward 要用的 self.x 之类的属性，是不是在 forward 里忘了赋值？"
        return "某个值还是 None：是不是有个函数忘了写 return，或者某个变量还没有赋值？"
    if isinstance(exc, TypeError):
        return "检查参数的个数和类型是否与说明一致。"
    return None
