"""RobustExecute：替换 nbgrader 的 Execute，让一份坏提交只影响它自己的分数。

在 nbgrader_config.py 的 c.Autograde.autograde_preprocessors 里代替 nbgrader.preprocessors.Execute
（只用于 autograde；validate 和 JupyterLab 不受影响）。它做的事：

- 内核在沙箱里运行（course/sandbox.py）；沙箱不可用时大声警告一次，仍然施加资源上限；
- 单元超时：先中断（KeyboardInterrupt），这个单元记 0 分，继续后面的单元；
  内核不理中断（例如屏蔽了 SIGINT）或者内核退出了（os._exit、内存耗尽、CPU 时间用完）：
  结束内核，启动新内核，静默重放出事单元之前的非测试单元（跳过出过事的单元），再继续评分；
  重启次数有上限，超过后余下的单元都标为未执行（0 分），整次 autograde 照常进行；
- 输出有上限（每个单元、每个 notebook），超出部分丢弃并注明，stderr 被截掉时仍保留一条 stderr，
  让“写了 stderr 的测试单元得 0 分”的规则不变；
- 任何学生代码运行前导入 course.checks.guard 拍下原样，每个测试单元执行前先静默复原一次；
- 读不了的提交（JSON 损坏、空文件、缺交，见 course/grading_io.py）不运行，所有测试单元 0 分；
- 每个事件写日志并记入每份提交的报告（course/grading_report.py）。
"""
import asyncio
import copy
import os
from time import monotonic

from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbconvert.preprocessors import ExecutePreprocessor
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Bool, Dict, Enum, Integer

from . import sandbox
from .grading_kernel import LimitedKernelManager, SandboxedKernelManager
from .grading_report import Report, scan_source

__all__ = ["RobustExecute", "GRADING_META"]

GRADING_META = "course_grading"  # notebook 元数据里的键：{"unreadable": 原因}
_PRIME = "__import__('course.checks.guard', fromlist=['snapshot']).snapshot()"
_RESTORE = "__import__('course.checks.guard', fromlist=['restore']).restore(mark=False)"
_WARNED = set()


def _error(ename, evalue, lines=None):
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=lines or ["%s: %s" % (ename, evalue)])


def _msg_size(msg):
    content = msg.get("content", {})
    if msg.get("msg_type") == "stream":
        return len(content.get("text", ""))
    size = 0
    for value in (content.get("data") or {}).values():
        size += len(value) if isinstance(value, str) else len(str(value))
    return size + len(str(content.get("evalue", ""))) + sum(len(x) for x in content.get("traceback", []) or [])


