"""进程的收尾。

stop_group：结束自己启动的一组进程，先礼后兵。基准测试和测试里起的服务、工人、JupyterLab 都用它收尾。
die_with_parent：父进程一死（哪怕是被 kill -9），自己也马上收到 SIGKILL。
orphans：名字里带着创建者进程号的文件夹（内核的私有文件夹、待命内核的工作文件夹、cgroup），创建者被强行结束、
来不及收拾时由后来的进程认出来清掉。"""
import contextlib
import os
import signal
import subprocess

__all__ = ["stop_group", "pid_alive", "die_with_parent", "orphans"]


def stop_group(proc, first=signal.SIGTERM, grace=30):
    """proc 是用 start_new_session=True（或 setsid）启动的 Popen：给它的整个进程组发 first，
    等 grace 秒；还没结束就 SIGKILL 整组，再收尸。已经结束的什么也不做。"""
    if proc.poll() is not None:
        return proc.returncode
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, first)
    try:
        return proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()


def pid_alive(pid):
    """进程 pid 还在吗（在、只是不归我们管也算在）。"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def die_with_parent(parent):
    """父进程（进程号 parent）结束时，内核给这个进程发 SIGKILL（Linux 的 PR_SET_PDEATHSIG；别的系统上什么也不设）。
    注意它跟的是创建这个进程的那个线程：线程结束也算。返回父进程此刻是否还在（设好以前就死了的话，调用者自己退出）。"""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass
    return os.getppid() == parent


def orphans(folder, prefix):
    """folder 里名字是 <prefix><进程号>-… 的条目中，那个进程已经不在了的：[(名字, 完整路径)]。folder 不在时是 []。"""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    out = []
    for name in names:
        pid = name[len(prefix):].split("-", 1)[0] if name.startswith(prefix) else ""
        if pid.isdigit() and "-" in name[len(prefix):] and not pid_alive(int(pid)):
            out.append((name, os.path.join(folder, name)))
    return out
