"""测试单元在评分进程里运行：分数不由学生的进程算出来（RobustExecute 的一个混入类）。

autograde 时，学生写的单元照常在（沙箱里的）内核里运行；测试单元（nbgrader 的 grade 单元）的源码，
公开部分和隐藏部分，都不发给内核，而在评分进程里执行。测试代码里用到的学生的名字（MulLayer、
buy_apple、Value……）是 peer.py 的代理：调用、取属性、运算都变成只含纯数据的消息，经一个
Unix 套接字发给内核，由内核里的 course.grading.peer.serve() 照做，结果编码成数据送回。比较、
判分、出错说明全在评分进程里完成；内核里的学生代码可以改坏它自己的一切，却碰不到检查函数、
numpy.allclose、IPython 的输入变换……它们根本不在那个进程里。

nbgrader 记录的是评分进程写下的输出：打印的文字（stdout / stderr）和出错信息。隐藏部分开始处
照旧放一个隐藏测试标记（course.checks.guard.HIDDEN_MARK_MIME），反馈的脱敏（feedback.py）据此工作；
隐藏部分出错时只留异常类型和第一行说明。

测试期间学生代码拿到过测试的输入，它可以把这些值存起来，在后面的单元里打印；所以第一个测试单元
之后，非测试单元的输出不写进评分后的 notebook（只留一句说明，出错时留下异常类型）。

单元的时间上限照旧（Execute.timeout）：超时后通道关闭、内核被中断，这个单元不得分；内核不回应
或者死了，就像以前一样重启、重放。
"""
import ast
import builtins
import contextlib
import io
import os
import re
import shutil
import tempfile
import types
from time import monotonic

from jupyter_core.utils import ensure_async, run_sync
from nbformat.notebooknode import NotebookNode
from nbgrader import utils

from . import peer as wire
from ..checks.guard import HIDDEN_MARK_MIME

__all__ = ["TrustedTests", "SERVE"]

SERVE = "__import__('course.grading.peer', fromlist=['serve']).serve(%r)"
BEGIN, END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
AFTER_TESTS = "（评分时不保留测试单元之后运行的单元的输出）\n"
CONNECT_TIMEOUT = 30
# 检查函数转述学生代码的异常时，异常信息是学生写的（可能带着测试的输入），隐藏部分只留异常类型
_STUDENT_TEXT = re.compile(r"(抛出了异常 [\w.]+)[:：].*")


class _GuardStub(types.ModuleType):
    """测试代码第一行的 `from course.checks.guard import restore`：评分进程里没有什么要复原的。"""

    def __init__(self):
        super().__init__("course.checks.guard")
        self.restore = lambda *a, **k: None
        self.snapshot = lambda *a, **k: None
        self.HIDDEN_MARK_MIME = HIDDEN_MARK_MIME


def _import(name, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002  与 __import__ 同名参数
    if name == "course.checks.guard":
        return _GuardStub()
    return builtins.__import__(name, globals, locals, fromlist, level)


def _builtins():
    b = dict(vars(builtins))
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


def free_names(code):
    """代码里读到的名字（不含内置名字）：要从内核取学生的对象。"""
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            names.add(node.id)
    return sorted(n for n in names if not hasattr(builtins, n))


def given_modules(cells):
    """课程给出的代码（非答案、非测试单元）里的 import：这些名字在评分进程里绑定评分进程自己的模块。"""
    out = {}
    for cell in cells:
        if cell.cell_type != "code" or utils.is_solution(cell) or utils.is_grade(cell):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in wire.MODULES:
                        out[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else \
                            alias.name.split(".")[0]
    return out


def _stream(name, text):
    return NotebookNode(output_type="stream", name=name, text=text)


def _error(ename, evalue, traceback=None):
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=traceback or ["%s: %s" % (ename, evalue)])


class _Globals(dict):
    """测试代码里的 globals()：先看评分进程这边的名字，没有时去内核里取（例如 globals().get("ANSWER_Q1")）。"""

    def __init__(self, ns, peer):
        super().__init__(ns)
        self._peer = peer

    def _fetch(self, key):
        if not isinstance(key, str):
            raise KeyError(key)
        try:
            value = self._peer.request("get", name=key)
        except (NameError, wire.RemoteError):
            raise KeyError(key) from None
        dict.__setitem__(self, key, value)
        return value

    def __missing__(self, key):
        return self._fetch(key)

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key):
        try:
            self[key]
        except KeyError:
            return False
        return True


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


