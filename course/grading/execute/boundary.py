"""测试单元不在学生的内核里运行，而在单独的、沙箱里的评判进程里（RobustExecute 的一个混入类）。

autograde 时，学生写的单元照常在（沙箱里的）内核里运行；测试单元（nbgrader 的 grade 单元）的源码，
公开部分和隐藏部分，都不发给内核，而交给评判进程（judge.py）。评判进程经一个 Unix 套接字与内核
通话（协议见 course/boundary/ 的包说明：只有纯数据，内核只能调用评判进程交给它的函数），判决作为纯数据
送回这里，逐项检查之后才写进评分后的 notebook。本进程（nbgrader）手里有成绩库和整个课程文件夹，
它自己从不和学生的内核通话：它只负责建套接字、让内核连上来、把连好的套接字交给评判进程。

评判进程在沙箱里（与评分内核同一套规则：无网络、只读、看不到课程文件夹，有资源上限）；它超时、
死掉或者送回乱七八糟的东西，只让这个单元不得分，下一个测试单元换一个新的评判进程。

nbgrader 记录的是评判进程写下的输出：打印的文字（stdout / stderr）和出错信息。隐藏部分开始处
照旧放一个隐藏测试标记（course.checks.guard.HIDDEN_MARK_MIME），反馈的脱敏（feedback.py）据此工作；
隐藏部分出错时只留内置异常的类型和一句固定的说明。

测试期间学生代码拿到过测试的输入，它可以把这些值存起来，在后面的单元里打印；所以第一个测试单元
之后，非测试单元的输出不写进评分后的 notebook（只留一句说明），也不接受内核更新之前的输出
（update_display_data）。

单元的时间上限照旧（Execute.timeout）：超时后通道关闭、内核被中断，这个单元不得分；内核不回应
或者死了，就像以前一样重启、重放。
"""
import ast
import contextlib
import os
import shutil
import sys
import tempfile
from time import monotonic

from jupyter_core.utils import ensure_async, run_sync
from nbformat.notebooknode import NotebookNode
from nbgrader import utils

from ... import boundary as wire
from . import judge
from ..sandbox import bubblewrap as sandbox
from ..feedback.hidden import BUILTIN_ERRORS
from ..files.events import grade_id
from ...checks.guard import HIDDEN_MARK_MIME

__all__ = ["TrustedTests", "SERVE", "given_modules", "judge_command"]

SERVE = "__import__('course.boundary', fromlist=['serve']).serve(%r)"
AFTER_TESTS = "（评分时不保留测试单元之后运行的单元的输出）\n"
CONNECT_TIMEOUT = 30


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


