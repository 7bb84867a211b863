"""整个沙箱的内存和进程数上限：每个评分内核一个 cgroup，内核和它的所有子进程都在里面。

rlimit 只管一个进程：RLIMIT_AS 是每个进程自己的地址空间，学生代码开几个子进程（os.fork、multiprocessing），
每个都能用到上限，加起来远超；/tmp、/dev/shm（tmpfs）里的文件占的内存也不算在任何进程头上。cgroup 的
内存上限管整个组（包括 tmpfs 的页），超过时 Linux 的 OOM killer 结束组里的进程；RobustExecute 把它当作
内核退出处理（记事件、重启、重放），事件里写明是撞上了整个沙箱的内存上限。

按顺序试（probe()，结果缓存）：
- cgroup v2：本进程所在的组下面能建子组，并且 memory 控制器对子组开放：memory.max、pids.max；
- cgroup v1：memory 层级里本进程所在的组可写：memory.limit_in_bytes；pids 层级可写时再加 pids.max；
- 都不行（普通用户、没有委派 cgroup 的 systemd 服务等）：只有每个进程的 rlimit，sandbox-status 写明。
  systemd-run --scope 需要一个 systemd 实例（评分服务器上的 nbgrader 常常没有），所以不依赖它；
  有 systemd 的机器可以给 nbgrader 的服务单元设 Delegate=yes，这里就能用 v2。

进程怎样进组：内核命令前面加一个 /bin/sh，它先把自己的 PID 写进组的 cgroup.procs，再 exec 成 bwrap，
所以沙箱里的每个进程从一开始就在组里，没有“先启动、后移入”的空档。
"""
import functools
import itertools
import os
import signal
import time

__all__ = ["probe", "Support", "SandboxCgroup", "sweep_stale"]

ROOT = "/sys/fs/cgroup"
_COUNTER = itertools.count()
_ENTER = 'n=$1; shift; i=0; while [ "$i" -lt "$n" ]; do echo $$ > "$1" || exit 111; shift; i=$((i+1)); done; exec "$@"'


class Support:
    """probe() 的结果。kind：'v2'、'v1' 或 None；bases：{控制器: 本进程所在组的目录}。"""

    def __init__(self, kind, bases, reason):
        self.kind, self.bases, self.reason = kind, dict(bases), reason

    @property
    def available(self):
        return self.kind is not None