class TrustedTests:
    """混入类；配置项（trusted_tests、keep_outputs_after_tests、max_trusted_output）在 RobustExecute 上。"""

    def _trusted_reset(self):
        self._tns = None
        self._tests_seen = False
        self._boundary_tmp = None

    def _trusted_cleanup(self):
        if getattr(self, "_boundary_tmp", None):
            shutil.rmtree(self._boundary_tmp, ignore_errors=True)
            self._boundary_tmp = None

    def _is_trusted_cell(self, cell):
        return self.trusted_tests and utils.is_grade(cell) and not utils.is_solution(cell)

    def _after_tests(self, cell):
        """测试单元之后运行的非测试单元：输出不进评分后的 notebook。"""
        if self.keep_outputs_after_tests or not self._tests_seen or not cell.get("outputs"):
            return
        kept = [_stream("stdout", AFTER_TESTS)]
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        if errors:
            kept.append(_error(errors[-1].get("ename", "Error"), "这个单元运行时出错（说明不保留）"))
        cell.outputs = kept

    # ------------------------------------------------------------ 通道
    def _socket_dir(self):
        private = getattr(self.km, "private_dir", "")
        if private and os.path.isdir(os.path.join(private, "ipc")):
            return os.path.join(private, "ipc")
        if not getattr(self, "_boundary_tmp", None):
            self._boundary_tmp = tempfile.mkdtemp(prefix="cgb-", dir="/tmp" if os.path.isdir("/tmp") else None)
        return self._boundary_tmp

    async def _async_wait_reply(self, msg_id, timeout):
        deadline = monotonic() + timeout
        while True:
            remaining = deadline - monotonic()
            if remaining <= 0:
                return None
            try:
                msg = await self.kc.shell_channel.get_msg(timeout=min(remaining, 1))
            except Exception:
                if not await self.km.is_alive():
                    return "dead"
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg["content"].get("status")

    async def _async_start_serve(self, path):
        return await ensure_async(self.kc.execute(SERVE % path, silent=True, store_history=False,
                                                  allow_stdin=False))

    async def _async_interrupt(self):
        try:
            await ensure_async(self.km.interrupt_kernel())
        except Exception as exc:
            self.log.debug("中断内核失败：%s", exc)

    async def _async_alive(self):
        try:
            return bool(await self.km.is_alive())
        except Exception:
            return False

    # ------------------------------------------------------------ 执行
    def _trusted_namespace(self):
        if self._tns is None:
            self._tns = {"__name__": "__main__", "__builtins__": _builtins()}
            self._tmods = given_modules(self.nb.cells)
        for alias, module in self._tmods.items():
            self._tns[alias] = __import__(module)
        return self._tns

    def run_trusted_cell(self, cell, index):
        """在评分进程里执行测试单元。返回 (outputs, 出事了吗：None / "timeout" / "dead" / "unresponsive")。"""
        self._tests_seen = True
        path = os.path.join(self._socket_dir(), "b%d" % index)
        with contextlib.suppress(OSError):
            os.unlink(path)
        srv = wire.connect_listener(path)
        trouble = None
        try:
            msg_id = run_sync(self._async_start_serve)(path)
            conn = self._accept(srv, msg_id)
            if conn is None:
                return [_error("CellNotExecuted", "内核没有连上评分进程（忙于别的代码、退出了，或者学生代码改坏了导入），"
                                                  "本单元不得分")], self._kernel_state(msg_id)
            peer = wire.Peer(conn, trusted=True)
            peer.deadline = monotonic() + (self.timeout or 180)
            try:
                outputs, trouble = self._exec_cell(cell.source, peer)
            finally:
                peer.close()
            state = self._kernel_state(msg_id, interrupt=trouble == "timeout")
            if state:
                trouble = state
            return outputs, trouble
        finally:
            srv.close()
            with contextlib.suppress(OSError):
                os.unlink(path)

    def _accept(self, srv, msg_id):
        """等内核连进来；内核先答完了这个请求（没能连上）就不必再等。"""
        deadline = monotonic() + CONNECT_TIMEOUT
        srv.settimeout(0.2)
        wait = run_sync(self._async_wait_reply)
        while monotonic() < deadline:
            try:
                return srv.accept()[0]
            except OSError:
                pass
            status = wait(msg_id, 0.05)
            if status is not None:
                self._serve_answered = status
                return None
        return None

    def _kernel_state(self, msg_id, interrupt=False):
        """测试单元结束后内核回到空闲了吗。超时时先中断；回不来就报告，由调用者重启内核。"""
        answered, self._serve_answered = getattr(self, "_serve_answered", None), None
        if answered is not None:  # 回答已经收到了：内核空闲（或者已经死了）
            return "dead" if answered == "dead" else None
        wait = run_sync(self._async_wait_reply)
        status = wait(msg_id, 2 if interrupt else self.probe_timeout)
        if status is None and interrupt:
            run_sync(self._async_interrupt)()
            status = wait(msg_id, self.probe_timeout)
        if status == "dead" or (status is None and not run_sync(self._async_alive)()):
            return "dead"
        if status is None:
            return "unresponsive"
        return None

    def _exec_cell(self, source, peer):
        ns = self._trusted_namespace()
        out, err = _Capped(self.max_trusted_output), _Capped(self.max_trusted_output)
        outputs, trouble = [], None

        def flush():
            for name, buf in (("stdout", out), ("stderr", err)):
                text = buf.getvalue()
                if buf.dropped:
                    text += "\n…（还有 %d 个字符没有保留）\n" % buf.dropped
                if text:
                    outputs.append(_stream(name, text))
                buf.seek(0)
                buf.truncate()
                buf.dropped = 0

        try:
            parts = segments(source)
            for hidden, code in parts:
                compile(code, "<test>", "exec")
        except SyntaxError:
            parts = [(BEGIN in source, source)]
        for hidden, code in parts:
            if hidden:
                outputs.append(NotebookNode(output_type="display_data", data={HIDDEN_MARK_MIME: {}}, metadata={}))
            try:
                compiled = compile(code, "<test>", "exec")
                self._bind_student_names(ns, code, peer)
                ns["__builtins__"]["globals"] = lambda: _Globals(ns, peer)
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    exec(compiled, ns)  # noqa: S102  课程自己的测试代码，在评分进程里运行
            except wire.ChannelTimeout:
                flush()
                outputs.append(_error("CellTimeoutError", "单元运行超时（学生代码可能陷入了死循环），已被中断，本单元不得分"))
                return outputs, "timeout"
            except wire.ChannelClosed as exc:
                flush()
                outputs.append(_error("DeadKernelError", "学生的内核在测试期间断开了（%s），本单元不得分" % exc))
                return outputs, "dead"
            except BaseException as exc:  # 测试没有通过（或者测试代码本身出错）：照 nbgrader 的规矩记为错误输出
                flush()
                outputs.append(self._error_output(exc, hidden))
                return outputs, trouble
            flush()
        return outputs, trouble

    def _bind_student_names(self, ns, code, peer):
        for name in free_names(code):
            if name in self._tmods:
                continue
            try:
                ns[name] = peer.request("get", name=name)
            except NameError:
                continue
            except wire.RemoteError:
                continue

    @staticmethod
    def _error_output(exc, hidden):
        ename = type(exc).__name__
        if isinstance(exc, KeyboardInterrupt):
            ename = "KeyboardInterrupt"
        render = getattr(exc, "_render_traceback_", None)
        text = wire._safe_str(exc)
        if hidden:  # 隐藏部分：只留异常类型和第一行说明，输入、期望值、学生代码的异常信息都不留
            first = _STUDENT_TEXT.sub(r"\1", (text.strip().splitlines() or [""])[0])[:300]
            return _error(ename, first, ["%s: %s" % (ename, first)])
        lines = None
        if callable(render):
            try:
                lines = [str(x) for x in render()]
            except Exception:
                lines = None
        return _error(ename, text[:4000], lines)
