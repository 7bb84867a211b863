"""线上的值：两端都只编码、解码下面这些，别的一律拒绝（协议见 course/boundary/__init__.py）。

    None、布尔、数、字符串；{"i"} 大整数，{"f"} inf/nan，{"t"} tuple，{"c"} 复数，{"sl"} slice，
    {"e"} Ellipsis，{"fs"} frozenset，{"n"} numpy 标量，{"a"} 数组（dtype、形状、字节；只收数值类型），
    {"l"} list，{"d"} dict，{"s"} set，{"r": 编号} 收方自己交出去过的对象，{"h": 编号, "o": 描述} 发方的对象，
    {"m"} 模块（只有内核一端解码；评判进程从不按对方给的名字导入）。

encode / decode 是 Peer.enc / Peer.dec 的全部内容：句柄表、代理、写回的记录都在 peer 对象上。
评判进程一端（peer.trusted）的编码由 peer._enc_trusted 决定（数据按值，函数和替身按句柄）。
"""
import base64
import collections.abc
import math
import sys
import types

import numpy as np

from .errors import RemoteError, _short
from .proxies import Proxy, RemoteArray, RemoteClass, RemoteDict, RemoteList, _Backed, _p
from .standins import _interface

__all__ = ["encode", "encode_trusted", "decode", "decode_array", "describe", "ByRef", "MODULES", "MAX_ELEMENTS",
           "MAX_DEPTH"]

MAX_ELEMENTS = 4 * 2 ** 20  # 评判进程解码出的一个数组最多这么多个元素
MAX_DEPTH = 64
# 评分进程里，代理的模块名只按这张表换成评分进程自己导入的模块
MODULES = frozenset({"numpy", "math", "cmath", "random", "operator", "functools", "itertools", "collections",
                     "numbers", "inspect", "copy", "time", "types", "typing", "builtins"})
_NOT_PLAIN = object()
# 评判进程按句柄交给内核、内核只能调用的东西
_CALLABLE_TYPES = (types.FunctionType, types.MethodType, types.BuiltinFunctionType, types.BuiltinMethodType,
                   np.ufunc)


class ByRef:
    """按句柄编码的值（不拷贝）。"""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _safe_dtype(code):
    dt = np.dtype(str(code))
    if dt.kind not in "biufc" or dt.hasobject:
        raise RemoteError("不接受的数组类型 %s" % code)
    return dt


def describe(obj):
    """句柄对象的描述：类的名字、模块和种类，评分进程据此造一个同名的代理类（isinstance、__name__ 照常可用）。"""
    if isinstance(obj, type):
        return {"k": "class", "n": _short(getattr(obj, "__name__", "?")),
                "q": _short(getattr(obj, "__qualname__", "?")), "m": _short(getattr(obj, "__module__", None) or "")}
    kind = "object"
    if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType)):
        kind = "function"
    elif isinstance(obj, types.MethodType):
        kind = "method"
    elif isinstance(obj, collections.abc.Mapping):
        kind = "mapping"
    elif isinstance(obj, collections.abc.Sequence):
        kind = "sequence"
    return {"k": kind}


def _array_fields(a):
    return [a.dtype.str, list(a.shape), _b64(a.tobytes())]


def _enc_plain(peer, v, t, depth):
    """两端一样编码的不可变的值；别的返回 _NOT_PLAIN。"""
    if v is None or t is bool or t is str:
        return v
    if t is int:
        return v if -2 ** 53 < v < 2 ** 53 else {"i": str(v)}
    if t is float:
        return v if math.isfinite(v) else {"f": repr(v)}
    if t is tuple:
        return {"t": [peer.enc(x, depth + 1) for x in v]}
    if t is complex:
        return {"c": [v.real, v.imag]}
    if t is slice:
        return {"sl": [peer.enc(v.start, depth + 1), peer.enc(v.stop, depth + 1), peer.enc(v.step, depth + 1)]}
    if v is Ellipsis:
        return {"e": 1}
    if t is frozenset:
        return {"fs": [peer.enc(x, depth + 1) for x in v]}
    if isinstance(v, np.generic) and v.dtype.kind in "biufc":
        return {"n": [v.dtype.str, _b64(v.tobytes())]}
    return _NOT_PLAIN