def _own_groups(text):
    """解析 /proc/self/cgroup：返回 (v2 的路径或 None, {v1 控制器: 路径})。"""
    v2, v1 = None, {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hid, controllers, path = parts
        if hid == "0" and controllers == "":
            v2 = path
        for c in controllers.split(","):
            if c:
                v1[c] = path
    return v2, v1


def _can_make_child(base):
    test = os.path.join(base, "course-probe-%d" % os.getpid())
    try:
        os.mkdir(test)
    except OSError:
        return False
    try:
        os.rmdir(test)
    except OSError:
        pass
    return True


def _probe(root, self_cgroup):
    try:
        with open(self_cgroup, encoding="utf-8") as f:
            v2_path, v1_paths = _own_groups(f.read())
    except OSError as exc:
        return Support(None, {}, "读不了 %s（%s）" % (self_cgroup, exc))
    unified = os.path.join(root, "unified") if os.path.isdir(os.path.join(root, "unified")) else root
    if v2_path is not None:
        base = os.path.normpath(os.path.join(unified, v2_path.lstrip("/")))
        try:
            with open(os.path.join(base, "cgroup.subtree_control"), encoding="utf-8") as f:
                enabled = f.read().split()
        except OSError:
            enabled = []
        if "memory" in enabled and _can_make_child(base):
            return Support("v2", {"unified": base}, "cgroup v2（%s）：memory.max%s" % (
                base, "、pids.max" if "pids" in enabled else ""))
    bases = {}
    for controller in ("memory", "pids"):
        if controller in v1_paths:
            base = os.path.normpath(os.path.join(root, controller, v1_paths[controller].lstrip("/")))
            if os.path.isfile(os.path.join(base, "cgroup.procs")) and _can_make_child(base):
                bases[controller] = base
    if "memory" in bases:
        return Support("v1", bases, "cgroup v1（%s）：memory.limit_in_bytes%s" % (
            bases["memory"], "、pids.max" if "pids" in bases else ""))
    return Support(None, {}, "没有可写的 cgroup（需要 root，或由 systemd 委派：服务单元里设 Delegate=yes）")


@functools.lru_cache(maxsize=None)
def probe(root=ROOT, self_cgroup="/proc/self/cgroup"):
    """这台机器上能不能给每个评分内核建一个有内存上限的 cgroup。"""
    return _probe(root, self_cgroup)


def _write(path, value):
    with open(path, "w", encoding="ascii") as f:
        f.write(str(value))


def sweep_stale(support):
    """删掉建组的进程已经不在了的 course-grading-<pid>-<n> 组（先结束组里剩下的进程）。

    评分进程被 kill -9（交上来就评分的工人死在半路）时来不及 remove()：组和组里学生代码留下的进程都还在。
    下一次建组时顺手清掉，评分的机器上不会越积越多。建组的进程还活着的组一概不碰。返回删掉的组数。"""
    from ...tools.procs import orphans

    stale = {}
    for controller, base in support.bases.items():
        for name, path in orphans(base, "course-grading-"):
            stale.setdefault(name, {})[controller] = path
    for dirs in stale.values():
        SandboxCgroup(support, dirs).remove()
    return len(stale)


class SandboxCgroup:
    """一个评分内核的 cgroup：create() 建组并写上限，wrap() 让内核命令先进组，remove() 结束组里的进程并删组。"""

    def __init__(self, support, dirs):
        self.support, self.dirs = support, dict(dirs)  # {控制器: 组目录}

    @classmethod
    def create(cls, support, memory_bytes, max_pids=0):
        if not support.available:
            return None
        sweep_stale(support)
        name = "course-grading-%d-%d" % (os.getpid(), next(_COUNTER))
        dirs = {}
        try:
            for controller, base in support.bases.items():
                path = os.path.join(base, name)
                os.mkdir(path)
                dirs[controller] = path
            group = cls(support, dirs)
            group._limit(memory_bytes, max_pids)
            return group
        except OSError:
            cls(support, dirs).remove()
            raise

    def _limit(self, memory_bytes, max_pids):
        if self.support.kind == "v2":
            d = self.dirs["unified"]
            if memory_bytes:
                _write(os.path.join(d, "memory.max"), memory_bytes)
                if os.path.exists(os.path.join(d, "memory.swap.max")):
                    _write(os.path.join(d, "memory.swap.max"), 0)
            if max_pids and os.path.exists(os.path.join(d, "pids.max")):
                _write(os.path.join(d, "pids.max"), max_pids)
            return
        if memory_bytes:
            d = self.dirs["memory"]
            _write(os.path.join(d, "memory.limit_in_bytes"), memory_bytes)
            memsw = os.path.join(d, "memory.memsw.limit_in_bytes")
            if os.path.exists(memsw):  # 不许用交换区绕过上限
                try:
                    _write(memsw, memory_bytes)
                except OSError:
                    pass
        if max_pids and "pids" in self.dirs:
            _write(os.path.join(self.dirs["pids"], "pids.max"), max_pids)

    def procs_files(self):
        return [os.path.join(d, "cgroup.procs") for d in self.dirs.values()]

    def wrap(self, argv):
        """先把自己写进组、再 exec 成 argv 的命令。"""
        files = self.procs_files()
        return ["/bin/sh", "-c", _ENTER, "course-cgroup", str(len(files))] + files + list(argv)

    def oom_kills(self):
        """组里被 OOM killer 结束的进程数（读不到时是 0）。"""
        if self.support.kind == "v2":
            path, key = os.path.join(self.dirs["unified"], "memory.events"), "oom_kill"
        else:
            path, key = os.path.join(self.dirs.get("memory", ""), "memory.oom_control"), "oom_kill"
        try:
            with open(path, encoding="ascii") as f:
                for line in f:
                    k, _, v = line.partition(" ")
                    if k == key:
                        return int(v)
        except (OSError, ValueError):
            pass
        return 0

    def pids(self):
        out = set()
        for path in self.procs_files():
            try:
                with open(path, encoding="ascii") as f:
                    out.update(int(x) for x in f.read().split())
            except (OSError, ValueError):
                pass
        return out

    def remove(self):
        """结束组里剩下的进程（例如学生代码留下的后台进程），删掉组。最多等约 1 秒；被 SIGKILL 的进程通常几毫秒
        就消失，所以从 1 毫秒开始看，间隔每次加倍，最长 20 毫秒（每份 notebook 结束内核时都在评分的路上等这一下）。"""
        delay, deadline = 0.001, time.monotonic() + 1.0
        while time.monotonic() < deadline:
            left = self.pids()
            if not left:
                break
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(delay)
            delay = min(delay * 2, 0.02)
        for path in self.dirs.values():
            try:
                os.rmdir(path)
            except OSError:
                pass
