"""评判进程：autograde 时测试单元在这里运行，它自己也在沙箱里，交给 nbgrader 的只是纯数据的判决。

为什么单独一个进程：测试单元要和学生的内核通话（course/boundary/）。通道的协议已经只让内核调用评判进程
交给它的函数，可万一协议哪里写错了，被骗的也只是这个进程：
- 它在 bubblewrap 沙箱里（与评分内核同一套规则，sandbox.py）：没有网络，文件系统只读，看不到
  课程文件夹（source/、submitted/、autograded/、gradebook.db、交换目录），可写的只有沙箱里私有的
  小内存盘；有内存、CPU 时间、文件大小上限；
- 它手里没有成绩库、没有 nbgrader、没有别的学生：nbgrader 进程（boundary.py）把测试单元的源码和
  已经连好的内核套接字交给它，收回来的只是一张输出列表（文字、出错说明、隐藏测试标记），
  逐项检查类型和长度以后才写进评分后的 notebook；
- 它超时、死掉或者乱说话，只影响这一份 notebook 的这个单元：nbgrader 进程结束它，下一个测试单元
  再启动一个新的。
一个被骗的评判进程最多评错当前这份 notebook，碰不到别的学生、教师的文件和下一条评分命令。

nbgrader 进程 ↔ 评判进程（一个 Unix socketpair，4 字节长度 + JSON；内核套接字随消息传过去）：
    → {"op": "init", "modules": {别名: 模块名}, "names": [学生单元定义的名字], "max_output": 字符数}
    → {"op": "cell", "source": 测试单元源码, "timeout": 秒}   （附带一个文件描述符：连着内核的套接字）
    ← {"outputs": [{"t": "stream", "name": "stdout"|"stderr", "text": …}
                   | {"t": "mark"}                              隐藏测试从这里开始
                   | {"t": "error", "ename": …, "evalue": …, "traceback": [...]}],
       "trouble": null | "timeout" | "dead",
       "mistakes": [{"check", "hint", "hidden", "expected", "got"}]}   没有通过的检查（mistakes.py），进评分报告
    → {"op": "bye"}

评判进程对内核：每个测试单元开始时，一条 names 请求按固定的名单（学生单元里定义过的全部名字，
与测试无关）取回学生的对象，内核由此看不出哪个测试、哪段隐藏测试要用哪些名字。隐藏部分出错时，
评判进程只留下异常类型（内置异常的名字，学生定义的异常一律记作 StudentError）和一句固定的说明。

沙箱不可用时（COURSE_GRADING_SANDBOX=off、没有 bwrap）评判进程照样是一个单独的进程，有资源上限，
只是不在沙箱里；nbgrader 进程会大声警告（kernel_control.py）。
"""
import ast
import builtins
import contextlib
import io
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

from . import mistakes

__all__ = ["JudgeClient", "JudgeError", "bound_names", "main", "MAX_OUTPUTS"]

HEADER = struct.Struct("!I")
MAX_REQUEST = 64 * 2 ** 20  # nbgrader 进程发来的一条消息（测试单元源码）的上限
MAX_REPLY = 4 * 2 ** 20  # 评判进程送回的一条消息的上限
MAX_OUTPUTS = 64  # 一个测试单元最多几项输出
MAX_TEXT = 4000
MAX_TRACEBACK = 100
MAX_BOUND_NAMES = 5000
BEGIN, END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
HIDDEN_FAILED = "隐藏测试没有通过（隐藏测试的输入和说明不在评分结果中显示）"


class JudgeError(Exception):
    """评判进程出了事（启动不了、超时、死了、送回的东西格式不对）。"""


# ---------------------------------------------------------------- 两端共用：带文件描述符的消息
def send_msg(sock, msg, fds=()):
    data = json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    frame = HEADER.pack(len(data)) + data
    if fds:
        sent = socket.send_fds(sock, [frame[:HEADER.size]], list(fds))
        sock.sendall(frame[sent:])
    else:
        sock.sendall(frame)


def recv_msg(sock, limit, deadline=None):
    """读一条消息：(dict, [文件描述符])；对方关闭时是 (None, [])。"""
    fds = []
    header = b""
    while len(header) < HEADER.size:
        _wait_readable(sock, deadline)
        chunk, got, _flags, _addr = socket.recv_fds(sock, HEADER.size - len(header), 4)
        fds.extend(got)
        if not chunk:
            _close_fds(fds)
            return None, []
        header += chunk
    (size,) = HEADER.unpack(header)
    if size > limit:
        _close_fds(fds)
        raise JudgeError("消息太大（%d 字节）" % size)
    chunks, left = [], size
    while left:
        _wait_readable(sock, deadline)
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            _close_fds(fds)
            return None, []
        chunks.append(chunk)
        left -= len(chunk)
    try:
        msg = json.loads(b"".join(chunks).decode("utf-8"))
    except ValueError:
        _close_fds(fds)
        raise JudgeError("消息不是合法的 JSON") from None
    if not isinstance(msg, dict):
        _close_fds(fds)
        raise JudgeError("消息格式不对")
    return msg, fds


