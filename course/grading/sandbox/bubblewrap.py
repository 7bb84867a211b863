"""自动评分时学生代码的沙箱（Linux + bubblewrap）。

`nbgrader autograde` 以教师的身份运行学生的 notebook。这里把每个评分内核包进 bubblewrap：

- 没有网络（--unshare-net；内核与评分进程之间用 Unix 套接字通信，不经过网络）；
- 看不到课程文件夹：source/（答案）、release/、gradebook.db、其他学生的 submitted/ 和 autograded/
  一概不挂载；只有这份作业自己的 autograded/<学生>/<作业>/ 可写；
- Python 环境和 course 包只读可用，系统目录只读，/tmp 和 HOME 是每个内核私有的临时内存盘；
- 独立的 PID 命名空间（看不到、也杀不掉评分进程），去掉全部 capabilities，禁止再建用户命名空间；
- 资源上限（RLIMIT_AS 内存、RLIMIT_CPU、进程数、单个文件大小、不写 core）；
- 环境变量只保留白名单（教师的令牌、密码不会进入学生内核）；
- 沙箱外的磁盘上，学生代码只能往自己的 autograded/<学生>/<作业>/ 里写：内核私有文件夹里的 ipc/（评分进程和内核
  之间的 Unix 套接字）必须能从沙箱里建套接字，所以可写地挂载，但再用 Landlock（Linux 5.13 起，非特权进程可用）
  限定那里只能建、删套接字，不能写普通文件、建文件夹；matplotlib 的配置和缓存放在沙箱自己的、有大小上限的 /tmp 里，
  教师的字体缓存只读挂进去。内核私有文件夹优先建在 /var/tmp 下：沙箱里的 /tmp 整个可写，
  Landlock 的规则管到挂载点下面，放在 /tmp 下的 ipc/ 就限不住了。

沙箱只用于 autograde（见 course/grading/execute/robust.py），不影响 `nbgrader validate` 和 JupyterLab 的内核。
用不了沙箱时（不是 Linux、没装 bwrap、系统不许建用户命名空间）评分照常进行，但会大声警告一次；
资源上限在任何 POSIX 系统上仍然生效。

环境变量 COURSE_GRADING_SANDBOX：auto（默认，能用就用）、off（明确关闭）、required（用不了就报错）。
也可以在 nbgrader_config.py 里设 c.GradingSandbox.mode 和各项上限。

查看本机状态：python -m course sandbox-status
"""
import functools
import json
import os
import re
import shutil
import subprocess
import sys

from traitlets import Bool, Enum, Integer, List, Unicode
from traitlets.config import Configurable

from .landlock import LANDLOCK, landlock_abi, landlock_rules

__all__ = [
    "ENV_VAR", "GradingSandbox", "SandboxStatus", "probe", "effective_mode", "limiter_argv",
    "lean_kernel_cmd",
    "python_paths", "build_bwrap_argv", "sandbox_env", "landlock_abi", "MPL_DIR",
]

ENV_VAR = "COURSE_GRADING_SANDBOX"
_OFF = {"0", "off", "no", "false", "disable", "disabled"}
_REQUIRED = {"required", "require", "force"}
_AUTO = {"", "1", "on", "yes", "true", "auto"}

# 系统目录：真目录只读挂载，符号链接（merged /usr）照样建成符号链接
SYSTEM_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]
# /etc 只挂需要的几项：动态链接、用户名、时区、字体、MIME 类型、Jupyter/IPython 的系统配置
ETC_ENTRIES = [
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf", "localtime",
    "timezone", "fonts", "alternatives", "mime.types", "jupyter", "ipython", "os-release",
]
# 原样传给学生内核的环境变量（其余一律丢掉）
ENV_ALLOW = [
    "PATH", "LANG", "LANGUAGE", "TZ", "PYTHONPATH", "PYTHONHASHSEED", "PYTHONIOENCODING", "PYTHONUTF8",
    "MPLBACKEND", "NBGRADER_EXECUTION", "VIRTUAL_ENV", "CONDA_PREFIX", "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
    "JPY_SESSION_NAME", "COURSE_MNIST_DIR",
]
ENV_ALLOW_PREFIXES = ["LC_", "PYDEVD_"]
THREAD_VARS = ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"]


