"""RobustExecute：替换 nbgrader 的 Execute，让一份坏提交只影响它自己的分数。

在 nbgrader_config.py 的 c.Autograde.autograde_preprocessors 里代替 nbgrader.preprocessors.Execute
（只用于 autograde；validate 和 JupyterLab 不受影响）。配置项（c.RobustExecute.max_kernel_restarts 等）都在
这个类上。它自己只逐个单元执行：单元超时先中断（KeyboardInterrupt），这个单元记 0 分，继续后面的单元；
内核不理中断或者退出了（os._exit、内存耗尽、CPU 时间用完、exit()），这个单元记 0 分并交给 Recovery 恢复内核。
读不了的提交（JSON 损坏、空文件、缺交，见 submissions.py）不运行，所有测试单元 0 分。

每份 notebook 在 preprocess() 里新建一套合作者，各自拥有自己的状态（各自文件开头写着拥有什么、向别人要什么）；
nbclient 调用的钩子（output、create_kernel_manager……）在这里，只转交给它们：

- CellWatch（本文件）：这一次单元运行超时了吗、内核的 execute_reply（exit() 要求退出了吗）；
- kernel_control.KernelChoice：选内核（沙箱或只有资源上限）、沙箱内核启动失败时退回、大声警告；
  kernel_control.KernelLink：在当前内核上问“还活着吗”、静默执行、中断；
- recovery.Recovery：测试前复原（guard）、内核出事后重启并重放，重启次数有上限；
  它经 recovery.Kernel 协议（run_silent、death_cause、replace_kernel、replay_cell）使唤本类；
- output_limits.OutputBudget：输出上限（每个单元、每个 notebook）；
- boundary.JudgeSession：测试单元交给评判进程运行，测试开始后不再保留内核的输出；
- standby：评分服务的工人预先启动的沙箱内核，create_kernel_manager() 在启动参数完全相同时接手；
- files/events.Report：每个事件写日志并记入每份提交的报告，合作者各自往里写。
"""
import copy
import os

from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbconvert.preprocessors import ExecutePreprocessor
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Bool, Dict, Enum, Integer

from . import standby
from .boundary import JudgeSession
from .kernel_control import KernelChoice, KernelLink, shutdown_quietly
from .output_limits import OutputBudget
from .recovery import Recovery
from ..files.release import coursedir_of, read_release, release_notebook_path
from ..files.events import Report, grade_id, scan_source
from ..submissions import GRADING_META

__all__ = ["RobustExecute", "CellWatch"]

DEAD = "内核在运行这个单元时退出了"


def _error(ename, evalue):
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=["%s: %s" % (ename, evalue)])


class CellWatch:
    """一个单元的这一次运行（正常执行或重放）：超时了吗、内核的 execute_reply。

    只有它写这两样：RobustExecute 在运行前调用 begin()，nbclient 的两个钩子调用 saw_timeout()、saw_reply()；
    别人只问 timed_out 和 asked_exit()。"""

    def __init__(self):
        self.begin()

    def begin(self):
        self._timed_out, self._reply = False, None

    def saw_timeout(self):
        self._timed_out = True

    def saw_reply(self, reply):
        self._reply = reply

    @property
    def timed_out(self):
        return self._timed_out

    def asked_exit(self):
        """这个单元调用了 exit()/quit()：ipykernel 会在稍后退出，下一个单元就会撞上死掉的内核。"""
        payload = ((self._reply or {}).get("content") or {}).get("payload") or []
        return any(p.get("source") == "ask_exit" and not p.get("keepkernel") for p in payload)