def _wait_readable(sock, deadline):
    if deadline is None:
        return
    left = deadline - time.monotonic()
    if left <= 0 or not select.select([sock], [], [], left)[0]:
        raise TimeoutError("评判进程在限定时间内没有回答")


def _close_fds(fds):
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


# ---------------------------------------------------------------- nbgrader 进程一端
def bound_names(cells):
    """学生单元（非测试单元）里在模块层绑定的名字：def、class、赋值、import、for/with 的目标……

    这份名单只由学生的 notebook 决定，与测试代码无关；每个测试单元开始时按它向内核取一次对象。
    """
    out = set()
    for cell in cells:
        try:
            tree = ast.parse(cell)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                out.add(node.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    if alias.name != "*":
                        out.add(alias.asname or alias.name.split(".")[0])
            elif isinstance(node, ast.Global):
                out.update(node.names)
    return sorted(n for n in out if n.isidentifier() and not n.startswith("__"))[:MAX_BOUND_NAMES]


class JudgeClient:
    """nbgrader 进程手里的评判进程：启动、交给它一个测试单元、收回判决、结束它。"""

    def __init__(self, argv, env, log, init):
        self.argv, self.env, self.log, self.init = list(argv), dict(env), log, dict(init)
        self.proc = self.sock = None
        self._stderr_tail = b""

    def start(self):
        parent, child = socket.socketpair()
        fd = child.fileno()
        argv = [a.replace("{fd}", str(fd)) for a in self.argv]
        try:
            self.proc = subprocess.Popen(argv, env=self.env, pass_fds=(fd,), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/",
                                         start_new_session=True)
        finally:
            child.close()
        self.sock = parent
        threading.Thread(target=self._drain, args=(self.proc.stderr,), daemon=True).start()
        send_msg(self.sock, dict(self.init, op="init"))

    def _drain(self, stream):
        """评判进程的 stderr：只留最后 4 KB（出事时写进日志），多少字节都不会堆积在这里。"""
        try:
            while True:
                chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
                if not chunk:
                    return
                self._stderr_tail = (self._stderr_tail + chunk)[-4096:]
        except (OSError, ValueError):
            return

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def run_cell(self, source, conn, timeout):
        """交给评判进程一个测试单元和连着内核的套接字。返回 (outputs: list[dict], trouble)；
        没有通过的检查的记录（检查过的纯数据）放在 self.last_mistakes。"""
        self.last_mistakes = []
        if not self.alive():
            self.close()
            self.start()
        try:
            send_msg(self.sock, {"op": "cell", "source": source, "timeout": timeout}, [conn.fileno()])
            reply, fds = recv_msg(self.sock, MAX_REPLY, time.monotonic() + timeout + 15)
        except (OSError, TimeoutError, JudgeError) as exc:
            self.close()
            raise JudgeError("评判进程没有正常回答（%s）%s" % (exc, self._tail())) from None
        _close_fds(fds)
        if reply is None:
            code = self.proc.poll() if self.proc else None
            self.close()
            raise JudgeError("评判进程退出了（退出码 %s）%s" % (code, self._tail()))
        outputs, trouble = validate_reply(reply)
        try:
            self.last_mistakes = mistakes.validate(reply.get("mistakes"), source)
        except mistakes.InvalidRecords as exc:
            raise JudgeError("评判进程送回的检查记录格式不对（%s）" % exc) from None
        return outputs, trouble

    def _tail(self):
        tail = self._stderr_tail.decode("utf-8", "replace").strip()
        return "：" + tail[-600:] if tail else ""

    def close(self):
        """结束评判进程：它手里没有要留下的东西（每个单元的结果都已经送回），不等它自己退出（Python 收尾要几十毫秒，
        每份 notebook 都在评分的路上等），整个进程组（沙箱）直接 SIGKILL。"""
        if self.sock is not None:
            with contextlib.suppress(OSError):
                send_msg(self.sock, {"op": "bye"})
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None
        if self.proc is not None:
            if self.proc.poll() is None:
                with contextlib.suppress(OSError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
            self.proc = None


def _text(value, limit=MAX_TEXT):
    if not isinstance(value, str):
        raise JudgeError("输出里的文字不是字符串")
    return value if len(value) <= limit else value[:limit] + "……"


def validate_reply(reply, max_output=200_000):
    """评判进程送回的判决 → (outputs, trouble)：逐项检查，只认协议写明的几种输出。"""
    outputs, trouble = reply.get("outputs"), reply.get("trouble")
    if not isinstance(outputs, list) or len(outputs) > MAX_OUTPUTS or trouble not in (None, "timeout", "dead"):
        raise JudgeError("评判进程送回的判决格式不对")
    clean = []
    for out in outputs:
        if not isinstance(out, dict):
            raise JudgeError("评判进程送回的输出格式不对")
        kind = out.get("t")
        if kind == "mark":
            clean.append({"t": "mark"})
        elif kind == "stream" and out.get("name") in ("stdout", "stderr"):
            clean.append({"t": "stream", "name": out["name"], "text": _text(out.get("text"), max_output + 200)})
        elif kind == "error":
            ename = _text(out.get("ename"), 100)
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", ename):
                ename = "Error"
            tb = out.get("traceback")
            if not isinstance(tb, list):
                raise JudgeError("评判进程送回的 traceback 格式不对")
            clean.append({"t": "error", "ename": ename, "evalue": _text(out.get("evalue")),
                          "traceback": [_text(x) for x in tb[:MAX_TRACEBACK]]})
        else:
            raise JudgeError("评判进程送回了不认识的输出")
    return clean, trouble


# ---------------------------------------------------------------- 评判进程一端
class _GuardStub:
    """测试代码第一行的 `from course.checks.guard import restore`：评判进程里没有什么要复原的。"""

    def __init__(self, mark):
        self.restore = lambda *a, **k: None
        self.snapshot = lambda *a, **k: None
        self.HIDDEN_MARK_MIME = mark


def _make_builtins(guard):
    b = dict(vars(builtins))

    def _import(name, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002  与 __import__ 同名参数
        if name == "course.checks.guard":
            return guard
        return builtins.__import__(name, globals, locals, fromlist, level)

    b["__import__"] = _import
    return b


def segments(source):
    """单元源码 → [(是否隐藏, 代码)]；各段补上空行，行号与原单元一致。"""
    out, hidden, current, offset = [], False, [], 0
    for i, line in enumerate(source.split("\n")):
        marker = BEGIN in line or END in line
        if marker and (BEGIN in line) != hidden:
            if any(s.strip() for s in current):
                out.append((hidden, "\n" * offset + "\n".join(current)))
            hidden, current, offset = BEGIN in line, [], i + 1
            continue
        current.append(line)
    if any(s.strip() for s in current):
        out.append((hidden, "\n" * offset + "\n".join(current)))
    return out


class _Capped(io.StringIO):
    def __init__(self, limit):
        super().__init__()
        self.limit, self.dropped = limit, 0

    def write(self, s):
        room = self.limit - self.tell()
        if room <= 0:
            self.dropped += len(s)
            return len(s)
        if len(s) > room:
            self.dropped += len(s) - room
        return super().write(s[:room])


class Judge:
    """评判进程里的状态：测试单元共用的命名空间（和以前在 nbgrader 进程里一样，跨单元保留）。"""

    def __init__(self):
        from ... import boundary as wire
        from ...checks.guard import HIDDEN_MARK_MIME

        self.wire, self.mark_mime = wire, HIDDEN_MARK_MIME
        self.ns = None
        self.modules, self.names, self.asked, self.max_output = {}, [], frozenset(), 200_000
        self.records = []

    def init(self, msg):
        wire = self.wire
        mods = msg.get("modules") or {}
        # 只导入白名单里的模块（numpy、math……），别名和模块名都得是普通的标识符
        self.modules = {str(a): str(m) for a, m in mods.items()
                        if str(a).isidentifier() and str(m).split(".")[0] in wire.MODULES
                        and all(p.isidentifier() for p in str(m).split("."))}
        self.names = [str(n) for n in (msg.get("names") or [])[:MAX_BOUND_NAMES]
                      if str(n).isidentifier() and not str(n).startswith("__")]
        self.asked = frozenset(self.names)
        self.max_output = int(msg.get("max_output") or 200_000)
        self.ns = {"__name__": "__main__", "__builtins__": _make_builtins(_GuardStub(self.mark_mime))}

    def _bind(self, peer):
        """每个测试单元开始时：按固定名单一次取回学生的对象（大的值按句柄），再绑定给定的模块。"""
        ns = self.ns
        got = peer.request("names", names=self.names) if self.names else {}
        if isinstance(got, dict):  # 只绑定问过的名字：内核多送来的（例如 __builtins__）一概不要
            asked = self.asked
            for name, value in got.items():
                if isinstance(name, str) and name in asked and name not in self.modules:
                    ns[name] = value
        for alias, module in self.modules.items():
            __import__(module)
            ns[alias] = sys.modules[module.split(".")[0]] if alias == module.split(".")[0] else sys.modules[module]
        ns["__builtins__"]["globals"] = lambda: ns

    def run_cell(self, source, sock, timeout):
        wire = self.wire
        peer = wire.Peer(sock, trusted=True)
        peer.deadline = time.monotonic() + timeout
        out, err = _Capped(self.max_output), _Capped(self.max_output)
        outputs = []
        self.records = []

        def flush():
            for name, buf in (("stdout", out), ("stderr", err)):
                text = buf.getvalue()
                if buf.dropped:
                    text += "\n…（还有 %d 个字符没有保留）\n" % buf.dropped
                if text:
                    outputs.append({"t": "stream", "name": name, "text": text})
                buf.seek(0)
                buf.truncate()
                buf.dropped = 0

        try:
            parts = segments(source)
            for _hidden, code in parts:
                compile(code, "<test>", "exec")
        except SyntaxError:
            parts = [(BEGIN in source, source)]
        try:
            try:
                self._bind(peer)
            except wire.ChannelError:
                raise
            except Exception as exc:  # 取不回学生的对象：照样运行，测试会说缺了什么
                outputs.append({"t": "stream", "name": "stderr", "text": "（取学生的对象时出错：%s）\n"
                                % type(exc).__name__})
            for hidden, code in parts:
                if hidden:
                    outputs.append({"t": "mark"})
                try:
                    compiled = compile(code, "<test>", "exec")
                    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                        exec(compiled, self.ns)  # noqa: S102  课程自己的测试代码
                except wire.ChannelError:
                    raise
                except BaseException as exc:  # 测试没有通过（或者测试代码本身出错）：照 nbgrader 的规矩记为错误输出
                    flush()
                    outputs.append(self._error_output(exc, hidden))
                    record = mistakes.record_from(exc, hidden, source)  # 从检查自己的异常对象上读，不看输出
                    self.records = [record] if record else []
                    return outputs[-MAX_OUTPUTS:], None
                flush()
        except wire.ChannelTimeout:
            flush()
            outputs.append(_err("CellTimeoutError", "单元运行超时（学生代码可能陷入了死循环），已被中断，本单元不得分"))
            return outputs[-MAX_OUTPUTS:], "timeout"
        except wire.ChannelClosed as exc:
            flush()
            outputs.append(_err("DeadKernelError", "学生的内核在测试期间断开了（%s），本单元不得分" % exc))
            return outputs[-MAX_OUTPUTS:], "dead"
        finally:
            peer.close()
        return outputs[-MAX_OUTPUTS:], None

    def _error_output(self, exc, hidden):
        ename = type(exc).__name__
        if isinstance(exc, KeyboardInterrupt):
            ename = "KeyboardInterrupt"
        if hidden:  # 隐藏部分：异常类型只留内置的名字，说明是固定的一句（学生能控制的文字一个字也不留）
            builtin = getattr(builtins, ename, None) is type(exc) and not isinstance(exc, self.wire.RemoteError)
            ename = ename if builtin else "StudentError"
            return _err(ename, HIDDEN_FAILED)
        text = self.wire.safe_str(exc)
        lines = None
        render = getattr(exc, "_render_traceback_", None)
        if callable(render):
            try:
                lines = [str(x)[:MAX_TEXT] for x in render()][:MAX_TRACEBACK]
            except Exception:
                lines = None
        return _err(ename, text[:MAX_TEXT], lines)


def _err(ename, evalue, traceback=None):
    return {"t": "error", "ename": ename, "evalue": evalue, "traceback": traceback or ["%s: %s" % (ename, evalue)]}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    sock = socket.socket(fileno=int(argv[0]))
    judge = Judge()
    # 测试单元几乎都要用的模块先导入好：nbgrader 进程在第一个测试单元之前就启动了评判进程，这段时间不白等
    import importlib

    for name in ("numpy", "course.checks._core", "course.gradcheck"):
        importlib.import_module(name)
    while True:
        try:
            msg, fds = recv_msg(sock, MAX_REQUEST)
        except (OSError, JudgeError):
            return 1
        if msg is None or msg.get("op") == "bye":
            return 0
        if msg.get("op") == "init":
            judge.init(msg)
            continue
        if msg.get("op") != "cell" or len(fds) != 1 or judge.ns is None:
            _close_fds(fds)
            return 2
        conn = socket.socket(fileno=fds[0])
        try:
            outputs, trouble = judge.run_cell(str(msg.get("source", "")), conn,
                                              float(msg.get("timeout") or 180))
        except Exception as exc:  # 评判进程自己的意外：这个单元不得分，说明原因
            outputs, trouble = [_err("JudgeError", "评判测试时出错：%s" % type(exc).__name__)], None
            judge.records = []
        finally:
            with contextlib.suppress(OSError):
                conn.close()
        send_msg(sock, {"outputs": outputs, "trouble": trouble, "mistakes": judge.records})


if __name__ == "__main__":
    sys.exit(main())