class GradingSandbox(Configurable):
    """评分内核的沙箱和资源上限（在 nbgrader_config.py 里用 c.GradingSandbox.xxx 配置）。"""

    mode = Enum(["auto", "off", "required"], default_value="auto",
                help="auto：能用就用；off：不用；required：用不了就让评分失败。环境变量 "
                     + ENV_VAR + " 优先。").tag(config=True)
    memory_mb = Integer(4096, help="每个内核的地址空间上限 RLIMIT_AS（MiB），0 表示不限").tag(config=True)
    cpu_seconds = Integer(900, help="每个内核累计 CPU 时间上限 RLIMIT_CPU（秒），0 表示不限").tag(config=True)
    max_processes = Integer(256, help="沙箱里的进程/线程数上限 RLIMIT_NPROC，0 表示不限").tag(config=True)
    max_file_mb = Integer(256, help="内核能写的单个文件大小上限 RLIMIT_FSIZE（MiB），0 表示不限").tag(config=True)
    tmpfs_mb = Integer(256, help="沙箱里 /tmp 和 /dev/shm（内存盘）各自的大小上限（MiB）").tag(config=True)
    group_limits = Bool(True, help="能建 cgroup 时，整个沙箱（所有进程加起来）也有内存和进程数上限"
                                   "（course/grading/sandbox/cgroup.py）").tag(config=True)
    group_memory_mb = Integer(0, help="整个沙箱的内存上限（MiB，含 /tmp 里的文件）；0 表示与 memory_mb 相同"
                              ).tag(config=True)

    def group_memory(self):
        """整个沙箱的内存上限（MiB）。"""
        return self.group_memory_mb or self.memory_mb
    bwrap = Unicode("", help="bwrap 可执行文件；空表示在 PATH 里找").tag(config=True)
    extra_ro_paths = List(Unicode(), help="额外只读挂载进沙箱的路径（例如课程数据所在的目录）").tag(config=True)

    def limits(self, sandboxed=True):
        """{RLIMIT 名: (soft, hard)}；不在沙箱里时不限进程数（那会把教师自己的进程也算进去）。"""
        mib = 1024 * 1024
        out = {"RLIMIT_CORE": (0, 0)}
        if self.memory_mb > 0:
            out["RLIMIT_AS"] = (self.memory_mb * mib, self.memory_mb * mib)
        if self.cpu_seconds > 0:
            out["RLIMIT_CPU"] = (self.cpu_seconds, self.cpu_seconds + 5)
        if self.max_file_mb > 0:
            out["RLIMIT_FSIZE"] = (self.max_file_mb * mib, self.max_file_mb * mib)
        if sandboxed and self.max_processes > 0 and _nproc_counts_per_namespace():
            out["RLIMIT_NPROC"] = (self.max_processes, self.max_processes)
        return out


def _nproc_counts_per_namespace():
    """Linux 5.14 起 RLIMIT_NPROC 按用户命名空间分别计数，只数沙箱里的进程；更早的内核会把
    教师自己的全部进程也算进去（桌面上很容易超过上限），这时不设这一项。"""
    import platform

    try:
        major, minor = (int(x) for x in re.match(r"(\d+)\.(\d+)", platform.release()).groups())
    except (AttributeError, ValueError):
        return False
    return (major, minor) >= (5, 14)


class SandboxStatus:
    """probe() 的结果：available 为真时 argv_flags 是可用的 bwrap 隔离参数。"""

    def __init__(self, available, reason, bwrap=None, version=None, flags=(), sized_tmpfs=False):
        self.available = available
        self.sized_tmpfs = sized_tmpfs  # bwrap 支持 --size（0.8 起）
        self.reason = reason
        self.bwrap = bwrap
        self.version = version
        self.flags = list(flags)

    def __repr__(self):
        return "SandboxStatus(available=%r, reason=%r)" % (self.available, self.reason)


