"""选评分内核（KernelChoice）、和当前内核说话（KernelLink）：RobustExecute 的两个合作者。

KernelChoice 拥有的状态：这份 notebook 用哪种 KernelManager（沙箱，或者只有资源上限）、GradingSandbox
配置、沙箱探测结果、报告里的沙箱说明；沙箱内核启动失败时退回不用沙箱也由它决定。沙箱关掉或不可用时
“大声警告”，每个进程每种只说一次（模块里的 _WARNED，只有 loud() 写它）。它向别人要的都在构造时给：
读 GradingSandbox 配置用的 traitlets parent（RobustExecute）、日志、nbgrader 的 CourseDirectory（可能是
None）、Exchange 的根目录、学生提交的工作目录、学生版 notebook 的路径和 trusted_tests（决定评分内核
看不到哪些课程模块，见 sandbox/answers.py）。RobustExecute.create_kernel_manager() 每新建一个
KernelManager 就交给 configure()。

KernelLink 不拥有状态：每次都调用 current() 要当前的 (km, kc)（换了新内核就是新的），在上面问“还活着吗”
“空闲了吗”、静默执行、等回答、中断、说明死因。Recovery 经 RobustExecute、评判会话（boundary.py）
直接用它。配置项都在 RobustExecute 上。
"""
import asyncio
import os
from time import monotonic

from jupyter_core.utils import ensure_async, run_sync

from ..sandbox import bubblewrap as sandbox
from ..sandbox.kernels import LimitedKernelManager, SandboxedKernelManager

__all__ = ["KernelChoice", "KernelLink", "death_cause"]

_WARNED = set()  # 每个进程里每种警告只大声说一次


def loud(log, key, text):
    """大声警告（每个进程每种 key 只说一次）。"""
    if key in _WARNED:
        return
    _WARNED.add(key)
    bar = "!" * 78
    log.warning("\n%s\n!!! %s\n!!! 查看状态：python -m course sandbox-status\n%s", bar, text, bar)


class KernelChoice:
    """一份 notebook 的内核选择。choose() 之前 manager_class 是 None。"""

    def __init__(self, parent, log, coursedir, exchange_root, workdir, release_path, trusted_tests):
        self._parent, self._log, self._coursedir = parent, log, coursedir
        self._exchange_root, self._workdir = exchange_root, workdir
        self._release_path, self._trusted_tests = release_path, trusted_tests
        self.manager_class, self.sandbox, self.config, self.status = None, None, None, None

    def choose(self):
        """探测沙箱，选定 KernelManager 类；返回报告里的沙箱说明。mode=required 而沙箱不可用时抛出 RuntimeError。"""
        cfg = sandbox.GradingSandbox(parent=self._parent)
        try:
            mode = sandbox.effective_mode(cfg.mode)
        except ValueError as exc:
            raise RuntimeError(str(exc)) from None
        if mode == "off":
            loud(self._log, "off", "评分沙箱已被明确关闭（%s=off 或 c.GradingSandbox.mode）：学生代码以你的权限运行，"
                                   "能读写你能读写的一切文件（包括 source/ 里的答案和 gradebook.db）。" % sandbox.ENV_VAR)
            return self._set(LimitedKernelManager, "off", cfg, None)
        status = sandbox.probe(cfg.bwrap)
        if status.available:
            return self._set(SandboxedKernelManager, "bwrap", cfg, status)
        if mode == "required":
            raise RuntimeError("评分沙箱不可用（%s），而模式是 required。" % status.reason)
        loud(self._log, "unavailable", "评分沙箱不可用：%s。学生代码以你的权限运行，能读写你能读写的一切文件"
                                       "（包括 source/ 里的答案和 gradebook.db）。" % status.reason)
        return self._set(LimitedKernelManager, "unavailable: " + status.reason, cfg, None)

    def _set(self, cls, description, cfg, status):
        self.manager_class, self.sandbox, self.config, self.status = cls, description, cfg, status
        return description

    def fall_back(self, exc, started):
        """沙箱内核根本没启动起来（started 为假：还没有运行任何学生代码）时退回到不用沙箱，返回 True；
        不该退回（已经开始运行、本来就没用沙箱、mode=required）时返回 False，由调用者照原样抛出。"""
        if started or self.manager_class is not SandboxedKernelManager or \
                sandbox.effective_mode(self.config.mode) == "required":
            return False
        loud(self._log, "start-failed", "沙箱内核启动失败（%s），改为不用沙箱评分。" % exc)
        self._set(LimitedKernelManager, "unavailable: 沙箱内核启动失败", self.config, None)
        return True

    def configure(self, km):
        """新建的 KernelManager：装上沙箱的配置（用沙箱时还有工作目录、看不到的路径、盖住的课程模块）。"""
        km.sandbox_config = self.config
        if self.manager_class is SandboxedKernelManager:
            km.status = self.status
            km.workdir = os.path.abspath(self._workdir) if self._workdir else ""
            km.hidden_paths, km.strict_paths = self.hidden_paths()
            km.package_private = self._package_private()
        return km

    def hidden_paths(self):
        """(沙箱里看不到的路径, 其中里面什么都不许挂载的文件夹)。"""
        cd = self._coursedir
        strict = []
        if cd is not None:
            for step in (cd.source_directory, cd.release_directory, cd.submitted_directory,
                         cd.autograded_directory, cd.feedback_directory):
                strict.append(os.path.normpath(cd.format_path(step, ".", ".")))
            if cd.db_url.startswith("sqlite:///"):
                strict.append(cd.db_url[len("sqlite:///"):])
        if isinstance(self._exchange_root, str):
            strict.append(self._exchange_root)
        strict = [os.path.abspath(p) for p in strict if p]
        return ([os.path.abspath(cd.root)] if cd is not None else []) + strict, strict

    def _package_private(self):
        """这份作业的评分内核看不到的课程模块（answers.py）：按学生版里课程给出的代码决定。"""
        from ..sandbox.answers import hidden_parts

        return hidden_parts(self._release_path, self._trusted_tests)


