"""评分进程一端看到的内核对象：代理（每个动作变成一条请求）、类的代理，以及从内核取来的可变值。

Proxy：内核里一个对象的代理，取属性、调用、运算……都交给通道（peer.request）；
RemoteClass：内核里一个类的代理，本身是一个真正的类（isinstance、__name__、__module__ 照常）；
RemoteArray / RemoteList / RemoteDict：按值取来的数组、list、dict，改写时同时写回内核里的原对象。
这里只发请求、不解码：编码和解码在 codec.py，收发在 peer.py。
"""
import collections.abc
import inspect

import numpy as np

from .errors import RemoteError

__all__ = ["Proxy", "MappingProxy", "SequenceProxy", "RemoteClass", "RemoteArray", "RemoteList", "RemoteDict",
           "getattrs", "is_remote", "remote_namespaces", "REMOTE_DUNDERS"]


class _Backed:
    """从内核取来的可变值（数组、list、dict）：本地是一份拷贝，改写时同时写回内核里的原对象。"""

    def _push(self, op, **fields):
        origin = getattr(self, "_origin", None)
        if origin is not None and origin[1] is not None:
            peer, hid = origin
            peer.request(op, r=hid, **fields)


class RemoteArray(np.ndarray, _Backed):
    def __array_finalize__(self, obj):
        self._origin = None  # 切片、运算得到的新数组不再连着内核

    def __repr__(self):
        return repr(np.asarray(self))

    def __str__(self):
        return str(np.asarray(self))

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        origin = getattr(self, "_origin", None)
        if origin is not None:
            peer = origin[0]
            self._push("setitem", key=peer.enc(key), value=peer.enc(np.asarray(self)[key]))

    def __reduce__(self):
        return np.asarray(self).__reduce__()


class RemoteList(list, _Backed):
    def __init__(self, items=(), origin=None):
        super().__init__(items)
        self._origin = origin

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        if self._origin is not None:
            self._push("setitem", key=self._origin[0].enc(key), value=self._origin[0].enc(value))

    def append(self, value):
        super().append(value)
        if self._origin is not None:
            self._push("setitem", key={"sl": [len(self) - 1, len(self) - 1, None]},
                       value=self._origin[0].enc([value]))


class RemoteDict(dict, _Backed):
    def __init__(self, pairs=(), origin=None):
        super().__init__(pairs)
        self._origin = origin

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        if self._origin is not None:
            self._push("setitem", key=self._origin[0].enc(key), value=self._origin[0].enc(value))

    def __delitem__(self, key):
        super().__delitem__(key)
        if self._origin is not None:
            self._push("delitem", key=self._origin[0].enc(key))

    def pop(self, key, *default):
        if key in self:
            value = self[key]
            del self[key]
            return value
        return super().pop(key, *default)


def getattrs(objs, name, default=None):
    """[getattr(o, name, default) for o in objs]，只是 objs 都是内核里的对象（同一条通道的代理）时一条消息取完。

    检查函数读一整张计算图的 grad、data 时用它：逐个读要一个节点一条消息。
    """
    objs = list(objs)
    dunder = name.startswith("__") and name.endswith("__") and name not in REMOTE_DUNDERS
    proxies = all(isinstance(o, Proxy) for o in objs)  # 类的代理（RemoteClass）不是 Proxy 的实例
    if dunder or not objs or not proxies or len({id(_p(o)[0]) for o in objs}) != 1:
        return [getattr(o, name, default) for o in objs]
    peer = _p(objs[0])[0]
    got = peer.request("getattrs", name=name, hs=[_p(o)[1] for o in objs])
    if not isinstance(got, tuple) or len(got) != len(objs) or \
            not all(isinstance(g, tuple) and g[:1] in (("v",), ("a",)) and len(g) == (2 if g[0] == "v" else 1)
                    for g in got):
        raise RemoteError("内核送回的属性值格式不对")
    return [g[1] if g[0] == "v" else default for g in got]


def _p(obj):
    """代理（或类代理）→ (Peer, 句柄)。"""
    if isinstance(obj, RemoteClass):
        return type.__getattribute__(obj, "_rc_peer"), type.__getattribute__(obj, "_rc_h")
    return object.__getattribute__(obj, "_rpc_peer"), object.__getattribute__(obj, "_rpc_h")


def _unary(fn):
    def method(self):
        peer, hid = _p(self)
        return peer.request("unary", r=hid, fn=fn)
    method.__name__ = "__%s__" % fn.rstrip("_")
    return method


def _binary(fn, reflected=False):
    def method(self, other):
        peer, hid = _p(self)
        a, b = ({"r": hid}, peer.enc(other)) if not reflected else (peer.enc(other), {"r": hid})
        return peer.request("binary", fn=fn, a=a, b=b)
    return method


