"""评分内核的 KernelManager：资源上限（LimitedKernelManager）和 bubblewrap 沙箱（SandboxedKernelManager）。

两者都只由 RobustExecute（kernel_control.py）在 `nbgrader autograde` 时创建，沙箱的规则见 sandbox.py。

沙箱里的内核没有网络，所以内核和评分进程之间改用 Unix 套接字（transport = "ipc"），
套接字和连接文件放在每个内核私有的临时文件夹里（连接文件只读挂载，学生代码改不了重启时用的连接信息）。
中断内核改用 interrupt_request 消息：给 bwrap 发 SIGINT 会直接结束整个沙箱。

内核进程的 stdout/stderr（学生代码直接写到文件描述符 1、2 的东西，ipykernel 会把它们原样转写到这里）
不再连着评分进程的终端和日志：两者都接到一个管道上，由 KernelOutputSink 读走，只保留开头 MAX_KEPT_BYTES 字节，
控制字符转义后写进日志，其余丢掉、只记字节数。学生代码写多少都不会让评分进程的日志或内存变大。
"""
import asyncio
import functools
import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading

from queue import Empty
from time import monotonic

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from traitlets import DottedObjectName, Instance, List, Type, Unicode

from . import cgroup, bubblewrap as sandbox

__all__ = ["LimitedKernelManager", "SandboxedKernelManager", "PromptKernelClient", "sweep_private_dirs"]


MAX_KEPT_BYTES = 4096  # 每次启动内核，它直接写到 stdout/stderr 的内容最多保留这么多字节写进日志
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def _escaped(text):
    """控制字符（终端转义序列、回车、双向文字控制符……）写成 \\xNN / \\uNNNN，日志里只剩看得见的字。"""
    return _CONTROL.sub(lambda m: "\\x%02x" % ord(m.group()) if ord(m.group()) < 0x100
                        else "\\u%04x" % ord(m.group()), text)


class KernelOutputSink:
    """内核进程的 stdout/stderr 的去处：一个管道，由一个后台线程读到底，只留开头 keep 字节。

    fd 交给 Popen（stdout=、stderr= 都用它）；start() 之后父进程里的写端就关掉，内核和它的子进程都退出后
    线程读到文件尾，把留下的开头（转义后）和丢掉的字节数写进日志。"""

    def __init__(self, log, label, keep=MAX_KEPT_BYTES):
        self.log, self.label, self.keep = log, label, keep
        self._read, self.fd = os.pipe()
        self.head, self.total = b"", 0
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._drain, name="kernel-output-sink", daemon=True)

    def start(self):
        """内核进程已经拿到写端之后调用：关掉父进程里的写端，开始读。"""
        os.close(self.fd)
        self.fd = None
        self._thread.start()

    def close(self):
        """内核没有启动成功时调用。"""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
            os.close(self._read)

    def _drain(self):
        try:
            while True:
                chunk = os.read(self._read, 1 << 16)
                if not chunk:
                    break
                self.total += len(chunk)
                if len(self.head) < self.keep:
                    self.head += chunk[: self.keep - len(self.head)]
        except OSError:
            pass
        finally:
            os.close(self._read)
            self._report()
            self.done.set()

    def _report(self):
        if not self.total:
            return
        text = _escaped(self.head.decode("utf-8", "replace")).rstrip()
        more = "（共 %d 字节，其余 %d 字节已丢弃）" % (self.total, self.total - len(self.head)) \
            if self.total > len(self.head) else ""
        self.log.info("%s直接写到 stdout/stderr 的内容%s：\n%s", self.label, more, text)


def _bounded_output(km, kw):
    """把内核进程的 stdout/stderr 接到一个新的 KernelOutputSink 上（kw 是传给 Popen 的参数），返回它。"""
    sink = KernelOutputSink(km.log, "评分内核")
    kw["stdout"] = kw["stderr"] = sink.fd
    return sink


async def _launch_bounded(km, launch, argv, kw):
    """用 launch(argv, **kw) 启动内核，stdout/stderr 接到有上限的 sink 上。"""
    sink = _bounded_output(km, kw)
    try:
        await launch(argv, **kw)
    except BaseException:
        sink.close()
        raise
    sink.start()
    km.output_sink = sink


