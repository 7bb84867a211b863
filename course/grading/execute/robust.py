"""RobustExecute：替换 nbgrader 的 Execute，让一份坏提交只影响它自己的分数。

在 nbgrader_config.py 的 c.Autograde.autograde_preprocessors 里代替 nbgrader.preprocessors.Execute
（只用于 autograde；validate 和 JupyterLab 不受影响）。它由几块拼成，每块一个文件：

- kernel_control.py：内核在沙箱里运行（sandbox.py、kernels.py）；沙箱不可用时大声警告一次，
  仍然施加资源上限；问内核是否还有回应、换新内核；
- 本文件：逐个单元执行。单元超时先中断（KeyboardInterrupt），这个单元记 0 分，继续后面的单元；
  内核不理中断或者退出了（os._exit、内存耗尽、CPU 时间用完、exit()），这个单元记 0 分并恢复内核；
- recovery.py：测试单元执行前用 course.checks.guard 复原；恢复内核时重放之前的单元，重启次数有上限；
- output_limits.py：输出上限（每个单元、每个 notebook）；
- 读不了的提交（JSON 损坏、空文件、缺交，见 submissions.py）不运行，所有测试单元 0 分；
- 每个事件写日志并记入每份提交的报告（report.py）。
"""
import os

from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbconvert.preprocessors import ExecutePreprocessor
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Bool, Dict, Enum, Integer

from ..sandbox import bubblewrap as sandbox
from .boundary import TrustedTests
from .kernel_control import KernelControl
from ..sandbox.kernels import LimitedKernelManager, SandboxedKernelManager
from .output_limits import OutputLimits
from .recovery import Recovery
from ..files.release import read_release, release_notebook_path
from ..files.events import Report, grade_id, scan_source
from ..submissions import GRADING_META

__all__ = ["RobustExecute"]

DEAD = "内核在运行这个单元时退出了"


def _error(ename, evalue):
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=["%s: %s" % (ename, evalue)])