def _signature(obj):
    peer, hid = _p(obj)
    params = []
    for name, kind, has_default, default in peer.request("signature", r=hid):
        params.append(inspect.Parameter(str(name), inspect._ParameterKind(int(kind)),
                                        default=default if has_default else inspect.Parameter.empty))
    return inspect.Signature(params)


# 代理上直接转给对方的双下划线属性（其余的双下划线名字当作不存在，免得 copy、pickle 等库误以为对象支持它们）
REMOTE_DUNDERS = frozenset({"__name__", "__qualname__", "__self__", "__func__", "__wrapped__", "__doc__",
                            "__code__", "__defaults__", "__dict__"})


class Proxy:
    """对方进程里一个对象的代理：每个动作都变成一条消息。"""

    __slots__ = ("_rpc_peer", "_rpc_h", "__weakref__")

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__") and name not in REMOTE_DUNDERS:
            raise AttributeError(name)
        peer, hid = _p(self)
        return peer.request("getattr", r=hid, name=name)

    def __setattr__(self, name, value):
        peer, hid = _p(self)
        peer.request("setattr", r=hid, name=name, value=peer.enc(value))

    def __delattr__(self, name):
        peer, hid = _p(self)
        peer.request("delattr", r=hid, name=name)

    def __call__(self, *args, **kwargs):
        peer, hid = _p(self)
        return peer.request("call", r=hid, args=peer.enc(args), kwargs=peer.enc(dict(kwargs)))

    def __getitem__(self, key):
        peer, hid = _p(self)
        return peer.request("getitem", r=hid, key=peer.enc(key))

    def __setitem__(self, key, value):
        peer, hid = _p(self)
        peer.request("setitem", r=hid, key=peer.enc(key), value=peer.enc(value))

    def __delitem__(self, key):
        peer, hid = _p(self)
        peer.request("delitem", r=hid, key=peer.enc(key))

    def __contains__(self, item):
        peer, hid = _p(self)
        return peer.request("contains", r=hid, item=peer.enc(item))

    def __iter__(self):
        peer, hid = _p(self)
        it = peer.request("iter", r=hid)
        if not isinstance(it, Proxy):  # 内核直接给了值（列表等）
            yield from it
            return
        ipeer, ihid = _p(it)
        while True:
            step = ipeer.request("next", r=ihid)
            if not isinstance(step, tuple) or not step or step[0] != "v":
                return
            yield step[1]

    def __repr__(self):
        peer, hid = _p(self)
        try:
            return str(peer.request("repr", r=hid))
        except Exception:
            return "<对象>"

    def __str__(self):
        peer, hid = _p(self)
        return str(peer.request("str", r=hid))

    def __format__(self, spec):
        return format(str(self), spec) if spec else str(self)

    def __array__(self, dtype=None, copy=None):
        peer, hid = _p(self)
        arr = np.asarray(peer.request("array", r=hid))
        return arr.astype(dtype) if dtype is not None else arr

    @property
    def __signature__(self):
        return _signature(self)

    @property
    def __module__(self):  # noqa: A003  函数、方法的模块名在对方那边
        peer, hid = _p(self)
        return peer.request("getattr", r=hid, name="__module__")

    # 代理的身份就是句柄：同一个对象总是同一个代理，哈希用身份（与 object 的默认行为一致）
    __hash__ = object.__hash__

    __len__ = _unary("len")
    __bool__ = _unary("bool")
    __float__ = _unary("float")
    __int__ = _unary("int")
    __index__ = _unary("index")
    __complex__ = _unary("complex")
    __neg__ = _unary("neg")
    __pos__ = _unary("pos")
    __abs__ = _unary("abs")
    __invert__ = _unary("invert")
    __trunc__ = _unary("trunc")
    __floor__ = _unary("floor")
    __ceil__ = _unary("ceil")

    def __round__(self, ndigits=None):
        peer, hid = _p(self)
        if ndigits is None:
            return peer.request("unary", r=hid, fn="round")
        return peer.request("binary", fn="round", a={"r": hid}, b=peer.enc(ndigits))


for _name, _fn in [("add", "add"), ("sub", "sub"), ("mul", "mul"), ("truediv", "truediv"),
                   ("floordiv", "floordiv"), ("mod", "mod"), ("pow", "pow"), ("matmul", "matmul"),
                   ("and", "and_"), ("or", "or_"), ("xor", "xor"), ("lshift", "lshift"), ("rshift", "rshift")]:
    setattr(Proxy, "__%s__" % _name, _binary(_fn))
    setattr(Proxy, "__r%s__" % _name, _binary(_fn, reflected=True))
for _name in ("lt", "le", "eq", "ne", "gt", "ge"):
    setattr(Proxy, "__%s__" % _name, _binary(_name))
Proxy.__hash__ = object.__hash__