class PromptKernelClient(AsyncKernelClient):
    """评分内核的客户端：等内核就绪时不白等。

    jupyter_client 的 wait_for_ready 拿到 kernel_info 的回答以后，还要等 IOPub 整整 0.2 秒没有消息才返回
    （每份 notebook 一次，什么也不做）。这里的“就绪”是：shell 通道回答了 kernel_info，而且 IOPub 通道送来了这次
    请求的 idle 状态（说明 IOPub 已经连上，不会漏掉单元的输出）；IOPub 还没连上时（ZeroMQ 刚订阅时会丢消息）
    再问一次。之后 IOPub 上剩下的消息不属于任何单元，nbclient 按请求的 msg_id 认消息，不受影响。"""

    iopub_wait = 0.1  # 每问一次，等 IOPub 送来 idle 状态的秒数

    async def _async_wait_for_ready(self, timeout=None):
        deadline = monotonic() + (timeout if timeout is not None else float("inf"))
        while True:
            msg_id = self.kernel_info()
            try:
                reply = await self._async_recv_reply(msg_id, timeout=max(0.01, min(1.0, deadline - monotonic())))
            except (TimeoutError, Empty):
                reply = None
            if reply is not None and await self._iopub_idle(msg_id):
                self._handle_kernel_info_reply(reply)
                return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if monotonic() > deadline:
                raise RuntimeError("Kernel didn't respond in %d seconds" % timeout)

    async def _iopub_idle(self, msg_id):
        end = monotonic() + self.iopub_wait
        while True:
            left = end - monotonic()
            if left <= 0:
                return False
            try:
                msg = await self.iopub_channel.get_msg(timeout=left)
            except Empty:
                return False
            if msg.get("parent_header", {}).get("msg_id") == msg_id and msg.get("msg_type") == "status" and \
                    msg.get("content", {}).get("execution_state") == "idle":
                return True

    wait_for_ready = _async_wait_for_ready  # AsyncKernelClient 把基类的函数直接挂在这个名字上


_CLIENT = "course.grading.sandbox.kernels.PromptKernelClient"


class QuickWait:
    """结束内核以后等它死：jupyter_client 每 0.1 秒才看一次（KernelManager._async_wait），被 SIGKILL 的内核
    几毫秒就死了，评每份 notebook 都白等近 0.1 秒。这里从 1 毫秒开始看，每次间隔加倍，最长仍是 pollinterval。"""

    async def _async_wait(self, pollinterval=0.1):
        delay = 0.001
        while await self._async_is_alive():
            await asyncio.sleep(delay)
            delay = min(delay * 2, pollinterval)


class LimitedKernelManager(QuickWait, AsyncKernelManager):
    """照常启动内核，只是先设好 rlimit（内存、CPU 时间、文件大小、不写 core）。"""

    client_class = DottedObjectName(_CLIENT)
    client_factory = Type(PromptKernelClient, klass=AsyncKernelClient)

    sandbox_config = Instance(sandbox.GradingSandbox, allow_none=True)

    def _limits(self):
        cfg = self.sandbox_config or sandbox.GradingSandbox(config=self.config)
        return cfg.limits(sandboxed=False)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        if os.name == "posix":
            kernel_cmd = sandbox.limiter_argv(kernel_cmd, self._limits())
        self.log.debug("评分内核命令：%s", kernel_cmd)
        await _launch_bounded(self, super()._async_launch_kernel, kernel_cmd, kw)