class TrustedTests:
    """混入类；配置项（trusted_tests、keep_outputs_after_tests、max_trusted_output）在 RobustExecute 上。"""

    def _trusted_reset(self):
        self._tests_seen = False
        self._boundary_tmp = None
        self._judge = None

    def _trusted_cleanup(self):
        if getattr(self, "_judge", None) is not None:
            self._judge.close()
            self._judge = None
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
            ename = str(errors[-1].get("ename", "Error"))
            kept.append(_error(ename if ename in BUILTIN_ERRORS else "Error", "这个单元运行时出错（说明不保留）"))
        cell.outputs = kept

    def _update_display_id(self, content):
        """测试开始以后，内核不能再改写之前留下的输出（update_display_data 可以改写任何一个单元的输出）。"""
        if self._tests_seen and not self.keep_outputs_after_tests:
            return
        return super()._update_display_id(content)

    def set_widgets_metadata(self):
        """控件的状态来自内核：测试开始以后它可能带着测试的输入（学生的单元开一个控件，把记下的值放进 state），
        所以那时不写进评分后的 notebook（keep_outputs_after_tests 时照旧）。"""
        if self._tests_seen and not self.keep_outputs_after_tests:
            self.nb.metadata.pop("widgets", None)
            return
        super().set_widgets_metadata()

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

    # ------------------------------------------------------------ 评判进程
    def _judge_client(self):
        if self._judge is None:
            release = None
            try:
                from ..files.release import read_release, release_notebook_path

                release = read_release(release_notebook_path(self.parent, self.resources))
            except Exception:
                release = None
            given = given_modules((release or self.nb).cells)
            names = judge.bound_names(c.source for c in self.nb.cells
                                      if c.cell_type == "code" and not self._is_trusted_cell(c))
            argv, env = judge_command(self)
            self._judge = judge.JudgeClient(argv, env, self.log, {
                "modules": given, "names": names, "max_output": self.max_trusted_output})
        return self._judge

    def _judge_private_dir(self):
        """评判进程在沙箱里用的私有文件夹（与评分内核的布局相同，里面的几个子文件夹都是空的）。"""
        if not getattr(self, "_boundary_tmp", None):
            self._boundary_tmp = tempfile.mkdtemp(prefix="cgb-", dir="/tmp" if os.path.isdir("/tmp") else None)
        private = os.path.join(self._boundary_tmp, "judge")
        if not os.path.isdir(private):
            os.mkdir(private, 0o700)
            for sub in ("conn", "ipc", "mpl"):
                os.mkdir(os.path.join(private, sub), 0o700)
        return private

    def _prestart_judge(self):
        """这份 notebook 有测试单元时，先把评判进程启动起来（它导入 numpy 和检查函数时，内核在运行学生的单元）。"""
        if not self.trusted_tests or not any(c.cell_type == "code" and self._is_trusted_cell(c) for c in self.nb.cells):
            return
        try:
            client = self._judge_client()
            if not client.alive():
                client.start()
        except Exception as exc:  # 启动不了也不要紧：第一个测试单元会再试一次，并把原因记进报告
            self.log.debug("预先启动评判进程失败：%s", exc)

    # ------------------------------------------------------------ 执行
    def run_trusted_cell(self, cell, index):
        """在评判进程里执行测试单元。返回 (outputs, 出事了吗：None / "timeout" / "dead" / "unresponsive")。"""
        self._tests_seen = True
        client = self._judge_client()
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
            try:
                raw, trouble = client.run_cell(cell.source, conn, float(self.timeout or 180))
                outputs = [_node(o) for o in raw]
                # 没有通过的检查：评判进程从检查自己的异常对象上读出，JudgeClient 已逐项检查过
                self._report.set_mistakes(index, grade_id(cell), client.last_mistakes)
            except judge.JudgeError as exc:
                self._report.add("judge", str(exc)[:600], index, grade_id(cell))
                # 细节（可能带着评判进程的 stderr）只进评分报告，学生看到的是固定的一句
                outputs, trouble = [_error("JudgeError", "评判这个测试单元时出了问题（超时、退出或判决格式不对），"
                                                         "本单元不得分")], "timeout"
            finally:
                conn.close()
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


def _node(out):
    """评判进程送回、已经检查过的一项输出 → nbformat 的输出。"""
    if out["t"] == "mark":
        return NotebookNode(output_type="display_data", data={HIDDEN_MARK_MIME: {}}, metadata={})
    if out["t"] == "stream":
        return _stream(out["name"], out["text"])
    return _error(out["ename"], out["evalue"], out["traceback"])


JUDGE_LIMITS_MB = 3072  # 评判进程的地址空间上限（MiB）：numpy 和检查函数用不了这么多


def judge_command(execute):
    """评判进程的命令和环境：能用沙箱时与评分内核同一套 bubblewrap 规则（只是没有可写的工作目录），
    否则只有资源上限。"{fd}" 由 JudgeClient 换成 socketpair 那一端的文件描述符。"""
    cmd = [sys.executable, "-m", "course.grading.execute.judge", "{fd}"]
    cls, _, cfg, status = execute._km_choice
    limits = cfg.limits(sandboxed=status is not None)
    limits["RLIMIT_AS"] = (JUDGE_LIMITS_MB * 2 ** 20,) * 2
    env = {k: v for k, v in os.environ.items() if k in sandbox.ENV_ALLOW or
           any(k.startswith(p) for p in sandbox.ENV_ALLOW_PREFIXES)}
    for key in sandbox.THREAD_VARS:
        env[key] = "1"
    env.update({"PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg", "COURSE_GRADING_JUDGE": "1"})
    if status is None:  # 没有沙箱：单独的进程，只有资源上限
        env.update({"HOME": tempfile.gettempdir(), "MPLCONFIGDIR": os.path.join(tempfile.gettempdir(), "cgj-mpl")})
        return sandbox.limiter_argv(cmd, limits), env
    private = execute._judge_private_dir()
    python_dirs, course_dirs = sandbox.python_paths(sys.executable, os.environ.get("PYTHONPATH", ""))
    hidden, strict = execute._hidden_paths()
    argv = sandbox.build_bwrap_argv(cmd, env=env, workdir="", private_dir=private, hidden=hidden, status=status,
                                    limits=limits, python_dirs=python_dirs, course_dirs=course_dirs,
                                    tmpfs_mb=64, strict=strict, package_private=[])
    return argv, {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": os.environ.get("LANG", "C.UTF-8")}


def _stream(name, text):
    return NotebookNode(output_type="stream", name=name, text=text)


def _error(ename, evalue, traceback=None):
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=traceback or ["%s: %s" % (ename, evalue)])