class MappingProxy(Proxy):
    __slots__ = ()

    def keys(self):
        return list(iter(self))

    def items(self):
        return [(k, self[k]) for k in self.keys()]

    def values(self):
        return [self[k] for k in self.keys()]

    def get(self, key, default=None):
        return self[key] if key in self else default

    def pop(self, key, *default):
        if key in self:
            value = self[key]
            del self[key]
            return value
        if default:
            return default[0]
        raise KeyError(key)


class SequenceProxy(Proxy):
    __slots__ = ()


for _cls in (MappingProxy, SequenceProxy):
    _cls.__module__ = Proxy.__dict__["__module__"]
collections.abc.Mapping.register(MappingProxy)
collections.abc.Sequence.register(SequenceProxy)
_KIND_BASES = {"mapping": MappingProxy, "sequence": SequenceProxy}
_RC_ATTRS = ("_rc_peer", "_rc_h", "_rc_bases", "_rc_module")


def _class_dict():
    # 类字典里放 Proxy 的 __module__ 属性：实例代理的 __module__（函数、方法的模块名）要去对方那边取；
    # 类代理自己的 __module__ 由 RemoteClass 上的同名属性给出
    return {"__slots__": (), "__module__": Proxy.__dict__["__module__"]}


class RemoteClass(type):
    """对方的一个类的代理：本身是一个真正的类（isinstance(x, type)、__name__、__module__ 照常），
    它的实例代理都是这个类的实例；调用它就是在对方那边建一个对象。"""

    def __call__(cls, *args, **kwargs):
        peer, hid = _p(cls)
        return peer.request("call", r=hid, args=peer.enc(args), kwargs=peer.enc(dict(kwargs)))

    def __getattr__(cls, name):
        if (name.startswith("__") and name.endswith("__") and name not in REMOTE_DUNDERS) or name in _RC_ATTRS:
            raise AttributeError(name)
        peer, hid = _p(cls)
        return peer.request("getattr", r=hid, name=name)

    def __setattr__(cls, name, value):
        if name in _RC_ATTRS or (name.startswith("__") and name.endswith("__")):
            return type.__setattr__(cls, name, value)
        peer, hid = _p(cls)
        peer.request("setattr", r=hid, name=name, value=peer.enc(value))

    def __instancecheck__(cls, obj):
        if type.__instancecheck__(cls, obj):
            return True
        peer, hid = _p(cls)
        if isinstance(obj, Proxy) and _p(obj)[0] is not peer:
            return False
        return bool(peer.request("binary", fn="isinstance", a=peer.enc(obj), b={"r": hid}))

    def __subclasscheck__(cls, other):
        if type.__subclasscheck__(cls, other):
            return True
        peer, hid = _p(cls)
        if not isinstance(other, RemoteClass) or _p(other)[0] is not peer:
            return False
        return bool(peer.request("binary", fn="issubclass", a={"r": _p(other)[1]}, b={"r": hid}))

    def __repr__(cls):
        return "<class '%s.%s'>" % (cls.__module__, cls.__qualname__)

    @property
    def __signature__(cls):
        return _signature(cls)

    @property
    def __module__(cls):  # noqa: A003  学生类的 __module__（notebook 里是 "__main__"）
        return type.__getattribute__(cls, "_rc_module")

    @classmethod
    def make(mcs, peer, hid, desc):
        name = str(desc.get("n") or "Remote")
        cls = mcs.__new__(mcs, name if name.isidentifier() else "Remote", (Proxy,), _class_dict())
        mcs._setup(cls, peer, hid, str(desc.get("m") or ""), str(desc.get("q") or name))
        peer.classes[hid] = cls
        return cls

    @staticmethod
    def _setup(cls, peer, hid, module, qualname):
        type.__setattr__(cls, "__qualname__", qualname)
        for key, value in zip(_RC_ATTRS, (peer, hid, {}, module)):
            type.__setattr__(cls, key, value)

    def with_base(cls, base):
        """同一个类的实例，按种类（映射、序列）再多一个基类。"""
        made = type.__getattribute__(cls, "_rc_bases").get(base)
        if made is None:
            made = RemoteClass.__new__(RemoteClass, cls.__name__, (cls, base), _class_dict())
            peer, hid = _p(cls)
            RemoteClass._setup(made, peer, hid, type.__getattribute__(cls, "_rc_module"), cls.__qualname__)
            type.__getattribute__(cls, "_rc_bases")[base] = made
        return made


def is_remote(obj):
    """obj 是不是另一个进程里的对象（代理或类代理）。"""
    return isinstance(obj, (Proxy, RemoteClass))


def remote_namespaces(cls):
    """评分时学生的类在内核里：它的方法所在的全局字典（按句柄，改写直接改到内核里）。"""
    peer, hid = _p(cls)
    return list(peer.request("namespaces", r=hid))