class SandboxedKernelManager(QuickWait, AsyncKernelManager):
    """在 bubblewrap 沙箱里启动内核。workdir 之外的课程文件一概看不到。"""

    client_class = DottedObjectName(_CLIENT)
    client_factory = Type(PromptKernelClient, klass=AsyncKernelClient)

    sandbox_config = Instance(sandbox.GradingSandbox, allow_none=True)
    status = Instance(sandbox.SandboxStatus, allow_none=True)
    workdir = Unicode("", help="唯一可写的目录（autograded/<学生>/<作业>）")
    hidden_paths = List(Unicode(), help="沙箱里必须看不到的路径")
    strict_paths = List(Unicode(), help="里面除工作目录外什么都不挂载的文件夹（source/、submitted/……）")
    package_private = List(Unicode(), default_value=list(sandbox.PACKAGE_PRIVATE),
                           help="课程包里盖住的答案部分（answers.py）")
    private_dir = Unicode("")

    def _prepare_private_dir(self):
        if self.private_dir:
            return
        # 名字里带创建它的进程号：那个进程被强行结束、来不及收拾时，sweep_private_dirs 认得出它
        self.private_dir = tempfile.mkdtemp(prefix="cgk-%d-" % os.getpid(), dir=private_base())
        for sub in ("conn", "ipc", "mpl"):
            os.mkdir(os.path.join(self.private_dir, sub), 0o700)
        self.transport = "ipc"
        self.ip = os.path.join(self.private_dir, "ipc", "k")
        self.connection_file = os.path.join(self.private_dir, "conn", "kernel.json")

    async def _async_pre_start_kernel(self, **kw):
        self._prepare_private_dir()
        return await super()._async_pre_start_kernel(**kw)

    def launch_spec(self, kernel_cmd, env):
        """启动这个内核要用到的一切，除了每个内核各不相同的路径（工作目录、私有文件夹、连接文件、看不到的路径）：
        内核命令、沙箱里的环境变量、资源上限、挂载的目录、盖住的课程模块……。_async_launch_kernel 照它拼 bwrap 命令；
        预先启动的内核（execute/standby.py）只在它和这份 notebook 的完全相同时才被接手。"""
        return self._launch_inputs(kernel_cmd, env)[3]

    def _launch_inputs(self, kernel_cmd, env):
        """(GradingSandbox 配置, 沙箱探测结果, 给 bwrap 的环境变量, launch_spec)。"""
        cfg = self.sandbox_config or sandbox.GradingSandbox(config=self.config)
        status = self.status or sandbox.probe(cfg.bwrap)
        env = dict(env)
        exe = kernel_cmd[0] if os.path.isabs(kernel_cmd[0]) else (shutil.which(kernel_cmd[0]) or kernel_cmd[0])
        python_dirs, course_dirs = sandbox.python_paths(exe, env.get("PYTHONPATH", ""))
        python_dirs = sandbox.unhidden(python_dirs, self.hidden_paths, self.strict_paths)
        extra = list(cfg.extra_ro_paths)
        mnist = env.get("COURSE_MNIST_DIR") or os.path.expanduser("~/.cache/course-mnist")
        if os.path.isdir(mnist):  # 本地的 MNIST 文件（course/data.py）只读给内核
            env["COURSE_MNIST_DIR"] = os.path.realpath(mnist)
            extra.append(env["COURSE_MNIST_DIR"])
        cmd = [exe] + [a.replace(self.connection_file, "{connection_file}") if self.connection_file else a
                       for a in kernel_cmd[1:]]
        spec = {"class": type(self).__name__, "cmd": cmd, "env": sandbox.sandbox_env(env, ""),
                "path": env.get("PATH", "/usr/bin:/bin"), "lang": env.get("LANG", "C.UTF-8"),
                "limits": {k: list(v) for k, v in cfg.limits(sandboxed=True).items()},
                "config": {name: getattr(cfg, name) for name in sorted(cfg.trait_names(config=True))},
                "status": [status.bwrap, status.version, list(status.flags), status.sized_tmpfs],
                "python_dirs": python_dirs, "course_dirs": course_dirs, "extra_ro": extra,
                "package_private": sorted(self.package_private)}
        return cfg, status, env, spec

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        cfg, status, env, spec = self._launch_inputs(kernel_cmd, kw.get("env") or os.environ)
        self.launched_spec = spec
        exe = spec["cmd"][0]
        _copy_font_cache(exe, os.path.join(self.private_dir, "mpl"))
        workdir = self.workdir or kw.get("cwd") or ""
        argv = sandbox.build_bwrap_argv(
            [exe] + list(kernel_cmd[1:]), env=env, workdir=os.path.abspath(workdir) if workdir else "",
            private_dir=self.private_dir, hidden=self.hidden_paths, status=status,
            limits=cfg.limits(sandboxed=True), python_dirs=spec["python_dirs"], course_dirs=spec["course_dirs"],
            extra_ro=spec["extra_ro"], tmpfs_mb=cfg.tmpfs_mb, strict=self.strict_paths,
            package_private=self.package_private,
        )
        kw["env"] = {"PATH": spec["path"], "LANG": spec["lang"]}
        argv = self._enter_cgroup(cfg, argv)
        self.log.debug("沙箱内核命令：%s", argv)
        await _launch_bounded(self, super()._async_launch_kernel, argv, kw)

    def _enter_cgroup(self, cfg, argv):
        """整个沙箱一个 cgroup（cgroup.py）：内存、进程数的上限管所有进程加起来。建不了时只有每个进程的 rlimit。"""
        self._drop_cgroup()
        support = cgroup.probe() if cfg.group_limits else cgroup.Support(None, {}, "已关闭")
        if not support.available:
            return argv
        try:
            self.cgroup = cgroup.SandboxCgroup.create(support, cfg.group_memory() * 2 ** 20, cfg.max_processes)
        except OSError as exc:
            self.log.warning("建不了评分内核的 cgroup（%s），只用每个进程的 rlimit", exc)
            return argv
        return self.cgroup.wrap(argv)

    def _drop_cgroup(self):
        group, self.cgroup = getattr(self, "cgroup", None), None
        if group is not None:
            group.remove()

    def death_cause(self):
        """内核刚刚死掉时调用：它是怎么死的（给评分事件用），不知道时是空字符串。"""
        group = getattr(self, "cgroup", None)
        if group is not None and group.oom_kills() > getattr(self, "_oom_seen", 0):
            self._oom_seen = group.oom_kills()
            return "整个沙箱的内存超过了上限 %d MiB，进程被 OOM killer 结束" % (
                (self.sandbox_config or sandbox.GradingSandbox(config=self.config)).group_memory())
        return exit_cause(self)

    async def _async_interrupt_kernel(self):
        # 发 SIGINT 给 bwrap 会结束整个沙箱；改由内核自己的控制线程给自己发 SIGINT
        if self.has_kernel:
            msg = self.session.msg("interrupt_request", content={})
            self._connect_control_socket()
            self.session.send(self._control_socket, msg)
        else:
            await super()._async_interrupt_kernel()

    interrupt_kernel = _async_interrupt_kernel

    async def _async_cleanup_resources(self, restart=False):
        await super()._async_cleanup_resources(restart=restart)
        self._drop_cgroup()
        if not restart and self.private_dir:
            shutil.rmtree(self.private_dir, ignore_errors=True)
            self.private_dir = ""

    cleanup_resources = _async_cleanup_resources