def effective_mode(configured="auto"):
    """环境变量优先于配置。返回 'auto'、'off' 或 'required'。"""
    raw = os.environ.get(ENV_VAR)
    if raw is None:
        return configured
    value = raw.strip().lower()
    if value in _OFF:
        return "off"
    if value in _REQUIRED:
        return "required"
    if value in _AUTO:
        return "auto"
    raise ValueError("环境变量 %s=%r 无法识别：可用的值是 auto、off、required" % (ENV_VAR, raw))


BASE_FLAGS = ["--die-with-parent", "--new-session", "--unshare-all", "--unshare-user", "--cap-drop", "ALL"]


@functools.lru_cache(maxsize=None)
def probe(bwrap=""):
    """真正启动一次最小的沙箱，看本机能不能用。结果在进程内缓存。"""
    if not sys.platform.startswith("linux"):
        return SandboxStatus(False, "不是 Linux（%s），bubblewrap 只在 Linux 上可用" % sys.platform)
    exe = shutil.which(bwrap or "bwrap")
    if not exe:
        return SandboxStatus(False, "没有找到 bwrap（Debian/Ubuntu：sudo apt-get install bubblewrap）")
    try:
        version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return SandboxStatus(False, "无法运行 %s：%s" % (exe, exc), exe)
    true = shutil.which("true") or "/bin/true"
    last = ""
    # 依次试：禁止嵌套用户命名空间（bubblewrap >= 0.8）、不禁止、setuid 安装的老 bwrap（不建用户命名空间）
    variants = [BASE_FLAGS + ["--disable-userns"], BASE_FLAGS, [f for f in BASE_FLAGS if f != "--unshare-user"]]
    for flags in variants:
        mounts = [arg for _, args in _system_mounts() for arg in args]
        argv = [exe] + flags + mounts + ["--proc", "/proc", "--dev", "/dev", "--", true]
        try:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError) as exc:
            return SandboxStatus(False, "无法运行 %s：%s" % (exe, exc), exe, version)
        if res.returncode == 0:
            sized = argv[:-2] + ["--size", "1048576", "--tmpfs", "/tmp", "--", true]
            try:
                sized_ok = subprocess.run(sized, capture_output=True, timeout=20).returncode == 0
            except (OSError, subprocess.SubprocessError):
                sized_ok = False
            return SandboxStatus(True, "可用（%s）" % version, exe, version, flags, sized_ok)
        last = (res.stderr or res.stdout).strip() or "退出码 %d" % res.returncode
    return SandboxStatus(False, "bwrap 无法建立沙箱（系统可能禁止了非特权用户命名空间）：%s" % last, exe, version)


def _system_mounts():
    """系统目录的挂载：[(目标路径, bwrap 参数)]。/bin 这类符号链接照样建成符号链接，其余只读挂载。"""
    out = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            out.append((path, ["--symlink", os.readlink(path), path]))
        elif os.path.isdir(path):
            out.append((path, ["--ro-bind", path, path]))
    return out


LIMITER = (
    "import os,sys,resource as r\n"
    "for n,(s,h) in %r.items():\n"
    " k=getattr(r,n,None)\n"
    " if k is None: continue\n"
    " cs,ch=r.getrlimit(k)\n"
    " if ch!=r.RLIM_INFINITY: s,h=min(s,ch),min(h,ch)\n"
    " try: r.setrlimit(k,(s,h))\n"
    " except (ValueError,OSError) as e: print('course.grading.sandbox.bubblewrap: %%s: %%s'%%(n,e),file=sys.stderr)\n"
    "os.execv(sys.argv[1],sys.argv[1:])\n"
)


