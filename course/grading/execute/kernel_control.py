"""RobustExecute 的内核管理：选哪种内核（沙箱或只有资源上限）、问内核还活着吗、静默执行评分代码、
换一个新内核、收尾时无论如何都不让整次评分失败。

这是 RobustExecute 的一个混入类（mixin），本身不是预处理器；配置项都在 RobustExecute 上。
"""
import asyncio
import os
from time import monotonic

from jupyter_core.utils import ensure_async, run_sync

from ..sandbox import bubblewrap as sandbox
from ..files.release import coursedir_of, release_notebook_path
from ..sandbox.kernels import LimitedKernelManager, SandboxedKernelManager

__all__ = ["KernelControl"]

_WARNED = set()  # 每个进程里每种警告只大声说一次


class KernelControl:
    def _coursedir(self):
        return coursedir_of(self.parent)

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

    def _package_private(self):
        """这份作业的评分内核看不到的课程模块（answers.py）：按学生版里课程给出的代码决定。"""
        from ..sandbox.answers import hidden_parts

        return hidden_parts(release_notebook_path(self.parent, self.resources), self.trusted_tests)

    def _choose_kernel_manager(self):
        """返回 (KernelManager 类, 报告里的沙箱说明, GradingSandbox 配置, 沙箱探测结果)。"""
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
        cls, _, cfg, status = self._km_choice
        self.kernel_manager_class = cls
        km = super().create_kernel_manager()
        km.sandbox_config = cfg
        if cls is SandboxedKernelManager:
            km.status = status
            km.workdir = os.path.abspath(self._workdir) if self._workdir else ""
            km.hidden_paths, km.strict_paths = self._hidden_paths()
            km.package_private = self._package_private()
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
