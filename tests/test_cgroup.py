"""整个沙箱的上限（course/grading/sandbox/cgroup.py）和内核死因的记录（kernels.exit_cause、RobustExecute）。

单元测试用假的 cgroup 文件夹；真正的 autograde 测试要求这台机器能建 cgroup、能运行 bubblewrap，否则跳过。
对照组：同样的提交在只有每个进程 rlimit 的设置下（group_limits = False）三个子进程都拿到了内存，
证明是整个沙箱的上限挡住了它们。
"""
import copy
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from course.grading.sandbox import cgroup, kernels, bubblewrap as sandbox
from course.grading.files import events as report
from course.grading.batch import selftest as kit

ROOT = Path(__file__).resolve().parent.parent


def test_own_groups_are_parsed_for_v1_and_v2():
    text = "12:pids:/user.slice\n4:memory:/a/b\n3:cpu,cpuacct:/\n1:name=systemd:/x\n0::/user.slice/u.scope\n"
    v2, v1 = cgroup._own_groups(text)
    assert v2 == "/user.slice/u.scope"
    assert v1["memory"] == "/a/b" and v1["pids"] == "/user.slice" and v1["cpuacct"] == "/"


def _fake_v1(tmp_path, with_pids=True):
    (tmp_path / "memory" / "grp").mkdir(parents=True)
    (tmp_path / "memory" / "grp" / "cgroup.procs").write_text("")
    lines = ["4:memory:/grp"]
    if with_pids:
        (tmp_path / "pids").mkdir()
        (tmp_path / "pids" / "cgroup.procs").write_text("")
        lines.append("8:pids:/")
    (tmp_path / "self").write_text("\n".join(lines + ["0::/"]) + "\n")
    return cgroup._probe(str(tmp_path), str(tmp_path / "self"))


def test_probe_finds_a_writable_v1_memory_hierarchy(tmp_path):
    support = _fake_v1(tmp_path)
    assert support.kind == "v1" and support.bases == {"memory": str(tmp_path / "memory" / "grp"),
                                                      "pids": str(tmp_path / "pids")}
    assert "memory.limit_in_bytes" in support.reason and "pids.max" in support.reason


def test_probe_prefers_v2_when_memory_is_delegated(tmp_path):
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "cgroup.subtree_control").write_text("cpu memory pids\n")
    (tmp_path / "self").write_text("0::/svc\n")
    support = cgroup._probe(str(tmp_path), str(tmp_path / "self"))
    assert support.kind == "v2" and support.bases == {"unified": str(tmp_path / "svc")}


def test_probe_says_why_when_nothing_is_writable(tmp_path):
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "cgroup.subtree_control").write_text("cpu\n")  # memory 没有委派
    (tmp_path / "self").write_text("0::/svc\n")
    support = cgroup._probe(str(tmp_path), str(tmp_path / "self"))
    assert not support.available and "Delegate=yes" in support.reason
    assert not cgroup._probe(str(tmp_path), str(tmp_path / "missing")).available


