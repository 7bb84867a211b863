"""评判进程一端交给内核的替身，以及内核对评判进程的对象能做的全部事情（perform_trusted）。

替身：检查函数交给学生代码、只露出写明的方法和属性的对象——声明了 remote_methods（可选 remote_attrs、
remote_delegate）的类和它的对象、StandIn(obj, methods, attrs) 包装、numpy 的随机数发生器（RNG_METHODS）。
内核对它们只能：call（函数、可调用的替身、替身类）、getattr / setattr（只对替身上写明的名字，或转给
remote_delegate 指向的内核对象）、bool、repr / str（固定的文字）、describe。别的请求一律拒绝。
"""
import numpy as np

from .errors import RemoteError
from .proxies import is_remote

__all__ = ["StandIn", "RNG_METHODS", "class_namespaces", "perform_trusted"]


class StandIn:
    """检查函数交给学生代码的替身：只露出写明的方法（methods）和属性（attrs，按值读），别的都没有。

    评分时学生代码在内核里，它拿到的是这个替身的句柄，只能调用 methods 里的方法（"__call__" 表示
    可以直接调用替身）、读 attrs 里的属性；在 JupyterLab 里它就是一个普通的包装，行为相同。
    例如 StandIn(net, ("gradient", "numerical_gradient"), ("params",))、StandIn(rng, ("normal", "uniform"))。
    """

    __slots__ = ("_obj", "_iface")

    def __init__(self, obj, methods=(), attrs=()):
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_iface", (tuple(methods), tuple(attrs), None))

    def __getattr__(self, name):
        methods, attrs, _ = object.__getattribute__(self, "_iface")
        if name in methods or name in attrs:
            return getattr(object.__getattribute__(self, "_obj"), name)
        raise AttributeError("这里只能用 %s" % "、".join(m for m in methods + attrs if m != "__call__"))

    def __setattr__(self, name, value):
        raise AttributeError("这个对象的属性不能改写")

    def __call__(self, *args, **kwargs):
        if "__call__" not in object.__getattribute__(self, "_iface")[0]:
            raise TypeError("这个对象不能调用")
        return object.__getattribute__(self, "_obj")(*args, **kwargs)

    def __repr__(self):
        return repr(object.__getattribute__(self, "_obj"))


# numpy 的随机数发生器交给学生代码（例如 Neuron(2, rng=np.random.default_rng(0))）时只能调用这些方法
RNG_METHODS = ("normal", "uniform", "standard_normal", "random", "integers", "choice", "permutation")


def _interface(obj):
    """评判进程的对象若是替身：(方法名, 属性名, 转给谁)；否则 None。"""
    if type(obj) is StandIn:
        return object.__getattribute__(obj, "_iface")
    if type(obj) is np.random.Generator:
        return RNG_METHODS, (), None
    methods = getattr(type(obj), "remote_methods", None) if not isinstance(obj, type) else None
    if not methods:
        return None
    return (tuple(methods), tuple(getattr(type(obj), "remote_attrs", ()) or ()),
            getattr(type(obj), "remote_delegate", None))


def _delegate(stand_in):
    """替身对象包着的内核对象（类上 remote_delegate 写明的属性名）；不是内核里的对象时为 None。"""
    name = getattr(type(stand_in), "remote_delegate", None)
    if not name:
        return None
    try:
        inner = object.__getattribute__(stand_in, "__dict__").get(name)
    except AttributeError:
        return None
    return inner if is_remote(inner) else None


def class_namespaces(cls):
    """cls 及其父类（object 除外）里各个函数所在模块的全局字典（不重复）。"""
    spaces = []
    for klass in getattr(cls, "__mro__", ())[:-1]:
        for attr in vars(klass).values():
            func = getattr(attr, "__func__", attr)
            g = getattr(func, "__globals__", None)
            if isinstance(g, dict) and not any(g is s for s in spaces):
                spaces.append(g)
    return spaces


class _Described(dict):
    """describe 请求的结果：原样作为纯数据的 dict 送回。"""


def perform_trusted(peer, op, msg, callable_types):
    """评判进程一端替内核做的一件事（见模块说明）；callable_types 是可以直接调用的函数类型。"""
    target = peer._target(msg)
    iface = _interface(target)
    if op == "call":
        stand_in_class = isinstance(target, type) and getattr(target, "remote_methods", None)
        callable_stand_in = iface is not None and "__call__" in iface[0]
        if not (callable_stand_in or (iface is None and isinstance(target, callable_types)) or stand_in_class):
            raise TypeError("这个对象不能调用")
        args = peer.dec(msg.get("args") or {"t": []})
        kwargs = peer.dec(msg.get("kwargs") or {"d": []})
        if not isinstance(args, tuple) or not isinstance(kwargs, dict) or \
                not all(isinstance(k, str) for k in kwargs):
            raise TypeError("参数的格式不对")
        return target(*args, **kwargs)
    if op in ("getattr", "setattr"):
        name = str(msg.get("name"))
        if iface is None or name.startswith("_"):
            raise AttributeError("评判进程的对象没有可以%s的属性 %s" % ("读" if op == "getattr" else "写", name[:80]))
        methods, attrs, _ = iface
        if op == "getattr" and (name in methods or name in attrs):
            return getattr(target, name)
        delegate = _delegate(target)
        if delegate is None:
            raise AttributeError(name[:80])
        if op == "getattr":
            return getattr(delegate, name)
        setattr(delegate, name, peer.dec(msg.get("value")))
        return None
    if op == "unary" and msg.get("fn") == "bool":
        return True
    if op in ("repr", "str"):
        return "<评判进程的%s>" % ("替身对象" if iface is not None else "函数")
    if op == "describe":
        return _Described({"k": "object" if iface is not None else "function"})
    raise RemoteError("评判进程不接受请求 %r" % (str(op)[:40],))