def encode_known(peer, v, t, depth):
    """两端一样编码的：不可变的值，以及对方自己的对象（代理、类代理、从对方取来的 list/dict/数组）交回原对象。"""
    plain = _enc_plain(peer, v, t, depth)
    if plain is not _NOT_PLAIN:
        return plain
    if isinstance(v, Proxy) and _p(v)[0] is peer:
        return {"r": _p(v)[1]}
    if isinstance(v, RemoteClass) and v._rc_peer is peer:
        return {"r": v._rc_h}
    if isinstance(v, _Backed):
        origin = getattr(v, "_origin", None)
        if origin is not None and origin[0] is peer and origin[1] is not None:
            return {"r": origin[1]}
    return _NOT_PLAIN


def encode(peer, v, depth=0):
    """Peer.enc：内核一端把学生的对象按句柄送出（可变的容器和数组连值带句柄）；评判进程一端交给 peer._enc_trusted。"""
    if depth > MAX_DEPTH:
        raise RemoteError("数据嵌套太深")
    if peer.trusted:
        return peer._enc_trusted(v, depth)
    t = type(v)
    known = encode_known(peer, v, t, depth)
    if known is not _NOT_PLAIN:
        return known
    if isinstance(v, types.ModuleType):
        return {"m": _short(v.__name__)}
    # 可变的容器和数组：值带过去，同时带上句柄，对方改写它们时写回这里
    if isinstance(v, np.ndarray) and v.dtype.kind in "biufc":
        return {"a": _array_fields(v), "h": peer.export(v)}
    if t is list or isinstance(v, RemoteList):
        return {"l": [peer.enc(x, depth + 1) for x in v], "h": peer.export(v)}
    if t is dict or isinstance(v, RemoteDict):
        return {"d": [[peer.enc(k, depth + 1), peer.enc(x, depth + 1)] for k, x in v.items()], "h": peer.export(v)}
    if t is set:
        return {"s": [peer.enc(x, depth + 1) for x in v], "h": peer.export(v)}
    if t is ByRef:  # 指定按句柄传（例如学生类方法所在的全局字典，改写它要改到原对象上）
        v = v.obj
    desc = describe(v)
    if desc["k"] != "class":
        cls = type(v)  # 内核对象的类：评分进程据此造同名的代理类
        desc["c"] = [peer.export(cls), describe(cls)]
    return {"h": peer.export(v), "o": desc}


def encode_trusted(peer, v, depth):
    """评判进程交给内核的值：数据按值，函数和声明了接口的替身按句柄，别的送不出去（见协议）。"""
    t = type(v)
    known = encode_known(peer, v, t, depth)
    if known is not _NOT_PLAIN:
        return known
    if isinstance(v, np.ndarray) and v.dtype.kind in "biufc":
        peer.lending.append(v)
        return {"a": _array_fields(v), "w": len(peer.lending) - 1}
    if t is list or t is RemoteList:
        return {"l": [peer.enc(x, depth + 1) for x in v]}
    if t is dict or t is RemoteDict:
        return {"d": [[peer.enc(k, depth + 1), peer.enc(x, depth + 1)] for k, x in v.items()]}
    if t is set:
        return {"s": [peer.enc(x, depth + 1) for x in v]}
    if isinstance(v, _CALLABLE_TYPES) or (isinstance(v, type) and getattr(v, "remote_methods", None)):
        return {"h": peer.export(v), "o": {"k": "function"}}  # 替身类：调用它得到一个替身对象
    if _interface(v) is not None:
        return {"h": peer.export(v), "o": {"k": "object"}}
    raise RemoteError("评判进程不把 %s 对象交给学生的内核（只交数据、函数和声明了 remote_methods 的替身）"
                      % type(v).__name__)