class RobustExecute(Execute):
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
        self._report = report = Report(self.log, info.get("student", "?"), info.get("assignment", "?"),
                                       info.get("notebook", "?"))
        self._release_path = release = release_notebook_path(self.parent, self.resources)
        # 合作者：每份 notebook 一套新的，各自拥有自己的状态（见各自文件开头的说明）
        self._watch = CellWatch()
        self._budget = OutputBudget(self.max_output_bytes_per_cell, self.max_output_bytes_total, self.max_error_chars)
        self._link = KernelLink(lambda: (self.km, self.kc), self.log)
        self._choice = KernelChoice(self, self.log, coursedir_of(self.parent),
                                    self.config.get("Exchange", {}).get("root"),
                                    (resources or {}).get("metadata", {}).get("path") or "", release,
                                    self.trusted_tests)
        self._recovery = Recovery(self, report, self.nb.cells, max_restarts=self.max_kernel_restarts,
                                  silent_timeout=max(30, self.timeout or 30), guard=self.guard,
                                  guard_in_kernel=not self.trusted_tests)
        self._trusted = JudgeSession(self._link, report, self.log, self.nb.cells, release, self._choice,
                                     enabled=self.trusted_tests, keep_outputs=self.keep_outputs_after_tests,
                                     max_output=self.max_trusted_output, timeout=self.timeout,
                                     probe_timeout=self.probe_timeout)
        self._started = self._adopted = False
        try:
            unreadable = (nb.metadata.get(GRADING_META) or {}).get("unreadable")
            if unreadable:
                report.sandbox = "not run"
                report.add("unreadable", unreadable)
                for cell in nb.cells:
                    if cell.cell_type == "code" and utils.is_grade(cell):
                        cell.outputs = [_error("SubmissionError", unreadable)]
                return nb, self.resources
            restored = (nb.metadata.get(GRADING_META) or {}).get("restored")  # sanitize.py 的 OverwriteCells、RestoreCellOrder 写的
            if restored:
                report.add("cells-restored", _restored_detail(restored), level="info")
            if self.scan:
                self._scan(nb)
            report.sandbox = self._choice.choose()
            try:
                self._execute_all(resources)
            except Exception as exc:
                if self._adopted and not self._started:  # 接手的内核连不上：照常冷启动一个沙箱内核
                    self.log.info("接手的评分内核连不上（%s），改为新启动一个", exc)
                    self._adopted = False
                    report.kernel = "started"
                    self._cleanup_kernel()
                    self.km = self.kc = None
                    self._execute_all(resources)
                # 沙箱内核根本没启动起来（还没有运行任何学生代码）：退回到不用沙箱
                elif not self._choice.fall_back(exc, self._started):
                    raise
                else:
                    self.km = self.kc = None
                    report.sandbox = self._choice.sandbox
                    self._execute_all(resources)
            self.set_widgets_metadata()
        finally:
            self._trusted.close()
            if standby.holding():
                self._cleanup_kernel()  # 接手的内核一定已经结束，才把放在一旁的 notebook 放回
                standby.put_back()
            self._write_report()
        return self.nb, self.resources

    def _execute_all(self, resources):
        self._started = False
        with self.setup_kernel():
            info_msg = self.wait_for_reply(self.kc.kernel_info())
            if info_msg is not None:
                self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
            self._recovery.kernel_started()  # 测试单元在内核里运行时 guard 拍下原样；否则内核里没有什么要复原的
            self._started = True
            self._trusted.prestart()  # 评判进程和学生的单元同时启动、导入，到第一个测试单元时已经就绪
            for index, cell in enumerate(self.nb.cells):
                self.preprocess_cell(cell, resources, index)

    # ------------------------------------------------------------------ nbclient 的钩子：只转交给合作者
    def on_cell_executed(self, **kwargs):
        self._watch.saw_reply(kwargs.get("execute_reply"))
        super().on_cell_executed(**kwargs)

    async def _async_handle_timeout(self, timeout, cell=None):
        self._watch.saw_timeout()
        return await super()._async_handle_timeout(timeout, cell)

    def output(self, outs, msg, display_id, cell_index):
        if self._recovery.replaying or not self._budget.admit(msg, cell_index):  # 重放时的输出一概不要
            return None
        return super().output(outs, msg, display_id, cell_index)

    def _update_display_id(self, display_id, msg):
        """测试开始以后，内核不能再改写之前留下的输出（update_display_data 可以改写任何一个单元的输出）。"""
        if self._trusted.hides_outputs:
            return
        return super()._update_display_id(display_id, msg)

    def set_widgets_metadata(self):
        """控件的状态来自内核：测试开始以后它可能带着测试的输入（学生的单元开一个控件，把记下的值放进 state），
        所以那时不写进评分后的 notebook（keep_outputs_after_tests 时照旧）。"""
        if self._trusted.hides_outputs:
            self.nb.metadata.pop("widgets", None)
            return
        super().set_widgets_metadata()

    def create_kernel_manager(self):
        """这份 notebook 的 KernelManager；评分服务的工人预先启动了一样的沙箱内核时接手它（standby.py）。"""
        self.kernel_manager_class = self._choice.manager_class
        km = self._choice.configure(super().create_kernel_manager())
        adopted = standby.adopt(km, self)  # 待命内核只给一次：重启时这里已经是 None
        self._adopted = adopted is not None
        if not self._report.kernel:
            self._report.kernel = "prestarted" if adopted is not None else "started"
        return adopted or km

    async def _async_cleanup_kernel(self):
        """收尾时内核可能早已不在（或者重启失败）：无论如何都不能让整次评分失败。"""
        if self.km is None:
            self.kc = None
            return
        try:
            await super()._async_cleanup_kernel()
        except Exception as exc:
            self.log.debug("结束内核时出错：%s", exc)
            self.km = self.kc = None

    _cleanup_kernel = run_sync(_async_cleanup_kernel)

    # ------------------------------------------------------------------ Recovery 用的内核协议（recovery.Kernel）
    def run_silent(self, code, timeout):
        return self._link.run_silent(code, timeout)

    def death_cause(self):
        return self._link.death_cause()

    async def _async_replace_kernel(self):
        """强行结束当前内核（包括沙箱里的全部进程），换一个新内核。"""
        try:
            await shutdown_quietly(self.km, self.kc, self.log)
        finally:
            self.kc = None
            self.km = None
        self.km = self.create_kernel_manager()
        await self.async_start_new_kernel()
        await self.async_start_new_kernel_client()

    replace_kernel = run_sync(_async_replace_kernel)

    def replay_cell(self, cell, index):
        """在新内核里静默重跑一个单元：输出不要（见 output()），执行计数不变。没出事返回 None。"""
        saved = self.code_cells_executed
        self._watch.begin()
        try:
            self.execute_cell(copy.deepcopy(cell), index, store_history=False)
        except (DeadKernelError, CellTimeoutError):
            return "退出"
        finally:
            self.nb.cells[index] = cell
            self.code_cells_executed = saved
        if self._watch.timed_out and not self._link.responsive(self.probe_timeout):
            return "超时且没有回应"
        if self._watch.asked_exit():
            return "退出（exit()）"
        return None

    # ------------------------------------------------------------------ 逐个单元
    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        gid = grade_id(cell)
        if utils.is_grade(cell):
            self._recovery.before_test(index, gid)
        if self._recovery.given_up:
            cell.outputs = [_error("CellNotExecuted", "没有执行：" + self._recovery.given_up)]
            cell.execution_count = None
            return cell, resources
        if self._trusted.is_trusted(cell):
            return self._preprocess_trusted(cell, resources, index, gid)
        self._watch.begin()
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
            if self._watch.timed_out:
                if self._link.responsive(self.probe_timeout):
                    self._report.add("timeout", "超时（%s 秒），已中断" % self.timeout, index, gid)
                else:
                    failure = ("CellTimeoutError", "单元运行超时，内核没有回应中断，已强行重启，本单元不得分")
            elif self._watch.asked_exit():
                failure = ("KernelExit", "这个单元调用了 exit()/quit()，内核已重启；本单元不得分，也不会被重放")
        dropped = self._budget.note_dropped(cell, index)
        if dropped:
            self._report.add("output-truncated", dropped, index, gid)
        self._trusted.after_tests(cell)
        if failure and failure[0] == "DeadKernelError":
            cause = self.death_cause()
            if cause:
                failure = (failure[0], "%s：%s，本单元不得分" % (DEAD, cause))
        if failure:
            cell.outputs.append(_error(*failure))
            self._report.add("kernel-restart", failure[1], index, gid)
            self._recovery.recover(index + 1, failed=index)
        return cell, resources

    def _preprocess_trusted(self, cell, resources, index, gid):
        """测试单元：在评分进程里执行（boundary.py），内核只回答纯数据的请求。"""
        self.code_cells_executed += 1
        cell.execution_count = self.code_cells_executed
        try:
            outputs, trouble = self._trusted.run_cell(cell, index)
        except Exception as exc:  # 评分必须继续：任何意外都只算这个单元失败
            outputs, trouble = [_error(type(exc).__name__, "执行这个测试单元时出错：%s" % exc)], None
        cell.outputs = outputs
        if trouble == "timeout":
            self._report.add("timeout", "测试单元超时（%s 秒），已中断" % self.timeout, index, gid)
        if trouble in ("dead", "unresponsive"):
            what = DEAD if trouble == "dead" else "单元运行超时，内核没有回应中断"
            cause = self.death_cause() if trouble == "dead" else ""
            self._report.add("kernel-restart", "%s%s，已重启" % (what, "：" + cause if cause else ""), index, gid)
            self._recovery.recover(index + 1)
        return cell, resources

    # ------------------------------------------------------------------ 报告
    def _given_lines(self):
        """学生版里本来就有的代码行（课程自己给出的代码不算可疑）。"""
        release = read_release(self._release_path)
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
        cd = coursedir_of(self.parent)
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