# 评分内核不用调试器：ipykernel 启动时会导入 debugpy，评分时用不着（空闲的 2 核机器上内核启动到能执行
# `import numpy` 的中位数从 0.52 秒降到 0.48 秒，每份 notebook 一次）
LEAN_KERNEL = ("import sys\n"
               "sys.modules['debugpy'] = None\n"
               "from ipykernel import kernelapp\n"
               "kernelapp.launch_new_instance()\n")


def lean_kernel_cmd(kernel_cmd):
    """`python -m ipykernel_launcher ...` 换成同样的内核、只是不导入 debugpy；别的内核命令原样返回。"""
    cmd = list(kernel_cmd)
    if len(cmd) >= 3 and cmd[1] == "-m" and cmd[2] in ("ipykernel_launcher", "ipykernel"):
        return [cmd[0], "-c", LEAN_KERNEL] + cmd[3:]
    return cmd


def limiter_argv(kernel_cmd, limits, python=None, landlock=None):
    """在 kernel_cmd 前面加一个极小的 Python 启动器：设好 rlimit（和 Landlock 规则）后 exec 成真正的内核（同一个进程）。

    landlock：[(文件夹, 允许的写权限)]，权限是 LL_* 的组合，LL_ALL 表示全部；None 表示不设 Landlock。"""
    kernel_cmd = lean_kernel_cmd(kernel_cmd)
    exe = kernel_cmd[0]
    if not os.path.isabs(exe):
        exe = shutil.which(exe) or exe
    if python is None:
        python = exe if os.path.basename(exe).startswith("python") else sys.executable
    code = LIMITER % (dict(limits),)
    if landlock is not None:
        head, tail = code.rsplit("os.execv", 1)
        code = head + LANDLOCK % (list(landlock),) + "os.execv" + tail
    return [python, "-I", "-S", "-c", code, exe] + list(kernel_cmd[1:])


_QUERY = (
    "import sys,json,importlib.util as u\n"
    "s=u.find_spec('course')\n"
    "print(json.dumps({'prefixes':[sys.prefix,sys.base_prefix,sys.exec_prefix,sys.base_exec_prefix],"
    "'path':[p for p in sys.path if p],"
    "'course':list(s.submodule_search_locations or []) if s else []}))\n"
)


@functools.lru_cache(maxsize=None)
def _query_python(python, pythonpath):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    try:
        res = subprocess.run([python, "-c", _QUERY], capture_output=True, text=True, timeout=60, cwd="/", env=env)
        return json.loads(res.stdout)
    except (OSError, ValueError, subprocess.SubprocessError):
        return {"prefixes": [], "path": [], "course": []}


def python_paths(python, pythonpath=""):
    """内核的 Python 需要只读看到的目录：各个 prefix、sys.path 上的目录、course 包所在目录。"""
    info = _query_python(python, pythonpath or "")
    dirs = [os.path.dirname(python)] + info["prefixes"] + info["path"]
    if python == sys.executable or os.path.realpath(python) == os.path.realpath(sys.executable):
        dirs += [sys.prefix, sys.base_prefix] + [p for p in sys.path if p]
    out = []
    for d in dirs:
        if not d or not os.path.isabs(d) or not os.path.exists(d):
            continue
        for p in (os.path.normpath(d), os.path.realpath(d)):
            if os.path.isdir(p) and p not in out and p != "/":
                out.append(p)
    return out, [os.path.realpath(p) for p in info["course"] if os.path.isdir(p)]


MPL_DIR = "/tmp/home/.config/matplotlib"  # 沙箱里 matplotlib 的配置和缓存（在有大小上限的 /tmp 里）


