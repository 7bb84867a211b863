"""结束自己启动的一组进程：先礼后兵。基准测试和测试里起的服务、工人、JupyterLab 都用它收尾。"""
import contextlib
import os
import signal
import subprocess

__all__ = ["stop_group"]


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
