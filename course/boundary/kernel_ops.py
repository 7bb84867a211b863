"""内核一端：评判进程能请求学生的内核做的事（perform），以及 names 请求的体积预算。

names（一次取回学生单元定义过的一批名字）、get、getattr、setattr、delattr、getitem、setitem、delitem、
getattrs、call、iter、next、contains、unary、binary、repr、str、array、signature、namespaces、describe、
release。内核照做：学生能改坏的只是内核里的这一份模块，送回去的仍然只是数据（codec.py）。
"""
import inspect
import math
import operator
import types

import numpy as np

from .codec import ByRef, describe
from .errors import RemoteError, _short
from .standins import _Described, class_namespaces

__all__ = ["perform", "BINARY", "UNARY", "MAX_NAMES", "NAMES_BY_VALUE_BYTES"]

MAX_NAMES = 5000  # names 请求一次最多取这么多个名字
LARGE_ARRAY_BYTES = 2 ** 20  # names 请求里比这大的数组、比 LARGE_CONTAINER 长的容器按句柄送
LARGE_CONTAINER = 10_000
NAMES_BY_VALUE_BYTES = 8 * 2 ** 20  # names 请求按值送的总量；超出的按句柄送（远小于评判进程收消息的上限）
# 运算符：名字 → 函数（两端用同一张表，线上只传名字）
BINARY = {name: getattr(operator, name) for name in (
    "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and_", "or_", "xor", "lshift", "rshift",
    "lt", "le", "eq", "ne", "gt", "ge")}
KERNEL_BINARY = {"isinstance": isinstance, "issubclass": issubclass, "round": round}
UNARY = {"neg": operator.neg, "pos": operator.pos, "abs": abs, "invert": operator.invert, "float": float,
         "int": int, "index": operator.index, "bool": bool, "len": len, "complex": complex,
         "round": round, "trunc": math.trunc, "floor": math.floor, "ceil": math.ceil}


def _large(value, depth=0):
    """names 请求里一个值按值送要多少字节（粗略，数组按字节、容器把里面的加起来）；太大、太深、
    按句柄送的返回 None。只看值本身，与测试无关。"""
    try:
        if isinstance(value, np.ndarray):
            return None if value.nbytes > LARGE_ARRAY_BYTES else value.nbytes
        if type(value) in (list, dict, set, tuple, frozenset):
            if len(value) > LARGE_CONTAINER or depth > 3:
                return None
            total = 0
            for item in (value.values() if type(value) is dict else value):
                size = _large(item, depth + 1)
                if size is None:
                    return None
                total += size + 16
                if total > LARGE_ARRAY_BYTES:
                    return None
            return total
    except Exception:
        return None
    return 64


def _signature_data(obj):
    sig = inspect.signature(obj)
    out = []
    for p in sig.parameters.values():
        default = p.default
        plain = default is inspect.Parameter.empty or isinstance(default, (type(None), bool, int, float, str))
        out.append((p.name, int(p.kind), default is not inspect.Parameter.empty, default if plain else None))
    return out


def _namespace(peer):
    """按名字取学生对象的地方：peer.namespace，默认是 IPython 的 user_ns。"""
    if peer.namespace is not None:
        return peer.namespace
    from IPython import get_ipython

    return get_ipython().user_ns


def perform(peer, msg):
    """内核一端替评判进程做的一件事（请求的种类见 course/boundary/__init__.py）。"""
    op = msg.get("op")
    if op == "get":
        ns = _namespace(peer)
        name = str(msg["name"])
        if name not in ns:
            raise NameError("name %r is not defined" % name)
        return ns[name]
    if op == "names":  # 学生单元定义过的一批名字，一次取完（模块不送：评判进程用它自己的）
        ns = _namespace(peer)
        found, budget = {}, NAMES_BY_VALUE_BYTES
        for name in list(msg.get("names") or [])[:MAX_NAMES]:
            name = str(name)
            if name in ns and not isinstance(ns[name], types.ModuleType):
                value = ns[name]
                size = _large(value)
                found[name] = ByRef(value) if size is None or size > budget else value
                budget -= 0 if size is None else size
        return found
    if op == "describe":
        return _Described(describe(peer._target(msg)))
    if op == "signature":
        return _signature_data(peer._target(msg))
    if op == "setattr":
        setattr(peer._target(msg), str(msg["name"]), peer.dec(msg["value"]))
        return None
    if op == "delattr":
        delattr(peer._target(msg), str(msg["name"]))
        return None
    if op == "setitem":
        peer._target(msg)[peer.dec(msg["key"])] = peer.dec(msg["value"])
        return None
    if op == "delitem":
        del peer._target(msg)[peer.dec(msg["key"])]
        return None
    if op == "getattrs":  # 一批对象的同一个属性：("v", 值) 或 ("a",)（没有这个属性）
        name, out = str(msg["name"]), []
        for h in msg.get("hs") or []:
            try:
                out.append(("v", getattr(peer._target({"r": h}), name)))
            except AttributeError:
                out.append(("a",))
        return tuple(out)
    if op == "getitem":
        return peer._target(msg)[peer.dec(msg["key"])]
    if op == "iter":
        return iter(peer._target(msg))
    if op == "next":
        try:
            return ("v", next(peer._target(msg)))
        except StopIteration:
            return ("stop",)
    if op == "contains":
        return peer.dec(msg["item"]) in peer._target(msg)
    if op == "repr":
        return _short(repr(peer._target(msg)))
    if op == "str":
        return _short(str(peer._target(msg)))
    if op == "array":
        return np.asarray(peer._target(msg))
    if op == "namespaces":
        return tuple(ByRef(g) for g in class_namespaces(peer._target(msg)))
    if op == "release":
        peer.release([int(h) for h in msg.get("hs", [])])
        return None
    if op == "call":
        fn = peer._target(msg)
        args = peer.dec(msg.get("args") or {"t": []})
        kwargs = peer.dec(msg.get("kwargs") or {"d": []})
        return fn(*args, **dict(kwargs))
    if op == "getattr":
        return getattr(peer._target(msg), str(msg["name"]))
    if op == "unary":
        return UNARY[str(msg["fn"])](peer._target(msg))
    if op == "binary":
        return {**BINARY, **KERNEL_BINARY}[str(msg["fn"])](peer.dec(msg["a"]), peer.dec(msg["b"]))
    raise RemoteError("不支持的请求 %r" % (op,))