def sandbox_env(env, private_dir):
    """学生内核看到的环境变量：白名单 + 沙箱自己的 HOME/TMPDIR 等。"""
    out = {}
    for key, value in env.items():
        if key in ENV_ALLOW or any(key.startswith(p) for p in ENV_ALLOW_PREFIXES):
            out[key] = value
    # 评分内核只算很小的矩阵：一个线程就够了。线程数不限时，多核服务器上的 OpenBLAS 会吃掉大量地址空间，
    # 并行评分时多出来的线程还会和别的评分进程抢 CPU
    for key in THREAD_VARS:
        out.setdefault(key, "1")
    out.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    out.update({
        "HOME": "/tmp/home", "TMPDIR": "/tmp", "IPYTHONDIR": "/tmp/home/.ipython",
        "XDG_CACHE_HOME": "/tmp/home/.cache", "XDG_CONFIG_HOME": "/tmp/home/.config",
        "JUPYTER_RUNTIME_DIR": "/tmp/home/.jupyter-runtime", "MPLCONFIGDIR": MPL_DIR,
        "PYTHONDONTWRITEBYTECODE": "1", "COURSE_GRADING_SANDBOXED": "1",
        # ipykernel 见到父进程号 1 时既不打印“Ctrl-C will not work”提示，也不启动父进程监视线程
        # （沙箱里的父进程就是 1 号进程，监视线程会以为父进程已死而退出）
        "JPY_PARENT_PID": "1",
    })
    return out


# 一个课程文件夹里学生不该看到的东西（nbgrader 的默认布局）
COURSE_PRIVATE = ("source", "submitted", "autograded", "feedback", "gradebook.db", "nbgrader_config.py")
# 课程包里学生不该看到的部分的默认值：演示班级的答案写法（course/demo/styles.py 里有每道练习的正确答案）。
# 评分时按作业算出（answers.hidden_parts）：参考实现和检查函数也盖住
PACKAGE_PRIVATE = ("demo",)


def _inside(path, parent):
    """path 等于 parent 或在 parent 里面。"""
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _both(paths):
    return sorted({f(p) for p in paths if p for f in (os.path.normpath, os.path.realpath)})


def unhidden(dirs, hidden, strict):
    """dirs 里 build_bwrap_argv 会只读挂载的那些：不是隐藏路径本身，也不在 strict 的文件夹里面。"""
    hidden, strict = _both(hidden), _both(strict)
    return [d for d in dirs if os.path.normpath(d) not in hidden
            and not any(_inside(os.path.normpath(d), x) for x in strict)]