def decode(peer, x, depth=0):
    """Peer.dec：只认上面列出的形式；评判进程一端收到的可变值带着原来的句柄（改写时写回内核）。"""
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, list) or not isinstance(x, dict) or depth > MAX_DEPTH:  # 列表总是包在 {"l": ...} 里
        raise RemoteError("格式不对")
    if "r" in x:  # 对方送回来的是我方的对象
        try:
            return peer.objects[int(x["r"])]
        except (KeyError, TypeError, ValueError):
            raise RemoteError("不认识的句柄") from None
    if "i" in x:
        return int(str(x["i"]))
    if "f" in x:
        return float(str(x["f"]))
    if "t" in x:
        return tuple(peer.dec(y, depth + 1) for y in x["t"])
    if "c" in x:
        return complex(float(x["c"][0]), float(x["c"][1]))
    if "sl" in x:
        return slice(*(peer.dec(y, depth + 1) for y in x["sl"]))
    if "e" in x:
        return Ellipsis
    if "m" in x:
        if peer.trusted:  # 评判进程从不按对方给的名字导入模块
            raise RemoteError("内核送来了一个模块（%s）：评判进程不接受" % str(x["m"])[:80])
        return peer._module(str(x["m"]))
    if "fs" in x:
        return frozenset(peer.dec(y, depth + 1) for y in x["fs"])
    if "n" in x:
        dt = _safe_dtype(x["n"][0])
        return np.frombuffer(base64.b64decode(x["n"][1]), dtype=dt)[0]
    hid = x.get("h")
    if "a" in x:
        arr, data = decode_array(x["a"], peer.trusted)
        if peer.trusted:
            arr = arr.view(RemoteArray)
            arr._origin = (peer, hid)
        elif "w" in x:  # 评判进程这次请求按值交来的数组：学生代码改了它，回答时把新内容附上
            peer.written_back.append((int(x["w"]), arr, data))
        return arr
    if "l" in x:
        items = [peer.dec(y, depth + 1) for y in x["l"]]
        return RemoteList(items, origin=(peer, hid)) if peer.trusted else items
    if "d" in x:
        pairs = [(peer.dec(k, depth + 1), peer.dec(v, depth + 1)) for k, v in x["d"]]
        return RemoteDict(pairs, origin=(peer, hid)) if peer.trusted else dict(pairs)
    if "s" in x:
        return set(peer.dec(y, depth + 1) for y in x["s"])
    if "o" in x:
        return peer.proxy(int(hid), x["o"])
    raise RemoteError("格式不对")


def decode_array(fields, trusted):
    """{"a": [dtype, 形状, base64]} → (数组, 原始字节)。评判进程一方先查元素个数，再解码。"""
    if not isinstance(fields, list) or len(fields) != 3 or not isinstance(fields[1], list) \
            or len(fields[1]) > 32 or not isinstance(fields[2], str):
        raise RemoteError("数组的格式不对")
    dt, shape = _safe_dtype(fields[0]), tuple(int(n) for n in fields[1])
    if any(n < 0 for n in shape):
        raise RemoteError("数组的形状不对")
    count = math.prod(shape)
    if trusted and count > MAX_ELEMENTS:
        raise RemoteError("数组太大（%d 个元素，上限 %d）" % (count, MAX_ELEMENTS))
    if count * dt.itemsize > 4 * len(fields[2]) // 3 + 3:
        raise RemoteError("数组的字节数与形状不符")
    data = base64.b64decode(fields[2])
    return np.frombuffer(data, dtype=dt).reshape(shape).copy(), data


def import_module(name):
    """内核一端：对方送来的模块（{"m"}）按名字取。"""
    __import__(name)
    return sys.modules[name]
