"""评分边界（course/boundary/）的单元测试：两端各一个 Peer，中间只有一个 Unix 套接字。

“内核”一端在一个线程里运行（serve_socket，名字从一个字典里取），评分进程一端在测试里。
这里测的是：纯数据原样往返；代理的行为与直接调用一致（类、方法、运算、异常、签名、原地修改）；
内核一端送来什么都只是数据（不认识的模块、object 数组、坏 JSON、太大的消息、未知句柄都被拒绝）；
内核对评分进程的对象只能做很少的事；学生代码卡住时测试按时结束，而且检查函数的 except Exception
吞不掉这个超时。
"""
import inspect
import json
import math
import socket
import struct
import threading
import time
from collections.abc import Mapping

import numpy as np
import pytest

from course import boundary as wire

STUDENT = '''
import numpy as np
from collections import OrderedDict

class MulLayer:
    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, dout):
        return dout * self.y, dout * self.x

class Flipped(MulLayer):
    def backward(self, dout):
        return dout * self.x, dout * self.y

class Value:
    def __init__(self, data, _prev=()):
        self.data, self.grad, self._prev = data, 0.0, set(_prev)
    def __add__(self, o):
        o = o if isinstance(o, Value) else Value(o)
        return Value(self.data + o.data, (self, o))
    __radd__ = __add__
    def __mul__(self, o):
        o = o if isinstance(o, Value) else Value(o)
        return Value(self.data * o.data, (self, o))
    __rmul__ = __mul__

def numerical_diff(f, x, h=1e-4):
    return (f(x + h) - f(x - h)) / (2 * h)

def relu_in_place(x):
    x[x < 0] = 0
    return x

class Net:
    def __init__(self):
        self.params = {"W": np.ones((2, 2))}
        self.layers = OrderedDict(a=MulLayer())
    def run(self, x):
        return self.layers["a"].forward(x, self.params["W"])

def not_done():
    raise NotImplementedError("还没写")

class MyError(Exception):
    pass

def custom():
    raise MyError("自定义")

def interrupted():
    raise KeyboardInterrupt

STOP = [False]  # 测试结束时置真：真正的评分里卡住的内核会被杀掉，这里的“内核”只是测试进程里的一个线程

def loop_forever():
    while not STOP[0]:
        pass

def echo(x):
    return x

def poke(obj, what):
    return what(obj)

class Touchy:
    @property
    def grad(self):
        raise ValueError("不许读")

class Cheat:
    """想从调用者的帧里读到期望值：评分进程的帧不在这个进程里。"""
    def __float__(self):
        import sys
        f = sys._getframe(1)
        return float(f.f_locals.get("expected", -1.0))
'''


class Pair:
    def __init__(self, timeout=10):
        self.ns = {"__name__": "__main__"}
        exec(compile(STUDENT, "<ipykernel_1>", "exec"), self.ns)  # noqa: S102  测试里的“学生代码”
        a, b = socket.socketpair()
        self.thread = threading.Thread(target=wire.serve_socket, args=(b, None, self.ns), daemon=True)
        self.thread.start()
        self.peer = wire.Peer(a, trusted=True, timeout=timeout)

    def get(self, name):
        return self.peer.request("get", name=name)

    def close(self):
        self.peer.close()
        self.thread.join(5)


@pytest.fixture
def pair():
    p = Pair()
    yield p
    p.close()


@pytest.mark.parametrize("value", [
    None, True, False, 0, -7, 2 ** 80, -(2 ** 60), 1.5, -0.0, float("inf"), float("-inf"), "中文 text", "",
    (1, (2.5, "x")), [1, [2, [3]]], {"a": 1, 2: (3, 4)}, {1, 2, 3}, frozenset({"p"}), 3 + 4j, slice(1, None, 2),
    Ellipsis])
def test_plain_values_round_trip_exactly(pair, value):
    got = pair.get("echo")(value)
    assert got == value and isinstance(got, type(value))  # list、dict 回来时是能写回内核的子类


def test_nan_round_trips(pair):
    assert math.isnan(pair.get("echo")(float("nan")))


@pytest.mark.parametrize("arr", [
    np.arange(6.0).reshape(2, 3), np.array(3.5), np.float32(2.25), np.int64(-4), np.array([True, False]),
    np.arange(12).reshape(3, 4)[:, ::2], np.zeros((0, 3)), np.array([1 + 2j]), np.arange(4, dtype=">i4")])
def test_arrays_and_numpy_scalars_keep_dtype_shape_and_values(pair, arr):
    got = pair.get("echo")(arr)
    assert np.shape(got) == np.shape(arr)
    assert np.asarray(got).dtype == np.asarray(arr).dtype
    assert np.array_equal(np.asarray(got), np.asarray(arr))
    assert isinstance(got, np.generic) == isinstance(arr, np.generic)


