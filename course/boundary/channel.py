"""通道的传输层：一个 Unix 套接字，每条消息是 4 字节长度 + 一段 UTF-8 的 JSON；读之前先看长度，超时就断开。

Channel 只管收发一条条消息和时间限制，不解释消息的内容（那是 peer.Peer 的事）。
评判进程一端（trusted=True）收的消息上限小得多（MAX_TRUSTED_MESSAGE）：学生送来的答案在解码之前就有上限。
"""
import json
import socket
import struct
import time

from .errors import ChannelClosed, ChannelTimeout, RemoteError

__all__ = ["Channel", "connect_listener", "MAX_MESSAGE", "MAX_TRUSTED_MESSAGE"]

MAX_MESSAGE = 256 * 2 ** 20  # 内核一方收的一条消息最大 256 MiB
MAX_TRUSTED_MESSAGE = 32 * 2 ** 20  # 评判进程收的一条消息最大 32 MiB
HEADER = struct.Struct("!I")


class Channel:
    """通道一端的收发：sock 是连好的套接字；timeout 是每次等待的上限，deadline（time.monotonic）是整体截止时间。"""

    def __init__(self, sock, trusted, timeout=None):
        self.sock, self.trusted, self.timeout = sock, trusted, timeout
        self.deadline = None  # 评分进程一端：这个单元的截止时间（time.monotonic）
        self.closed = False

    def _send(self, msg):
        data = json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if len(data) > MAX_MESSAGE:
            raise RemoteError("要传的数据太大（%d 字节）" % len(data))
        try:
            self.sock.sendall(HEADER.pack(len(data)) + data)
        except OSError as exc:
            self.closed = True
            raise ChannelClosed("通道已断开（%s）" % exc) from None

    def _recv_exact(self, n):
        chunks = []
        while n:
            self._arm()
            try:
                chunk = self.sock.recv(min(n, 1 << 20))
            except socket.timeout:
                self.closed = True
                raise ChannelTimeout("对方在限定时间内没有回答") from None
            except OSError as exc:
                self.closed = True
                raise ChannelClosed("通道已断开（%s）" % exc) from None
            if not chunk:
                self.closed = True
                raise ChannelClosed("对方关闭了通道")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _arm(self):
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.closed = True
                raise ChannelTimeout("这个测试单元的时间用完了")
            self.sock.settimeout(left)
        else:
            self.sock.settimeout(self.timeout)

    def _recv(self):
        (size,) = HEADER.unpack(self._recv_exact(HEADER.size))
        if size > (MAX_TRUSTED_MESSAGE if self.trusted else MAX_MESSAGE):
            self.closed = True
            raise ChannelClosed("对方送来的消息太大")
        try:
            msg = json.loads(self._recv_exact(size).decode("utf-8"))
        except ValueError:
            self.closed = True
            raise ChannelClosed("对方送来的消息不是合法的 JSON") from None
        if not isinstance(msg, dict):
            self.closed = True
            raise ChannelClosed("对方送来的消息格式不对")
        return msg

    def _close_socket(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass


def connect_listener(path):
    """评分进程：在 path 上监听（内核连进来）。"""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    return srv