def death_cause(km):
    """内核刚死掉时：怎么死的（OOM、哪个信号、退出码），给评分事件用；不知道时是空字符串。"""
    from ..sandbox.kernels import exit_cause

    try:
        fn = getattr(km, "death_cause", None)
        return fn() if fn is not None else exit_cause(km)
    except Exception:  # 说明原因只是锦上添花，不能让评分出错
        return ""


class KernelLink:
    """当前内核的通道。current() 返回 (km, kc)。"""

    def __init__(self, current, log):
        self._current, self._log = current, log

    def death_cause(self):
        return death_cause(self._current()[0])

    def private_dir(self):
        """沙箱内核的私有文件夹（没有沙箱时是空字符串）。"""
        return getattr(self._current()[0], "private_dir", "") or ""

    async def _async_responsive(self, timeout):
        """内核还能回应吗？shell 通道上的 kernel_info 只有在内核空闲时才会被处理。"""
        km, kc = self._current()
        try:
            if not await km.is_alive():
                return False
            msg_id = await ensure_async(kc.kernel_info())
            deadline = monotonic() + timeout
            while True:
                remaining = deadline - monotonic()
                if remaining <= 0:
                    return False
                msg = await kc.shell_channel.get_msg(timeout=remaining)
                if msg["parent_header"].get("msg_id") == msg_id:
                    return True
        except Exception:  # 通道已关闭、内核已死等：都算不回应
            return False

    async def _async_send_silent(self, code):
        """在内核里静默执行一段代码，不等它结束；返回请求的 msg_id。"""
        return await ensure_async(self._current()[1].execute(code, silent=True, store_history=False,
                                                             allow_stdin=False))

    async def _async_wait_reply(self, msg_id, timeout, detail=False):
        """等这个请求的回答：返回回答的状态（detail 时是 (状态, 错误说明)）；内核死了是 "dead"，等不到是 None。"""
        km, kc = self._current()
        deadline = monotonic() + timeout
        while True:
            remaining = deadline - monotonic()
            if remaining <= 0:
                return None
            try:
                msg = await kc.shell_channel.get_msg(timeout=min(remaining, 1))
            except Exception:
                if not await km.is_alive():
                    return "dead"
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                c = msg["content"]
                return (c.get("status"), "%s: %s" % (c.get("ename", ""), c.get("evalue", ""))) if detail \
                    else c.get("status")

    async def _async_run_silent(self, code, timeout):
        """静默执行一小段评分代码，返回 (状态, 错误说明)。"""
        msg_id = await self._async_send_silent(code)
        answer = await self._async_wait_reply(msg_id, timeout, detail=True)
        if answer is None:
            return "timeout", "没有回应"
        if answer == "dead":
            return "dead", "已退出"
        return answer

    async def _async_interrupt(self):
        try:
            await ensure_async(self._current()[0].interrupt_kernel())
        except Exception as exc:
            self._log.debug("中断内核失败：%s", exc)

    async def _async_alive(self):
        try:
            return bool(await self._current()[0].is_alive())
        except Exception:
            return False

    responsive = run_sync(_async_responsive)
    send_silent = run_sync(_async_send_silent)
    wait_reply = run_sync(_async_wait_reply)
    run_silent = run_sync(_async_run_silent)
    interrupt = run_sync(_async_interrupt)
    alive = run_sync(_async_alive)


async def shutdown_quietly(km, kc, log):
    """强行结束一个内核（包括沙箱里的全部进程）并关掉通道；内核可能早已不在了。"""
    try:
        if km is not None:
            await asyncio.wait_for(km.shutdown_kernel(now=True), 15)
    except Exception as exc:  # 内核可能早已不在了
        log.debug("结束旧内核时出错：%s", exc)
    if kc is not None:
        await ensure_async(kc.stop_channels())