class RobustExecute(Execute):
    max_kernel_restarts = Integer(3, help="每个 notebook 最多重启几次内核").tag(config=True)
    probe_timeout = Integer(10, help="超时中断后等内核回应的秒数；不回应就重启").tag(config=True)
    max_output_bytes_per_cell = Integer(1_000_000, help="每个单元保留的输出上限（字节）").tag(config=True)
    max_output_bytes_total = Integer(10_000_000, help="每个 notebook 保留的输出上限（字节）").tag(config=True)
    max_error_chars = Integer(4000, help="错误信息和每行 traceback 保留的最大长度").tag(config=True)
    guard = Bool(True, help="测试单元执行前先用 course.checks.guard 复原被篡改的对象").tag(config=True)
    scan = Bool(True, help="静态扫描学生代码里的可疑写法并写进报告").tag(config=True)
    shutdown_kernel = Enum(["graceful", "immediate"], default_value="immediate",
                           help="评分结束后直接结束内核（省下每份提交约 1 秒）").tag(config=True)
    error_on_timeout = Dict(default_value={
        "ename": "CellTimeoutError", "evalue": "单元运行超时，已被中断",
        "traceback": ["CellTimeoutError: 单元运行超时（可能是死循环），已被中断，本单元不得分"],
    }).tag(config=True)

    # ------------------------------------------------------------------ 内核
    def _coursedir(self):
        obj = self.parent
        while obj is not None:
            if getattr(obj, "coursedir", None) is not None:
                return obj.coursedir
            obj = getattr(obj, "parent", None)
        return None

    def _hidden_paths(self):
        """(沙箱里看不到的路径, 其中里面什么都不许挂载的文件夹)。"""
        cd = self._coursedir()
        strict = []
        if cd is not None:
            for step in (cd.source_directory, cd.release_directory, cd.submitted_directory,
                         cd.autograded_directory, cd.feedback_directory):
                strict.append(os.path.normpath(cd.format_path(step, ".", ".")))
            if cd.db_url.startswith("sqlite:///"):
                strict.append(cd.db_url[len("sqlite:///"):])
        exchange = self.config.get("Exchange", {}).get("root")
        if isinstance(exchange, str):
            strict.append(exchange)
        strict = [os.path.abspath(p) for p in strict if p]
        return ([os.path.abspath(cd.root)] if cd is not None else []) + strict, strict

    def _choose_kernel_manager(self):
        cfg = sandbox.GradingSandbox(parent=self)
        try:
            mode = sandbox.effective_mode(cfg.mode)
        except ValueError as exc:
            raise RuntimeError(str(exc)) from None
        if mode == "off":
            self._loud("off", "评分沙箱已被明确关闭（%s=off 或 c.GradingSandbox.mode）：学生代码以你的权限运行，"
                              "能读写你能读写的一切文件（包括 source/ 里的答案和 gradebook.db）。" % sandbox.ENV_VAR)
            return LimitedKernelManager, "off", cfg, None
        status = sandbox.probe(cfg.bwrap)
        if status.available:
            return SandboxedKernelManager, "bwrap", cfg, status
        if mode == "required":
            raise RuntimeError("评分沙箱不可用（%s），而模式是 required。" % status.reason)
        self._loud("unavailable", "评分沙箱不可用：%s。学生代码以你的权限运行，能读写你能读写的一切文件"
                                  "（包括 source/ 里的答案和 gradebook.db）。" % status.reason)
        return LimitedKernelManager, "unavailable: " + status.reason, cfg, None

    def _loud(self, key, text):
        if key in _WARNED:
            return
        _WARNED.add(key)
        bar = "!" * 78
        self.log.warning("\n%s\n!!! %s\n!!! 查看状态：python -m course sandbox-status\n%s", bar, text, bar)

    def create_kernel_manager(self):
        cls, label, cfg, status = self._km_choice
        self.kernel_manager_class = cls
        km = super().create_kernel_manager()
        km.sandbox_config = cfg
        if cls is SandboxedKernelManager:
            km.status = status
            km.workdir = os.path.abspath(self._workdir) if self._workdir else ""
            km.hidden_paths, km.strict_paths = self._hidden_paths()
        return km

    async def _async_handle_timeout(self, timeout, cell=None):
        self._timed_out = True
        return await super()._async_handle_timeout(timeout, cell)

    async def _async_responsive(self, timeout):
        """内核还能回应吗？shell 通道上的 kernel_info 只有在内核空闲时才会被处理。"""
        try:
            if not await self.km.is_alive():
                return False
            msg_id = await ensure_async(self.kc.kernel_info())
            deadline = monotonic() + timeout
            while True:
                remaining = deadline - monotonic()
                if remaining <= 0:
                    return False
                msg = await self.kc.shell_channel.get_msg(timeout=remaining)
                if msg["parent_header"].get("msg_id") == msg_id:
                    return True
        except Exception:  # 通道已关闭、内核已死等：都算不回应
            return False

    async def _async_run_silent(self, code, timeout):
        """静默执行一小段评分代码，返回 (状态, 错误说明)。"""
        msg_id = await ensure_async(self.kc.execute(code, silent=True, store_history=False, allow_stdin=False))
        deadline = monotonic() + timeout
        while True:
            remaining = deadline - monotonic()
            if remaining <= 0:
                return "timeout", "没有回应"
            try:
                msg = await self.kc.shell_channel.get_msg(timeout=min(remaining, 1))
            except Exception:
                if not await self.km.is_alive():
                    return "dead", "已退出"
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                c = msg["content"]
                return c.get("status"), "%s: %s" % (c.get("ename", ""), c.get("evalue", ""))

    async def _async_replace_kernel(self):
        """强行结束当前内核（包括沙箱里的全部进程），换一个新内核。"""
        try:
            if self.km is not None:
                await asyncio.wait_for(self.km.shutdown_kernel(now=True), 15)
        except Exception as exc:  # 内核可能早已不在了
            self.log.debug("结束旧内核时出错：%s", exc)
        try:
            if self.kc is not None:
                await ensure_async(self.kc.stop_channels())
        finally:
            self.kc = None
            self.km = None
        self.km = self.create_kernel_manager()
        await self.async_start_new_kernel()
        await self.async_start_new_kernel_client()

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
    responsive = run_sync(_async_responsive)
    run_silent = run_sync(_async_run_silent)
    replace_kernel = run_sync(_async_replace_kernel)

    # ------------------------------------------------------------------ 输出上限
    def output(self, outs, msg, display_id, cell_index):
        if self._replaying:
            return None
        size = _msg_size(msg)
        used = self._cell_bytes.get(cell_index, 0)
        room = min(self.max_output_bytes_per_cell - used, self.max_output_bytes_total - self._total_bytes)
        msg_type = msg["msg_type"]
        content = msg["content"]
        if msg_type == "error":  # 错误必须保留（它决定得分），只截短
            content["evalue"] = str(content.get("evalue", ""))[: self.max_error_chars]
            content["traceback"] = [x[: self.max_error_chars] for x in (content.get("traceback") or [])[:200]]
        elif size > room:
            dropped = self._dropped.setdefault(cell_index, {"messages": 0, "bytes": 0, "stderr": False})
            if msg_type == "stream" and room > 0:
                content["text"] = content["text"][:room]
                size = room
            else:
                dropped["messages"] += 1
                dropped["bytes"] += size
                dropped["stderr"] |= msg_type == "stream" and content.get("name") == "stderr"
                return None
        self._cell_bytes[cell_index] = used + size
        self._total_bytes += size
        return super().output(outs, msg, display_id, cell_index)

    def _note_dropped(self, cell, index):
        dropped = self._dropped.pop(index, None)
        if not dropped:
            return
        detail = "输出太多：省略了 %d 条输出，约 %d KB" % (dropped["messages"], dropped["bytes"] // 1024)
        # 说明放在最前面：LimitOutput 只保留前 max_lines 行，放在后面会被它截掉
        notes = [NotebookNode(output_type="stream", name="stdout", text="（%s）\n" % detail)]
        has_stderr = any(o.get("output_type") == "stream" and o.get("name") == "stderr" for o in cell.outputs)
        if dropped["stderr"] and not has_stderr:
            notes.append(NotebookNode(output_type="stream", name="stderr", text="（stderr 输出过多，已截断）\n"))
        cell.outputs[:0] = notes
        self._report.add("output-truncated", detail, index, _grade_id(cell))

    # ------------------------------------------------------------------ 执行
    def preprocess(self, nb, resources=None, km=None):
        from nbclient import NotebookClient
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
        self._cell_bytes, self._total_bytes, self._dropped = {}, 0, {}
        try:
            unreadable = (nb.metadata.get(GRADING_META) or {}).get("unreadable")
            if unreadable:
                self._report.sandbox = "not run"
                self._report.add("unreadable", unreadable)
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type == "code" and utils.is_grade(cell):
                        cell.outputs = [_error("SubmissionError", unreadable)]
                return nb, self.resources
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
            self._write_report()
        return self.nb, self.resources

    def _execute_all(self, resources):
        self._started = False
        with self.setup_kernel():
            info_msg = self.wait_for_reply(self.kc.kernel_info())
            if info_msg is not None:
                self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
            self._prime()
            self._started = True
            for index, cell in enumerate(self.nb.cells):
                self.preprocess_cell(cell, resources, index)

    def _prime(self):
        status, detail = self.run_silent(_PRIME, max(30, self.timeout or 30))
        self._guard_ok = status == "ok"
        if not self._guard_ok:
            self._report.add("guard", "无法导入 course.checks.guard（%s %s），测试前不做复原" % (status, detail))

    def on_cell_executed(self, **kwargs):
        self._last_reply = kwargs.get("execute_reply")
        super().on_cell_executed(**kwargs)

    def _asked_exit(self):
        """上一个单元调用了 exit()/quit()：ipykernel 会在稍后退出，下一个单元就会撞上死掉的内核。"""
        payload = ((self._last_reply or {}).get("content") or {}).get("payload") or []
        return any(p.get("source") == "ask_exit" and not p.get("keepkernel") for p in payload)

    def _restore_before_test(self, index, grade_id):
        """测试单元执行前静默复原一次；内核已经没有回应时先重启。返回 False 表示放弃了。"""
        for _ in range(2):
            status, detail = self.run_silent(_RESTORE, max(30, self.timeout or 30))
            if status == "ok":
                return True
            if status not in ("timeout", "dead"):
                self._report.add("guard", "测试前复原失败（%s），评分环境可能被篡改" % detail, index, grade_id)
                return True
            self._report.add("kernel-restart", "测试前内核%s，重启后再运行这个单元" % detail, index, grade_id)
            self._recover(index)
            if self._given_up:
                return False
        return True

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        grade_id = _grade_id(cell)
        if utils.is_grade(cell) and self.guard and self._guard_ok and not self._given_up:
            self._restore_before_test(index, grade_id)
        if self._given_up:
            cell.outputs = [_error("CellNotExecuted", "没有执行：" + self._given_up)]
            cell.execution_count = None
            return cell, resources
        self._timed_out, self._last_reply = False, None
        failure = None
        try:
            ExecutePreprocessor.preprocess_cell(self, cell, resources, index)
        except DeadKernelError:
            failure = ("DeadKernelError", "内核在运行这个单元时退出了（os._exit、内存耗尽或 CPU 时间用完？），本单元不得分")
        except CellTimeoutError:
            failure = ("CellTimeoutError", "单元运行超时，内核没有回应中断，已强行重启，本单元不得分")
        except Exception as exc:  # 评分必须继续：任何意外都只算这个单元失败
            failure = (type(exc).__name__, "执行这个单元时出错：%s" % exc)
        else:
            if self._timed_out:
                if self.responsive(self.probe_timeout):
                    self._report.add("timeout", "超时（%s 秒），已中断" % self.timeout, index, grade_id)
                else:
                    failure = ("CellTimeoutError", "单元运行超时，内核没有回应中断，已强行重启，本单元不得分")
            elif self._asked_exit():
                failure = ("KernelExit", "这个单元调用了 exit()/quit()，内核已重启；本单元不得分，也不会被重放")
        self._note_dropped(cell, index)
        if failure:
            self._bad.add(index)
            cell.outputs.append(_error(*failure))
            self._report.add("kernel-restart", failure[1], index, grade_id)
            self._recover(index + 1)
        return cell, resources

    def _recover(self, upto):
        """换一个新内核，重放 upto 之前的单元。重放中又让内核退出的单元会被排除，再试一次。"""
        while True:
            self._restarts += 1
            if self._restarts > self.max_kernel_restarts:
                self._given_up = "内核已经重启了 %d 次" % self.max_kernel_restarts
                self._report.add("gave-up", self._given_up + "，余下的单元不再执行（0 分）", upto)
                return
            try:
                self.replace_kernel()
                self._prime()
                self._replay(upto)
                return
            except _ReplayFailed as exc:
                self._bad.add(exc.index)
                self._report.add("replay", "重放时这个单元又让内核%s，不再重放它" % exc.what, exc.index,
                                 _grade_id(self.nb.cells[exc.index]))
            except Exception as exc:  # 重启失败：余下单元记为未执行，评分照常结束
                self._given_up = "无法恢复内核（%s）" % exc
                self._report.add("gave-up", self._given_up + "，余下的单元不再执行（0 分）", upto)
                return

    def _replay(self, upto):
        """在新内核里静默重跑 upto 之前的非测试单元（出过事的单元除外），恢复学生的定义。"""
        saved = self.code_cells_executed
        self._replaying = True
        try:
            for j, cell in enumerate(self.nb.cells[:upto]):
                if cell.cell_type != "code" or not cell.source.strip() or j in self._bad or utils.is_grade(cell):
                    continue
                self._timed_out, self._last_reply = False, None
                try:
                    self.execute_cell(copy.deepcopy(cell), j, store_history=False)
                except (DeadKernelError, CellTimeoutError):
                    raise _ReplayFailed(j, "退出") from None
                finally:
                    self.nb.cells[j] = cell
                if self._timed_out and not self.responsive(self.probe_timeout):
                    raise _ReplayFailed(j, "超时且没有回应")
                if self._asked_exit():
                    raise _ReplayFailed(j, "退出（exit()）")
        finally:
            self._replaying = False
            self.code_cells_executed = saved

    # ------------------------------------------------------------------ 报告
    def _given_lines(self):
        """学生版里本来就有的代码行（课程自己给出的代码不算可疑）。"""
        cd, info = self._coursedir(), (self.resources or {}).get("nbgrader", {})
        if cd is None or "assignment" not in info:
            return set()
        path = os.path.join(cd.format_path(cd.release_directory, ".", info["assignment"]), info["notebook"] + ".ipynb")
        try:
            import nbformat
            release = nbformat.read(path, as_version=4)
        except Exception:  # 没有学生版时照样扫描
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
                                     _grade_id(cell), level="info")

    def _write_report(self):
        cd = self._coursedir()
        root = os.path.normpath(cd.format_path(cd.autograded_directory, ".", ".")) if cd is not None else None
        try:
            self._report.write(root)
        except OSError as exc:
            self.log.warning("无法写评分报告：%s", exc)


class _ReplayFailed(Exception):
    def __init__(self, index, what):
        super().__init__(index, what)
        self.index, self.what = index, what


def _grade_id(cell):
    return (cell.metadata.get("nbgrader") or {}).get("grade_id")

