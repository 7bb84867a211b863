"""测试单元不在学生的内核里运行，而在单独的、沙箱里的评判进程里（JudgeSession，RobustExecute 的合作者）。

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
或者死了，由 RobustExecute 交给 Recovery 重启、重放。

JudgeSession 拥有的状态：评判进程的客户端（judge.JudgeClient）、放套接字和评判进程私有文件夹的临时文件夹、
测试是否已经开始（tests_seen）、内核没连上来时已经收到的回答。它向别人要的都在构造时给：当前内核的通道
（kernel_control.KernelLink：静默执行、等回答、中断、是否还活着、沙箱私有文件夹）、评分报告、日志、
这份 notebook 的单元、学生版的路径、内核选择（kernel_control.KernelChoice：沙箱配置和看不到的路径，
评判进程用同一套），以及 RobustExecute 的配置项（trusted_tests、keep_outputs_after_tests、max_trusted_output、
timeout、probe_timeout）的值。RobustExecute 问它 hides_outputs，决定内核的输出、改写旧输出和控件状态
还要不要写进评分后的 notebook。
"""
import ast
import contextlib
import os
import shutil
import sys
import tempfile
from time import monotonic

from nbformat.notebooknode import NotebookNode
from nbgrader import utils

from ... import boundary as wire
from . import judge
from ..sandbox import bubblewrap as sandbox
from ..feedback.hidden import BUILTIN_ERRORS
from ..files.events import grade_id
from ...checks.guard import HIDDEN_MARK_MIME

__all__ = ["JudgeSession", "SERVE", "given_modules", "judge_command"]

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


class JudgeSession:
    """一份 notebook 的测试单元：交给评判进程运行。每份 notebook 新建一个，用完 close()。"""

    def __init__(self, kernel, report, log, cells, release_path, choice, *, enabled=True, keep_outputs=False,
                 max_output=200_000, timeout=None, probe_timeout=10):
        self._kernel, self._report, self._log, self._cells = kernel, report, log, cells
        self._release_path, self._choice = release_path, choice
        self.enabled, self.keep_outputs, self.max_output = enabled, keep_outputs, max_output
        self.timeout, self.probe_timeout = timeout, probe_timeout
        self._tests_seen = False  # 第一个测试单元开始运行以后为真
        self._tmp = None  # 套接字和评判进程私有文件夹所在的临时文件夹
        self._judge = None
        self._serve_answered = None  # 内核没连上来却已经答完了请求：它的回答

    @property
    def tests_seen(self):
        return self._tests_seen

    @property
    def hides_outputs(self):
        """测试开始以后：内核的新输出、改写旧输出、控件状态都不进评分后的 notebook（keep_outputs 时照旧）。"""
        return self._tests_seen and not self.keep_outputs

    def close(self):
        if self._judge is not None:
            self._judge.close()
            self._judge = None
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def is_trusted(self, cell):
        return self.enabled and utils.is_grade(cell) and not utils.is_solution(cell)

    def after_tests(self, cell):
        """测试单元之后运行的非测试单元：输出不进评分后的 notebook。"""
        if not self.hides_outputs or not cell.get("outputs"):
            return
        kept = [_stream("stdout", AFTER_TESTS)]
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        if errors:
            ename = str(errors[-1].get("ename", "Error"))
            kept.append(_error(ename if ename in BUILTIN_ERRORS else "Error", "这个单元运行时出错（说明不保留）"))
        cell.outputs = kept

    # ------------------------------------------------------------ 文件夹
    def _tmpdir(self):
        if not self._tmp:
            self._tmp = tempfile.mkdtemp(prefix="cgb-", dir="/tmp" if os.path.isdir("/tmp") else None)
        return self._tmp

    def _socket_dir(self):
        private = self._kernel.private_dir()
        if private and os.path.isdir(os.path.join(private, "ipc")):
            return os.path.join(private, "ipc")
        return self._tmpdir()

    def _judge_private_dir(self):
        """评判进程在沙箱里用的私有文件夹（与评分内核的布局相同，里面的几个子文件夹都是空的）。"""
        private = os.path.join(self._tmpdir(), "judge")
        if not os.path.isdir(private):
            os.mkdir(private, 0o700)
            for sub in ("conn", "ipc", "mpl"):
                os.mkdir(os.path.join(private, sub), 0o700)
        return private

    # ------------------------------------------------------------ 评判进程
    def _judge_client(self):
        if self._judge is None:
            release = None
            try:
                from ..files.release import read_release

                release = read_release(self._release_path)
            except Exception:
                release = None
            given = given_modules(release.cells if release else self._cells)
            names = judge.bound_names(c.source for c in self._cells
                                      if c.cell_type == "code" and not self.is_trusted(c))
            status = self._choice.status
            if status is None:
                argv, env = judge_command(self._choice.config, None)
            else:
                argv, env = judge_command(self._choice.config, status, self._judge_private_dir(),
                                          self._choice.hidden_paths())
            self._judge = judge.JudgeClient(argv, env, self._log, {
                "modules": given, "names": names, "max_output": self.max_output})
        return self._judge

    def prestart(self):
        """这份 notebook 有测试单元时，先把评判进程启动起来（它导入 numpy 和检查函数时，内核在运行学生的单元）。"""
        if not self.enabled or not any(c.cell_type == "code" and self.is_trusted(c) for c in self._cells):
            return
        try:
            client = self._judge_client()
            if not client.alive():
                client.start()
        except Exception as exc:  # 启动不了也不要紧：第一个测试单元会再试一次，并把原因记进报告
            self._log.debug("预先启动评判进程失败：%s", exc)

    # ------------------------------------------------------------ 执行
    def run_cell(self, cell, index):
        """在评判进程里执行测试单元。返回 (outputs, 出事了吗：None / "timeout" / "dead" / "unresponsive")。"""
        self._tests_seen = True
        client = self._judge_client()
        path = os.path.join(self._socket_dir(), "b%d" % index)
        with contextlib.suppress(OSError):
            os.unlink(path)
        srv = wire.connect_listener(path)
        trouble = None
        try:
            msg_id = self._kernel.send_silent(SERVE % path)
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
        while monotonic() < deadline:
            try:
                return srv.accept()[0]
            except OSError:
                pass
            status = self._kernel.wait_reply(msg_id, 0.05)
            if status is not None:
                self._serve_answered = status
                return None
        return None

    def _kernel_state(self, msg_id, interrupt=False):
        """测试单元结束后内核回到空闲了吗。超时时先中断；回不来就报告，由调用者重启内核。"""
        answered, self._serve_answered = self._serve_answered, None
        if answered is not None:  # 回答已经收到了：内核空闲（或者已经死了）
            return "dead" if answered == "dead" else None
        status = self._kernel.wait_reply(msg_id, 2 if interrupt else self.probe_timeout)
        if status is None and interrupt:
            self._kernel.interrupt()
            status = self._kernel.wait_reply(msg_id, self.probe_timeout)
        if status == "dead" or (status is None and not self._kernel.alive()):
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