def test_classes_are_real_classes_with_the_students_names(pair):
    MulLayer = pair.get("MulLayer")
    assert isinstance(MulLayer, type)
    assert MulLayer.__name__ == "MulLayer" and MulLayer.__module__ == "__main__"
    layer = MulLayer()
    assert isinstance(layer, MulLayer) and type(layer).__name__ == "MulLayer"
    assert not isinstance(layer, pair.get("Value"))
    assert isinstance(pair.get("Flipped")(), MulLayer)  # 子类关系由内核判断
    out = layer.forward(np.arange(3.0), 2.0)
    assert np.array_equal(out, [0.0, 2.0, 4.0])
    dx, dy = layer.backward(1.5)
    assert dx == 3.0 and np.array_equal(dy, [0.0, 1.5, 3.0])
    assert hasattr(layer, "x") and not hasattr(layer, "nope")
    assert pair.get("echo").__module__ == "__main__"
    assert type(layer.forward).__name__ == "method"


def test_signatures_come_from_the_kernel(pair):
    sig = inspect.signature(pair.get("numerical_diff"))
    assert list(sig.parameters) == ["f", "x", "h"] and sig.parameters["h"].default == 1e-4


def test_callbacks_run_in_the_trusted_process(pair):
    seen = []

    def f(v):
        seen.append(v)
        return v ** 2

    assert abs(pair.get("numerical_diff")(f, 3.0) - 6.0) < 1e-6
    assert len(seen) == 2
    rng = np.random.default_rng(0)  # 随机数发生器交给内核时只能调用它的几个抽样方法（peer.RNG_METHODS）
    got = pair.get("poke")(rng, lambda r: r.standard_normal(3))
    assert np.allclose(got, np.random.default_rng(0).standard_normal(3))
    with pytest.raises(Exception):
        pair.get("poke")(rng, lambda r: r.bit_generator)


def test_value_graphs_work_through_handles(pair):
    Value = pair.get("Value")
    a = Value(2.0)
    b = a * 3 + a
    c = 0.5 * a
    assert b.data == 8.0 and c.data == 1.0
    parents = b._prev
    assert isinstance(parents, set) and len(parents) == 2
    assert all(type(p).__name__ == "Value" for p in parents)
    left = [p for p in parents if p.data == 6.0][0]
    assert a in left._prev  # 同一个内核对象总是同一个代理
    a.grad = 4.0
    assert a.grad == 4.0


def test_getattrs_reads_a_whole_graph_in_one_message(pair, monkeypatch):
    Value = pair.get("Value")
    a = Value(2.0)
    nodes = [a, a * 3, a * 3 + a]
    for node, g in zip(nodes, (1.0, 2.0, 3.0)):
        node.grad = g
    before = pair.peer.calls
    assert wire.getattrs(nodes, "grad") == [1.0, 2.0, 3.0]
    assert pair.peer.calls == before + 1
    assert wire.getattrs(nodes, "missing", "默认") == ["默认"] * 3  # 和 getattr(o, name, default) 一样
    assert wire.getattrs(nodes[:1] + [1.5], "real") == [None, 1.5]  # 混着本地对象：逐个读
    assert wire.getattrs([], "grad") == []
    assert wire.getattrs([2.5, 3], "real") == [2.5, 3]
    with pytest.raises(Exception, match="不许读"):  # 不是 AttributeError 的异常照常抛出
        wire.getattrs([pair.get("Touchy")()], "grad")
    monkeypatch.setattr(pair.peer, "request", lambda *a, **k: (("v", 1.0),))  # 条数对不上
    with pytest.raises(wire.RemoteError):
        wire.getattrs(nodes, "grad")
    monkeypatch.setattr(pair.peer, "request", lambda *a, **k: (("x", 1.0),) * 3)  # 格式不对
    with pytest.raises(wire.RemoteError):
        wire.getattrs(nodes, "grad")


def test_in_place_changes_to_arguments_reach_the_caller(pair):
    x = np.array([-1.0, 2.0, -3.0])
    out = pair.get("relu_in_place")(x)
    assert np.array_equal(x, [0.0, 2.0, 0.0])  # 与直接调用一样：学生的层改了调用者的数组
    assert np.array_equal(out, x)


def test_writes_into_the_students_arrays_reach_the_kernel(pair):
    net = pair.get("Net")()
    assert isinstance(net.layers, Mapping) and list(net.layers) == ["a"]
    net.params["W"][...] = 5.0
    assert np.array_equal(net.run(np.ones(2)), np.full((2, 2), 5.0))
    net.params["W"][0, 1] += 1.0
    assert pair.ns["Net"] is not None and net.run(np.ones(2))[0, 1] == 6.0


def test_student_exceptions_keep_their_type_and_line(pair):
    with pytest.raises(NotImplementedError, match="还没写") as info:
        pair.get("not_done")()
    assert "notebook 单元的第" in info.value.remote_where and "not_done" in info.value.remote_where
    with pytest.raises(Exception) as info:
        pair.get("custom")()
    assert type(info.value).__name__ == "MyError" and isinstance(info.value, wire.RemoteError)
    with pytest.raises(wire.RemoteError) as info:  # KeyboardInterrupt 只是学生代码的一个结果，不会在评分进程里冒出来
        pair.get("interrupted")()
    assert type(info.value).__name__ == "KeyboardInterrupt"