def test_a_group_gets_its_limits_and_the_command_enters_it_before_exec(tmp_path):
    support = _fake_v1(tmp_path)
    group = cgroup.SandboxCgroup.create(support, 123 * 2 ** 20, 77)
    mem_dir, pids_dir = group.dirs["memory"], group.dirs["pids"]
    assert Path(mem_dir, "memory.limit_in_bytes").read_text() == str(123 * 2 ** 20)
    assert Path(pids_dir, "pids.max").read_text() == "77"
    for f in group.procs_files():  # 假的 cgroup 文件夹里没有内核替我们建的文件
        Path(f).write_text("")
    out = subprocess.run(group.wrap(["/bin/sh", "-c", "echo $$"]), capture_output=True, text=True, check=True)
    pid = out.stdout.strip()
    assert [Path(f).read_text().strip() for f in group.procs_files()] == [pid, pid]  # exec 前后是同一个进程
    Path(mem_dir, "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    assert group.oom_kills() == 3
    for f in group.procs_files() + [os.path.join(mem_dir, n) for n in ("memory.limit_in_bytes",
                                                                        "memory.oom_control")]:
        os.remove(f)
    os.remove(os.path.join(pids_dir, "pids.max"))
    group.remove()
    assert not os.path.exists(mem_dir) and not os.path.exists(pids_dir)


def test_a_failed_enter_stops_before_running_the_command(tmp_path):
    support = _fake_v1(tmp_path, with_pids=False)
    group = cgroup.SandboxCgroup.create(support, 2 ** 20)
    marker = tmp_path / "ran"
    argv = group.wrap(["/bin/sh", "-c", "touch %s" % marker])
    argv[argv.index(group.procs_files()[0])] = str(tmp_path / "no" / "such" / "cgroup.procs")
    assert subprocess.run(argv, capture_output=True).returncode == 111 and not marker.exists()


class _Proc:
    def __init__(self, code):
        self.code = code

    def poll(self):
        return self.code


class _KM:
    def __init__(self, code):
        self.provisioner = type("P", (), {"process": _Proc(code)})()


@pytest.mark.parametrize("code, words", [
    (-signal.SIGALRM, "SIGALRM"), (128 + signal.SIGKILL, "SIGKILL"), (128 + signal.SIGXCPU, "CPU 时间用完"),
    (3, "退出码 3"), (None, ""),
])
def test_exit_codes_become_causes(code, words):
    cause = kernels.exit_cause(_KM(code))
    assert (words in cause) if words else cause == ""


# ---------- 一次真正的 autograde ----------

def test_groups_left_by_a_killed_grader_are_swept_at_the_next_start(tmp_path):
    """评分进程被 kill -9 时来不及删组：下一次建组时删掉建组进程已经不在的组，活着的进程的组和别的文件夹不碰。"""
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    bases = {c: tmp_path / c for c in ("memory", "pids")}
    for base in bases.values():
        for name in ("course-grading-%d-0" % dead.pid, "course-grading-%d-7" % os.getpid(), "other"):
            (base / name).mkdir(parents=True)
    support = cgroup.Support("v1", {c: str(b) for c, b in bases.items()}, "test")
    assert cgroup.sweep_stale(support) == 1
    for base in bases.values():
        assert sorted(p.name for p in base.iterdir()) == sorted(["course-grading-%d-7" % os.getpid(), "other"])
    assert cgroup.sweep_stale(support) == 0  # 再扫一次：没有可删的了


SUPPORT = cgroup.probe()
STATUS = sandbox.probe()
needs_groups = pytest.mark.skipif(not (SUPPORT.available and STATUS.available),
                                  reason="这台机器建不了 cgroup 或不能运行 bubblewrap：%s；%s"
                                         % (SUPPORT.reason, STATUS.reason))
FORKS = '''import os as _os, time as _time
_pids = []
for _i in range(3):  # 三个子进程同时各占 400 MiB
    _pid = _os.fork()
    if _pid == 0:
        _b = bytearray(400 * 2 ** 20)
        for _j in range(0, len(_b), 4096):
            _b[_j] = 1
        _time.sleep(3)
        _os._exit(0)
    _pids.append(_pid)
print("CHILDREN", [_os.waitpid(_p, 0)[1] for _p in _pids])
'''
SUICIDE = "import os as _os, signal as _signal\n_os.kill(_os.getpid(), _signal.SIGALRM)\n"


def _grade(base, group_limits):
    extra = ("c.Execute.timeout = 60\nc.GradingSandbox.group_memory_mb = 1024\n"
             "c.GradingSandbox.group_limits = %s\n" % group_limits)
    root = kit.build_course(str(base / "course"), str(ROOT / "nbgrader_config.py"), extra)
    release = kit.release_notebook(root)
    kit.submit(root, "honest", kit.answer(copy.deepcopy(release)))
    kit.submit(root, "forker", kit.answer(copy.deepcopy(release), prefix={"mul_forward": FORKS}))
    kit.submit(root, "alarm", kit.answer(copy.deepcopy(release), prefix={"add_backward": SUICIDE}))
    proc = kit.run_nbgrader(root, "autograde", kit.ASSIGNMENT, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    nb, _ = kit.autograded(root, "forker")
    text = kit.outputs_text(kit.find_cell(nb, "mul_forward"))
    codes = json.loads(text.split("CHILDREN", 1)[1].splitlines()[0].strip()) if "CHILDREN" in text else None
    events = {r["student"]: [e["detail"] for e in r["events"]]
              for r in report.collect(os.path.join(root, "autograded"), kit.ASSIGNMENT)}
    return root, codes, events


@needs_groups
def test_the_whole_sandbox_has_one_memory_limit(tmp_path):
    root, codes, events = _grade(tmp_path / "on", True)
    assert sum(kit.scores(root, "honest").values()) == sum(kit.POINTS.values())
    # 三个子进程各要 400 MiB，加上内核本身，超过了整个沙箱的 1024 MiB：至少一个进程被 OOM killer 结束
    # （可能是子进程，也可能是内核本身，那时评分报告里写明原因）
    killed_child = codes is not None and any(c == signal.SIGKILL for c in codes)
    oom_event = any("OOM" in d for d in events.get("forker", []))
    assert killed_child or oom_event, (codes, events.get("forker"))
    assert not [p for b in SUPPORT.bases.values() for p in Path(b).glob("course-grading-*")]  # 用完就删
    # 自己用 SIGALRM 结束内核：评分报告写明是哪个信号
    assert any("SIGALRM" in d for d in events.get("alarm", [])), events.get("alarm")


@needs_groups
def test_without_the_group_limit_each_process_gets_its_own_share(tmp_path):
    root, codes, _ = _grade(tmp_path / "off", False)
    assert codes == [0, 0, 0]  # 每个进程都在自己的 RLIMIT_AS 之内：rlimit 挡不住加起来的用量
