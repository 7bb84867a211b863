"""通道两端共用的错误：异常类型、学生代码出错的位置，以及把异常变成纯数据（和从纯数据变回异常）。"""
import builtins

__all__ = ["RemoteError", "ChannelError", "ChannelClosed", "ChannelTimeout", "student_where", "describe_error",
           "error_from", "safe_str", "MAX_TEXT"]

MAX_TEXT = 4000  # 异常信息、描述文字截到这么多个字符


class RemoteError(Exception):
    """对方进程在执行请求时出的错（学生代码抛出的异常在评分进程里变成同名的异常）。"""


class ChannelError(BaseException):
    """通道出了事。它不是 Exception 的子类：检查函数里的 `except Exception` 不会把它当成学生代码的错误吞掉。"""


class ChannelClosed(ChannelError):
    """通道断了：对方退出、超时被中断或者关掉了连接。"""


class ChannelTimeout(ChannelError):
    """对方在限定时间内没有回答。"""


def student_where(tb):
    """traceback 里最后一个 notebook 单元的帧 → “位置：……”说明（找不到时是空字符串）。"""
    where = ""
    while tb is not None:
        code = tb.tb_frame.f_code
        if "ipykernel_" in code.co_filename or code.co_filename.startswith("<"):
            where = "\n  位置：notebook 单元的第 %d 行（在 %s 里）" % (tb.tb_lineno, code.co_name)
        tb = tb.tb_next
    return where


def _short(text):
    text = str(text)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "……"


_NOT_RAISED = (KeyboardInterrupt, SystemExit, GeneratorExit, StopIteration, StopAsyncIteration)
_EXC_CLASSES = {}


def _remote_exception_class(name):
    cls = _EXC_CLASSES.get(name)
    if cls is None:
        safe = name if name.isidentifier() else "StudentError"
        cls = _EXC_CLASSES[name] = type(safe, (RemoteError,), {"__module__": "student"})
    return cls


def safe_str(exc):
    try:
        return str(exc)
    except Exception:
        return "（无法显示的异常信息）"


def describe_error(exc, trusted):
    """异常 → 纯数据：类型名、是不是内置异常、信息；内核一端再带上学生单元里出错的位置。"""
    t = type(exc)
    where = student_where(exc.__traceback__) if not trusted else ""
    return {"type": _short(t.__name__), "builtin": getattr(builtins, t.__name__, None) is t,
            "msg": _short(safe_str(exc)), "where": _short(where)}


def error_from(err):
    """describe_error 的结果 → 在这一端抛出的异常：内置异常照原样，其余是同名的 RemoteError 子类。"""
    if not isinstance(err, dict):
        return RemoteError("对方出错")
    name, msg = str(err.get("type", "Exception"))[:100], str(err.get("msg", ""))[:MAX_TEXT]
    cls = getattr(builtins, name, None) if err.get("builtin") else None
    if not (isinstance(cls, type) and issubclass(cls, Exception)) or cls in _NOT_RAISED:
        cls = _remote_exception_class(name)
    try:
        exc = cls(msg)
    except Exception:
        exc = _remote_exception_class(name)(msg)
    exc.remote_where = str(err.get("where", ""))[:MAX_TEXT]
    return exc