def build_bwrap_argv(kernel_cmd, *, env, workdir, private_dir, hidden, status, limits,
                     python_dirs=(), course_dirs=(), extra_ro=(), tmpfs_mb=256, strict=(), package_private=None):
    """拼出 bwrap 命令（只查看路径是否存在，不创建、不改动任何东西，方便测试）。

    hidden：沙箱里必须看不到的路径（课程根目录、成绩库、交换目录……）。它们从不整体挂载，
    文件夹上盖一层最后设为只读的空 tmpfs，落在只读挂载目录里的文件盖上 /dev/null。
    strict：里面除工作目录外什么都不许挂载的文件夹（source/、submitted/、autograded/……）；
    即使 sys.path 上有它们里面的目录，也不挂。课程根目录不在此列：课程里的 .venv 要能用。
    """
    hidden, strict = _both(hidden), _both(strict)
    ops = []  # (目标路径, 参数列表)；按路径深度排序，父目录先挂，子目录后挂

    def add(dest, *args):
        ops.append((os.path.normpath(dest), list(args)))

    for path, args in _system_mounts():
        add(path, *args)
    for name in ETC_ENTRIES:
        src = os.path.join("/etc", name)
        add(src, "--ro-bind-try", src, src)
    add("/proc", "--proc", "/proc")
    add("/dev", "--dev", "/dev")
    # 内存盘限定大小（tmpfs 占用的内存不受 RLIMIT_AS 约束）；/dev 本身最后设为只读
    size = ["--size", str(tmpfs_mb * 1024 * 1024)] if status.sized_tmpfs and tmpfs_mb > 0 else []
    add("/tmp", *(size + ["--tmpfs", "/tmp"]))
    add("/dev/shm", *(size + ["--tmpfs", "/dev/shm"]))
    add("/tmp/home", "--dir", "/tmp/home")
    ro = []
    readonly = ["/", "/dev"]  # 所有挂载点都建好以后再设为只读的：根目录、/dev 和盖上去的 tmpfs
    # 隐藏路径本身（例如 sys.path 上的课程根目录）从不挂载；课程包另行挂载。
    # 含有隐藏路径的目录（例如 /work）照挂，下面再把里面的隐藏路径盖住
    for d in unhidden(list(python_dirs) + list(course_dirs) + list(extra_ro), hidden, strict):
        d = os.path.normpath(d)
        if d not in ro:
            ro.append(d)
    for d in ro:
        add(d, "--ro-bind", d, d)
        # 只读挂进来的目录本身若是一个课程文件夹（例如仓库根目录在 PYTHONPATH 上，而课程工作副本
        # 放在仓库里面），它的答案、成绩库和学生作业同样盖住
        if os.path.isfile(os.path.join(d, "nbgrader_config.py")):
            hidden += [p for p in (os.path.join(d, n) for n in COURSE_PRIVATE)
                       if os.path.lexists(p) and p not in hidden]
    from .answers import allow_lists, part_paths

    parts = PACKAGE_PRIVATE if package_private is None else package_private
    for d in course_dirs:  # 课程包照常只读挂载，但答案部分盖住（见下），学生代码 import 不到
        paths = part_paths(os.path.normpath(d), parts)
        # 直接含有要盖住的模块的文件夹（和它的 __pycache__）：空的只读 tmpfs 上只挂回当时就有、不用盖住的东西
        covered = allow_lists(paths)
        for folder, keep in covered:
            add(folder, "--tmpfs", folder)
            readonly.append(folder)
            for p in keep:
                if os.path.islink(p):
                    add(p, "--symlink", os.readlink(p), p)
                else:
                    add(p, "--ro-bind", p, p)
        # 那些文件夹里要盖住的模块和字节码根本不挂回去（tmpfs 带 nodev，盖上 /dev/null 反倒打不开）：导入时就是
        # ModuleNotFoundError，与整个文件夹盖住时一样
        folders = {f for f, _ in covered}
        hidden += [p for p in paths if p not in hidden and (os.path.isdir(p) or os.path.dirname(p) not in folders)]
    bound = [d for d, _ in ops if d not in ("/proc", "/dev", "/dev/shm", "/tmp", "/tmp/home")]
    for h in hidden:
        if os.path.isdir(h):
            # 隐藏的文件夹一律盖上一层空的、最后设为只读的 tmpfs：里面只会出现下面再挂进来的
            # 工作目录等挂载点，学生代码在这里既看不到原有文件，也写不进东西
            add(h, "--tmpfs", h)
            readonly.append(h)
        elif any(_inside(h, b) for b in bound) and os.path.lexists(h):
            add(h, "--ro-bind", "/dev/null", h)
    add(os.path.join(private_dir, "conn"), "--ro-bind", os.path.join(private_dir, "conn"),
        os.path.join(private_dir, "conn"))
    ipc = os.path.join(private_dir, "ipc")
    add(ipc, "--bind", ipc, ipc)  # 套接字要建在这里；能写的只有套接字（见下面的 Landlock 规则）
    mpl = os.path.join(private_dir, "mpl")
    add(MPL_DIR, "--dir", MPL_DIR)
    for name in sorted(os.listdir(mpl)) if os.path.isdir(mpl) else []:  # 教师的字体缓存：只读
        if name.startswith("fontlist-") and name.endswith(".json"):
            add(os.path.join(MPL_DIR, name), "--ro-bind", os.path.join(mpl, name), os.path.join(MPL_DIR, name))
    if workdir:
        add(workdir, "--bind", workdir, workdir)
        # 同一份作业里先评完的 notebook（含隐藏测试）也在这个文件夹里：盖上 /dev/null，内核读不到
        for name in sorted(os.listdir(workdir)) if os.path.isdir(workdir) else []:
            path = os.path.join(workdir, name)
            if name.endswith(".ipynb") and os.path.isfile(path) and not os.path.islink(path):
                add(path, "--ro-bind", "/dev/null", path)

    def depth(item):
        return item[0].rstrip("/").count("/")

    argv = [status.bwrap] + status.flags + ["--clearenv"]
    for key, value in sorted(sandbox_env(env, private_dir).items()):
        argv += ["--setenv", key, value]
    for _, args in sorted(ops, key=depth):  # sorted 是稳定的：同一深度时先挂载、后遮盖
        argv += args
    for path in readonly:  # 所有挂载点都建好以后，再把根目录和隐藏文件夹的 tmpfs 设为只读
        argv += ["--remount-ro", path]
    argv += ["--chdir", workdir or "/tmp", "--"]
    return argv + limiter_argv(kernel_cmd, limits, landlock=landlock_rules(ops, ipc))