def sweep_private_dirs():
    """删掉创建它的进程已经不在了的内核私有文件夹（cgk-<进程号>-xxx：里面有连接文件）。返回删掉的个数。"""
    from ...tools.procs import orphans

    stale = orphans(private_base(), "cgk-")
    for _, path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return len(stale)


def private_base():
    """内核私有文件夹建在哪里：优先 /var/tmp（沙箱里的 /tmp 整个可写，放在它下面的 ipc/ 就没法用 Landlock 限定为
    只能建套接字，见 sandbox.py），用不了时退回临时文件夹。路径要短：Unix 套接字路径最长约 107 个字符。"""
    for base in ("/var/tmp", tempfile.gettempdir(), "/tmp"):
        if len(base) <= 40 and os.path.isdir(base) and os.access(base, os.W_OK | os.X_OK):
            return base
    return tempfile.gettempdir()


def exit_cause(km):
    """内核进程（沙箱里是 bwrap，它把子进程的结局原样带出来）的退出码 → 一句说明。"""
    process = getattr(getattr(km, "provisioner", None), "process", None)
    code = process.poll() if process is not None else None
    if code is None:
        return ""
    if code < 0 or code > 128:
        number = -code if code < 0 else code - 128
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "信号 %d" % number
        hints = {"SIGKILL": "（内存耗尽或被强行结束？）", "SIGXCPU": "（CPU 时间用完）", "SIGALRM": "（学生代码设的定时器？）",
                 "SIGSEGV": "（段错误）"}
        return "内核进程被 %s 结束%s" % (name, hints.get(name, ""))
    return "内核进程退出，退出码 %d" % code


def _font_caches():
    home = os.path.expanduser("~")
    candidates = [os.environ.get("MPLCONFIGDIR", ""),
                  os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.join(home, ".cache")), "matplotlib")]
    return [p for d in candidates if d for p in glob.glob(os.path.join(d, "fontlist-*.json"))]


@functools.lru_cache(maxsize=None)
def _ensure_font_cache(python):
    """还没有 matplotlib 字体缓存时，在沙箱外建一次（只做一次）。"""
    if not _font_caches():
        try:
            subprocess.run([python, "-c", "import matplotlib.font_manager"], capture_output=True, timeout=300)
        except (OSError, subprocess.SubprocessError):
            pass
    return tuple(_font_caches())


def _copy_font_cache(python, dest):
    """把教师的 matplotlib 字体缓存复制给沙箱：否则每个内核都要重建缓存，
    而重建时 matplotlib 往 stderr 写的提示会让正好在导入 pyplot 的测试单元得 0 分。"""
    for path in _ensure_font_cache(python):
        try:
            shutil.copy(path, dest)
        except OSError:
            pass
