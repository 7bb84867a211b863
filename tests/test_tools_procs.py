"""course.tools.procs：stop_group 先发信号，等不到就 SIGKILL 整组（连同组里的孙进程）；orphans 认出创建者已经不在的文件夹。"""
import os
import signal
import subprocess
import sys
import time

from course.tools.procs import stop_group

STUBBORN = ("import signal, subprocess, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n")


def _group_alive(pgid):
    import os
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_group_that_ignores_sigterm_is_killed_after_the_grace_period():
    proc = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout.readline().strip() == "ready"
    start = time.monotonic()
    assert stop_group(proc, grace=0.5) == -signal.SIGKILL  # 不理 SIGTERM：过了宽限期被杀
    assert time.monotonic() - start < 10
    for _ in range(50):  # 孙进程也在组里，一起结束（由 init 收尸）
        if not _group_alive(proc.pid):
            break
        time.sleep(0.1)
    assert not _group_alive(proc.pid)


def test_a_polite_process_ends_on_the_first_signal_and_a_finished_one_is_left_alone():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    assert stop_group(proc, signal.SIGINT, grace=10) != -signal.SIGKILL
    assert stop_group(proc) == proc.returncode  # 已经结束：什么也不做


def test_orphans_are_the_entries_whose_creating_process_is_gone(tmp_path):
    from course.tools.procs import orphans, pid_alive

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert not pid_alive(gone.pid) and pid_alive(os.getpid()) and pid_alive(1)  # 1 号进程不归我们管，也算在
    for name in ("cgk-%d-abc" % gone.pid, "cgk-%d-def" % os.getpid(), "cgk-x-1", "cgk-%d" % gone.pid,
                 "other-%d-abc" % gone.pid):
        (tmp_path / name).mkdir()
    assert orphans(str(tmp_path), "cgk-") == [("cgk-%d-abc" % gone.pid, str(tmp_path / ("cgk-%d-abc" % gone.pid)))]
    assert orphans(str(tmp_path / "missing"), "cgk-") == []