class RobustExecute(TrustedTests, KernelControl, Recovery, OutputLimits, Execute):
    max_kernel_restarts = Integer(3, help="每个 notebook 最多重启几次内核").tag(config=True)
    probe_timeout = Integer(10, help="超时中断后等内核回应的秒数；不回应就重启").tag(config=True)
    max_output_bytes_per_cell = Integer(1_000_000, help="每个单元保留的输出上限（字节）").tag(config=True)
    max_output_bytes_total = Integer(10_000_000, help="每个 notebook 保留的输出上限（字节）").tag(config=True)
    max_error_chars = Integer(4000, help="错误信息和每行 traceback 保留的最大长度").tag(config=True)
    guard = Bool(True, help="测试单元执行前先用 course.checks.guard 复原被篡改的对象（只在 trusted_tests 关掉时有用）").tag(
        config=True)
    trusted_tests = Bool(True, help="测试单元在评分进程里运行，学生的对象经纯数据的通道调用（boundary.py）").tag(
        config=True)
    keep_outputs_after_tests = Bool(False, help="保留测试单元之后运行的非测试单元的输出（它们可能打印测试的输入）").tag(
        config=True)
    max_trusted_output = Integer(200_000, help="测试单元在评分进程里打印的文字上限（字符）").tag(config=True)
    scan = Bool(True, help="静态扫描学生代码里的可疑写法并写进报告").tag(config=True)
    shutdown_kernel = Enum(["graceful", "immediate"], default_value="immediate",
                           help="评分结束后直接结束内核（省下每份提交约 1 秒）").tag(config=True)
    error_on_timeout = Dict(default_value={
        "ename": "CellTimeoutError", "evalue": "单元运行超时，已被中断",
        "traceback": ["CellTimeoutError: 单元运行超时（可能是死循环），已被中断，本单元不得分"],
    }).tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self.raise_on_iopub_timeout = False  # IOPub 丢了“空闲”消息时照常结束这个单元，由下面的逻辑判断内核状态
        info = (resources or {}).get("nbgrader", {})
        self._report = Report(self.log, info.get("student", "?"), info.get("assignment", "?"),
                              info.get("notebook", "?"))
        self._workdir = (resources or {}).get("metadata", {}).get("path") or ""
        self._restarts, self._given_up, self._bad, self._last_reply = 0, None, set(), None
        self._replaying, self._timed_out, self._guard_ok, self._started = False, False, False, False
        self._reset_output_limits()
        self._trusted_reset()
        try:
            unreadable = (nb.metadata.get(GRADING_META) or {}).get("unreadable")
            if unreadable:
                self._report.sandbox = "not run"
                self._report.add("unreadable", unreadable)
                for cell in nb.cells:
                    if cell.cell_type == "code" and utils.is_grade(cell):
                        cell.outputs = [_error("SubmissionError", unreadable)]
                return nb, self.resources
            restored = (nb.metadata.get(GRADING_META) or {}).get("restored")  # sanitize.py 的 OverwriteCells、RestoreCellOrder 写的
            if restored:
                self._report.add("cells-restored", _restored_detail(restored), level="info")
            if self.scan:
                self._scan(nb)
            self._km_choice = self._choose_kernel_manager()
            self._report.sandbox = self._km_choice[1]
            try:
                self._execute_all(resources)
            except Exception as exc:
                if self._started or self._km_choice[0] is not SandboxedKernelManager or \
                        sandbox.effective_mode(self._km_choice[2].mode) == "required":
                    raise
                # 沙箱内核根本没启动起来（还没有运行任何学生代码）：退回到不用沙箱
                self._loud("start-failed", "沙箱内核启动失败（%s），改为不用沙箱评分。" % exc)
                self.km = self.kc = None
                self._km_choice = (LimitedKernelManager, "unavailable: 沙箱内核启动失败", self._km_choice[2], None)
                self._report.sandbox = self._km_choice[1]
                self._execute_all(resources)
            self.set_widgets_metadata()
        finally:
            self._trusted_cleanup()
            self._write_report()
        return self.nb, self.resources

    def _execute_all(self, resources):
        self._started = False
        with self.setup_kernel():
            info_msg = self.wait_for_reply(self.kc.kernel_info())
            if info_msg is not None:
                self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
            if not self.trusted_tests:  # 测试单元在评分进程里运行时，内核里没有什么要复原的
                self._prime()
            self._started = True
            self._prestart_judge()  # 评判进程和学生的单元同时启动、导入，到第一个测试单元时已经就绪
            for index, cell in enumerate(self.nb.cells):
                self.preprocess_cell(cell, resources, index)

    def on_cell_executed(self, **kwargs):
        self._last_reply = kwargs.get("execute_reply")
        super().on_cell_executed(**kwargs)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        gid = grade_id(cell)
        if utils.is_grade(cell) and self.guard and self._guard_ok and not self._given_up:
            self._restore_before_test(index, gid)
        if self._given_up:
            cell.outputs = [_error("CellNotExecuted", "没有执行：" + self._given_up)]
            cell.execution_count = None
            return cell, resources
        if self._is_trusted_cell(cell):
            return self._preprocess_trusted(cell, resources, index, gid)
        self._timed_out, self._last_reply = False, None
        failure = None
        try:
            ExecutePreprocessor.preprocess_cell(self, cell, resources, index)
        except DeadKernelError:
            failure = ("DeadKernelError", DEAD + "（os._exit、内存耗尽或 CPU 时间用完？），本单元不得分")
        except CellTimeoutError:
            failure = ("CellTimeoutError", "单元运行超时，内核没有回应中断，已强行重启，本单元不得分")
        except Exception as exc:  # 评分必须继续：任何意外都只算这个单元失败
            failure = (type(exc).__name__, "执行这个单元时出错：%s" % exc)
        else:
            if self._timed_out:
                if self.responsive(self.probe_timeout):
                    self._report.add("timeout", "超时（%s 秒），已中断" % self.timeout, index, gid)
                else:
                    failure = ("CellTimeoutError", "单元运行超时，内核没有回应中断，已强行重启，本单元不得分")
            elif self._asked_exit():
                failure = ("KernelExit", "这个单元调用了 exit()/quit()，内核已重启；本单元不得分，也不会被重放")
        self._note_dropped(cell, index)
        self._after_tests(cell)
        if failure and failure[0] == "DeadKernelError":
            cause = self.death_cause()
            if cause:
                failure = (failure[0], "%s：%s，本单元不得分" % (DEAD, cause))
        if failure:
            self._bad.add(index)
            cell.outputs.append(_error(*failure))
            self._report.add("kernel-restart", failure[1], index, gid)
            self._recover(index + 1)
        return cell, resources

    def _preprocess_trusted(self, cell, resources, index, gid):
        """测试单元：在评分进程里执行（boundary.py），内核只回答纯数据的请求。"""
        self.code_cells_executed += 1
        cell.execution_count = self.code_cells_executed
        try:
            outputs, trouble = self.run_trusted_cell(cell, index)
        except Exception as exc:  # 评分必须继续：任何意外都只算这个单元失败
            outputs, trouble = [_error(type(exc).__name__, "执行这个测试单元时出错：%s" % exc)], None
        cell.outputs = outputs
        if trouble == "timeout":
            self._report.add("timeout", "测试单元超时（%s 秒），已中断" % self.timeout, index, gid)
        if trouble in ("dead", "unresponsive"):
            what = DEAD if trouble == "dead" else "单元运行超时，内核没有回应中断"
            cause = self.death_cause() if trouble == "dead" else ""
            self._report.add("kernel-restart", "%s%s，已重启" % (what, "：" + cause if cause else ""), index, gid)
            self._recover(index + 1)
        return cell, resources

    # ------------------------------------------------------------------ 报告
    def _given_lines(self):
        """学生版里本来就有的代码行（课程自己给出的代码不算可疑）。"""
        release = read_release(release_notebook_path(self.parent, self.resources))
        if release is None:  # 没有学生版时照样扫描
            return set()
        return {ln.strip() for c in release.cells if c.cell_type == "code" for ln in c.source.splitlines()}

    def _scan(self, nb):
        given = self._given_lines()
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or utils.is_grade(cell) or utils.is_locked(cell):
                continue
            for lineno, why, line in scan_source(cell.source):
                if line.strip() not in given:
                    self._report.add("suspicious", "%s（第 %d 行：%s）" % (why, lineno, line[:160]), index,
                                     grade_id(cell), level="info")

    def _write_report(self):
        cd = self._coursedir()
        root = os.path.normpath(cd.format_path(cd.autograded_directory, ".", ".")) if cd is not None else None
        try:
            self._report.write(root)
        except OSError as exc:
            self.log.warning("无法写评分报告：%s", exc)


def _restored_detail(restored):
    parts = []
    if restored.get("moved"):
        parts.append("单元顺序被打乱，已按学生版复原")
    if restored.get("read_only"):
        parts.append("缺了只读单元 %s，已从学生版补回" % "、".join(map(str, restored["read_only"])))
    if restored.get("tests_deleted"):  # sanitize.OverwriteCells 写的
        parts.append("测试单元 %s 被删掉了，已补回并照常计分" % "、".join(map(str, restored["tests_deleted"])))
    if restored.get("tests_changed"):
        parts.append("单元 %s 的内容被改动过，已换回原样" % "、".join(map(str, restored["tests_changed"])))
    return "；".join(parts) or "单元已按学生版复原"