def describe(config=None):
    """给人看的状态说明（python -m course sandbox-status 用）。返回 (是否启用沙箱, 多行文字)。"""
    from . import answers

    cfg = GradingSandbox(config=config) if config is not None else GradingSandbox()
    lines = []
    try:
        mode = effective_mode(cfg.mode)
    except ValueError as exc:
        return False, str(exc)
    st = probe(cfg.bwrap)
    lines.append("模式：%s（%s=%s）" % (mode, ENV_VAR, os.environ.get(ENV_VAR, "未设置")))
    lines.append("bubblewrap：%s" % st.reason)
    active = mode != "off" and st.available
    if mode == "off":
        lines.append("评分内核不进沙箱（已明确关闭）：学生代码能读写教师能读写的一切文件。")
    elif not st.available:
        lines.append("评分内核不进沙箱：学生代码能读写教师能读写的一切文件。")
        if mode == "required":
            lines.append("模式是 required：这样评分会失败。")
    else:
        lines.append("评分内核在沙箱中运行：无网络、只有本作业的 autograded 文件夹可写、看不到 source/ 和成绩库；"
                     "课程包里的答案部分（%s）除非这一课给出的代码要用，否则导入不了。"
                     % "、".join(answers.all_hidden()))
    if active:
        lines.append("沙箱外能写的只有本作业的文件夹和内核私有的套接字文件夹；%s" % (
            "套接字文件夹里只能建套接字（Landlock 第 %d 版）。" % landlock_abi() if landlock_abi() else
            "本机内核不支持 Landlock：套接字文件夹里学生代码也能写普通文件（每个至多 max_file_mb）。"))
    lim = cfg.limits(sandboxed=active)
    lines.append("每个进程的资源上限：" + "，".join("%s=%s" % (k[7:], v[0]) for k, v in sorted(lim.items())))
    from . import cgroup

    trusted = (config or {}).get("RobustExecute", {}).get("trusted_tests", True) is not False
    lines.append("测试单元：在评分进程里运行，学生的对象只经纯数据的消息调用（与沙箱无关，没有沙箱时也这样评分）。"
                 if trusted else "测试单元：在学生的内核里运行（c.RobustExecute.trusted_tests = False），"
                                 "之前用 course.checks.guard 复原被篡改的对象。")
    group = cgroup.probe()
    if active and group.available and cfg.group_limits:
        lines.append("整个沙箱的上限（所有进程加起来，含 /tmp 里的文件）：内存 %d MiB、进程数 %d；%s"
                     % (cfg.group_memory(), cfg.max_processes, group.reason))
    elif active:
        lines.append("整个沙箱没有总的内存上限：%s。学生代码开多个子进程时，每个进程各有上面的上限。"
                     % (group.reason if cfg.group_limits else "已关闭（c.GradingSandbox.group_limits = False）"))
    return active, "\n".join(lines)