def test_a_hanging_call_ends_in_time_and_is_not_an_ordinary_exception():
    p = Pair()
    p.peer.deadline = time.monotonic() + 1.0
    t0 = time.monotonic()
    with pytest.raises(wire.ChannelTimeout):
        try:
            p.get("loop_forever")()
        except Exception:  # 检查函数常写的 except Exception 吞不掉它
            pytest.fail("超时被当成了普通异常")
    assert time.monotonic() - t0 < 5
    p.peer.sock.close()
    p.ns["STOP"][0] = True  # 不让空转的线程占着一个核、拖慢后面所有的测试
    p.thread.join(5)
    assert not p.thread.is_alive()


def test_objects_cannot_read_the_callers_frames(pair):
    expected = 42.0  # noqa: F841  Cheat 想读到的局部变量
    assert float(pair.get("Cheat")()) == -1.0


# ---------------------------------------------------------------- 内核一端送来什么都只是数据
class FakeKernel:
    """手写的“内核”：对评分进程的第一个请求送回指定的原始字节。"""

    def __init__(self, reply_bytes):
        a, b = socket.socketpair()
        self.peer = wire.Peer(a, trusted=True, timeout=5)

        def run():
            header = b.recv(4)
            (n,) = struct.unpack("!I", header)
            while n:
                n -= len(b.recv(n))
            b.sendall(reply_bytes)
            time.sleep(0.5)
            b.close()

        threading.Thread(target=run, daemon=True).start()


def _frame(obj):
    data = json.dumps(obj).encode()
    return struct.pack("!I", len(data)) + data


@pytest.mark.parametrize("reply, error", [
    ({"ret": {"m": "os"}}, wire.RemoteError),  # 只认白名单里的模块
    ({"ret": {"a": ["|O", [1], ""]}}, TypeError),  # object 数组不解码
    ({"ret": {"r": 12345}}, wire.RemoteError),  # 不认识的句柄
    ({"ret": {"zz": 1}}, wire.RemoteError),
    ({"err": {"type": "SystemExit", "builtin": True, "msg": "x"}}, wire.RemoteError),  # 不会让评分进程退出
])
def test_malformed_or_hostile_replies_are_refused(reply, error):
    k = FakeKernel(_frame(reply))
    with pytest.raises(Exception) as info:
        k.peer.request("get", name="x")
    assert isinstance(info.value, (error, wire.RemoteError, TypeError))
    assert not isinstance(info.value, SystemExit)


@pytest.mark.parametrize("raw", [b"\x00\x00\x00\x05{oops", struct.pack("!I", 2 ** 31) + b"x", b"\x00\x00\x00\x02[]"])
def test_garbage_closes_the_channel(raw):
    k = FakeKernel(raw)
    with pytest.raises(wire.ChannelError):
        k.peer.request("get", name="x")


def test_the_kernel_can_do_only_a_few_things_to_trusted_objects():
    secret = {"expected": 1.0}

    class Checker:
        hidden = 3

        def __init__(self):
            self._expected = 7.0

        def method(self):
            return "ok"

    obj = Checker()
    t = wire.Peer(None, trusted=True)
    with pytest.raises(wire.RemoteError):  # 普通对象根本交不出去
        t.enc(obj)
    assert t._perform({"op": "call", "r": t.export(obj.method), "args": {"t": []}}) == "ok"
    hid = t.export(obj)  # 即使有了编号（协议不会给），也什么都做不了
    for msg in ({"op": "getattr", "r": hid, "name": "hidden"},
                {"op": "getattr", "r": hid, "name": "_expected"},
                {"op": "getattr", "r": t.export(obj.method), "name": "__self__"},
                {"op": "setattr", "r": hid, "name": "hidden", "value": 0},
                {"op": "getitem", "r": t.export(secret), "key": "expected"},
                {"op": "binary", "fn": "isinstance", "a": 1, "b": 2},
                {"op": "get", "name": "secret"},
                {"op": "names", "names": ["secret"]},
                {"op": "call", "r": hid, "args": {"t": []}}):
        with pytest.raises(Exception):
            t._perform(msg)
    assert obj.hidden == 3 and obj._expected == 7.0

    class Spy:  # 声明了接口的替身：只能调用 forward；别的属性转给它包着的内核对象（这里没有）
        remote_methods = ("forward",)

        def forward(self, x):
            return x

        def secret(self):
            return "no"

    spy = Spy()
    sid = t.export(spy)
    fwd = t._perform({"op": "getattr", "r": sid, "name": "forward"})
    assert fwd(2) == 2
    for msg in ({"op": "getattr", "r": sid, "name": "secret"}, {"op": "setattr", "r": sid, "name": "dW", "value": 1},
                {"op": "call", "r": sid, "args": {"t": []}}):
        with pytest.raises(Exception):
            t._perform(msg)
    wrapped = wire.StandIn(obj, ("method",), ("hidden",))
    wid = t.export(wrapped)
    assert t._perform({"op": "getattr", "r": wid, "name": "hidden"}) == 3
    with pytest.raises(AttributeError):
        t._perform({"op": "getattr", "r": wid, "name": "_expected"})