def judge_command(config, status, private_dir=None, hidden=((), ())):
    """评判进程的命令和环境：能用沙箱时（status 是沙箱探测结果）与评分内核同一套 bubblewrap 规则（只是没有
    可写的工作目录；private_dir 是它的私有文件夹，hidden 是 (看不到的路径, 里面什么都不许挂载的文件夹)），
    否则（status 是 None）只有资源上限。config 是 GradingSandbox。"{fd}" 由 JudgeClient 换成 socketpair
    那一端的文件描述符。"""
    cmd = [sys.executable, "-m", "course.grading.execute.judge", "{fd}"]
    limits = config.limits(sandboxed=status is not None)
    limits["RLIMIT_AS"] = (JUDGE_LIMITS_MB * 2 ** 20,) * 2
    env = {k: v for k, v in os.environ.items() if k in sandbox.ENV_ALLOW or
           any(k.startswith(p) for p in sandbox.ENV_ALLOW_PREFIXES)}
    for key in sandbox.THREAD_VARS:
        env[key] = "1"
    env.update({"PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg", "COURSE_GRADING_JUDGE": "1"})
    if status is None:  # 没有沙箱：单独的进程，只有资源上限
        env.update({"HOME": tempfile.gettempdir(), "MPLCONFIGDIR": os.path.join(tempfile.gettempdir(), "cgj-mpl")})
        return sandbox.limiter_argv(cmd, limits), env
    python_dirs, course_dirs = sandbox.python_paths(sys.executable, os.environ.get("PYTHONPATH", ""))
    hidden, strict = hidden
    argv = sandbox.build_bwrap_argv(cmd, env=env, workdir="", private_dir=private_dir, hidden=hidden, status=status,
                                    limits=limits, python_dirs=python_dirs, course_dirs=course_dirs,
                                    tmpfs_mb=64, strict=strict, package_private=[])
    return argv, {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": os.environ.get("LANG", "C.UTF-8")}


def _stream(name, text):
    return NotebookNode(output_type="stream", name=name, text=text)


def _error(ename, evalue, traceback=None):
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=traceback or ["%s: %s" % (ename, evalue)])
