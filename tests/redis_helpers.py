"""测试用的 Redis：在 127.0.0.1 的一个空闲端口上起 redis-server（不落盘，数据放在临时文件夹，有密码），用完停掉。

    with redis_server() as redis:          # 没有 redis-server 时 pytest.skip，说明原因
        redis.url                          # redis://:密码@127.0.0.1:端口/0（requirepass：和真实部署一样要密码）
        redis.password, redis.port         # 随机的密码；不带密码连就是 NOAUTH
    with redis_server(password=False)      # 对照：没有密码的 Redis（谁连得上谁就读得到）
        redis.stop(); redis.start()        # 模拟 Redis 掉线又回来：同一个端口，数据全部丢掉（没有持久化）

.ci/run 用 apt-get 装 Debian 的 redis-server；装不上时用到 Redis 的测试跳过。
"""
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time

import pytest


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ping(port, timeout=0.5):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith((b"+PONG", b"-NOAUTH"))  # 有密码时不认证也会回一句：起来了
    except OSError:
        return False


class RedisServer:
    """一个 redis-server 进程；start() 和 stop() 可以反复调用，端口不变。"""

    def __init__(self, binary, tmp, port=None, password=True):
        self.binary, self.tmp = binary, tmp
        self.port = port or free_port()
        self.password = secrets.token_hex(16) if password else None
        self.url = "redis://%s127.0.0.1:%d/0" % (":%s@" % self.password if password else "", self.port)
        self.proc = None

    def start(self, timeout=20):
        if self.proc is not None:
            return
        log = os.path.join(self.tmp, "redis.log")
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.tmp,
             "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", log]
            + (["--requirepass", self.password] if self.password else []),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not _ping(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                text = open(log, encoding="utf-8", errors="replace").read()[-800:] if os.path.exists(log) else ""
                self.stop()
                raise RuntimeError("redis-server 没有启动起来（端口 %d）：%s" % (self.port, text))
            time.sleep(0.05)

    def stop(self):
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.kill()  # 像机器掉电一样：不给 Redis 收尾的机会
        proc.wait(timeout=30)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None


@contextlib.contextmanager
def redis_server(password=True):
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("没有 redis-server：apt-get install redis-server（Debian 的软件包，.ci/run 会装）")
    tmp = tempfile.mkdtemp(prefix="course-redis-")
    server = RedisServer(binary, tmp, password=password)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
