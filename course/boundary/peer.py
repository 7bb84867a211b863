"""通道的一端（Peer）：句柄表、请求与回答、写回；两端各有一个，内核里的那个由 serve() 建。

trusted=True 是评判进程这一端：编码只交出数据、函数和替身（codec.encode_trusted），只答应内核很少的几种
请求（standins.perform_trusted），只写回这次请求按值交出去的数组；trusted=False 是内核一端（kernel_ops.perform）。
"""
import socket

import numpy as np

from . import codec
from .channel import Channel
from .errors import ChannelClosed, ChannelError, RemoteError, describe_error, error_from
from .kernel_ops import perform
from .proxies import _KIND_BASES, Proxy, RemoteClass
from .standins import perform_trusted

__all__ = ["Peer", "serve", "serve_socket"]


class Peer(Channel):
    """通道一端：编码/解码、句柄表、收发请求（内核里那个学生能改坏，无妨）。"""

    def __init__(self, sock, trusted, timeout=None):
        super().__init__(sock, trusted, timeout)
        self.objects, self.ids = {}, {}  # 我方被对方引用的对象：编号 → 对象；id(对象) → 编号
        self.proxies, self.classes = {}, {}  # 对方对象的代理：编号 → 代理；对方类的编号 → 代理类
        self.next_id = 1
        self.written_back = []  # 本次请求里收到的数组（内核一端）：请求结束后把改动写回去
        self.calls = 0
        self.namespace = None  # 内核一端：按名字取学生对象的地方（默认是 IPython 的 user_ns）
        self.lending = []  # 评判进程一端：下一个请求按值交出去的数组（请求发出时归它，回答里的 "wb" 只改它们）

    # ------------------------------------------------------------ 句柄和编码（codec.py）
    def export(self, obj):
        key = id(obj)
        hid = self.ids.get(key)
        if hid is None or self.objects.get(hid) is not obj:
            hid, self.next_id = self.next_id, self.next_id + 1
            self.objects[hid], self.ids[key] = obj, hid
        return hid

    def enc(self, v, depth=0):
        return codec.encode(self, v, depth)

    def _enc_trusted(self, v, depth):
        return codec.encode_trusted(self, v, depth)

    def dec(self, x, depth=0):
        return codec.decode(self, x, depth)

    def _module(self, name):
        return codec.import_module(name)

    def proxy(self, hid, desc):
        p = self.proxies.get(hid)
        if p is not None:
            return p
        if desc.get("k") == "class":
            p = RemoteClass.make(self, hid, desc)
        else:
            cls = None
            if "c" in desc and self.trusted:
                chid, cdesc = int(desc["c"][0]), dict(desc["c"][1])
                cls = self.classes.get(chid)
                if cls is None and cdesc.get("k") == "class":
                    cls = self.proxy(chid, cdesc)
            base = _KIND_BASES.get(desc.get("k"), Proxy)
            if cls is None or not issubclass(cls, base):
                cls = base if cls is None else cls.with_base(base)
            p = object.__new__(cls)
            object.__setattr__(p, "_rpc_peer", self)
            object.__setattr__(p, "_rpc_h", hid)
        self.proxies[hid] = p
        return p


    # ------------------------------------------------------------ 请求与回答
    def request(self, op, **fields):
        """发一个请求并等回答；等的时候对方可能反过来请求我方（例如学生代码调用检查函数给的 lambda）。"""
        if self.closed:
            raise ChannelClosed("通道已断开")
        self.calls += 1
        fields["op"] = op
        lent, self.lending = self.lending, []  # 这次请求按值交出去的数组：只有它们可以被写回
        self._send(fields)
        while True:
            msg = self._recv()
            if "ret" in msg or "err" in msg:
                self._apply_writeback(msg.get("wb") or [], lent)
                if "err" in msg:
                    raise self._error(msg["err"])
                return self.dec(msg["ret"])
            if msg.get("op") == "bye":
                self.closed = True
                raise ChannelClosed("对方结束了通道")
            self._answer(msg)

    def _answer(self, msg):
        """替对方做一件事，把结果（或者异常）送回去。"""
        start = len(self.written_back)
        saved, self.lending = self.lending, []  # 回答里交出去的数组不会被写回
        try:
            result = self._perform(msg)
            reply = {"ret": self.enc(result)}
        except ChannelError:
            raise
        except BaseException as exc:  # 学生代码的任何异常（包括 KeyboardInterrupt）都只是这个请求的结果
            if self.trusted and isinstance(exc, (SystemExit, KeyboardInterrupt)):  # 教师按了 Ctrl-C 之类
                raise
            reply = {"err": self._describe_error(exc)}
        finally:
            self.lending = saved
        wb = self._collect_writeback(start)
        if wb:
            reply["wb"] = wb
        self._send(reply)

    def _collect_writeback(self, start):
        """内核一端：这次请求里按值收到的数组，被学生代码原地改过的，把新内容按序号送回去。"""
        out = []
        for w, arr, original in self.written_back[start:]:
            try:
                now = np.asarray(arr)
                if now.tobytes() != original:
                    out.append([w, {"a": codec._array_fields(now)}])
            except Exception:
                continue
        del self.written_back[start:]
        return out

    def _apply_writeback(self, items, lent):
        """评判进程一端：只改这次请求交出去的数组（lent），形状、类型不变时才改。"""
        if not self.trusted or not isinstance(items, list):
            return
        for item in items[:len(lent)]:
            try:
                w, data = item
                target = lent[w] if type(w) is int and 0 <= w < len(lent) else None
                if target is None or not isinstance(data, dict) or "a" not in data:
                    continue
                new, _ = codec.decode_array(data["a"], True)
                if new.shape == target.shape and target.flags.writeable:
                    target[...] = new
            except Exception:
                continue

    def _describe_error(self, exc):
        return describe_error(exc, self.trusted)

    def _error(self, err):
        return error_from(err)

    # ------------------------------------------------------------ 替对方做事
    def _target(self, msg, key="r"):
        try:
            return self.objects[int(msg[key])]
        except (KeyError, TypeError, ValueError):
            raise RemoteError("不认识的句柄") from None

    def _perform(self, msg):
        if self.trusted:
            return self._perform_trusted(msg.get("op"), msg)
        return perform(self, msg)

    def _perform_trusted(self, op, msg):
        return perform_trusted(self, op, msg, codec._CALLABLE_TYPES)

    def release(self, hids):
        for hid in hids:
            obj = self.objects.pop(hid, None)
            if obj is not None and self.ids.get(id(obj)) == hid:
                del self.ids[id(obj)]

    def close(self):
        if not self.closed:
            try:
                self._send({"op": "bye"})
            except (RemoteError, ChannelError):
                pass
        self._close_socket()
        self.objects.clear()
        self.ids.clear()


def serve(path, timeout=None, namespace=None):
    """内核：连上评分进程，替它做事，直到它说 bye。"""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    serve_socket(sock, timeout, namespace)


def serve_socket(sock, timeout=None, namespace=None, peer_class=None):
    """内核一端的循环（peer_class 只给测试用：换成学生改坏了的 Peer）。"""
    peer = (peer_class or Peer)(sock, trusted=False, timeout=timeout)
    peer.namespace = namespace
    try:
        while True:
            try:
                msg = peer._recv()
            except ChannelClosed:
                return
            if msg.get("op") == "bye":
                return
            if "ret" in msg or "err" in msg:  # 没有人在等这个回答
                continue
            peer._answer(msg)
    finally:
        peer.close()
