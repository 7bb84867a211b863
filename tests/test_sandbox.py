"""评分沙箱（course/grading/sandbox/bubblewrap.py）：普通的 `nbgrader autograde` 就在沙箱里运行学生代码。

一份越权的提交在 notebook 里试着读答案、改/删成绩库、删别人的作业、往课程文件夹外写、连本机端口、
读教师的环境变量、给评分进程发信号——每一项都必须失败（结果打印在 autograded notebook 里，
磁盘上的文件也逐一核对）；参考答案在有沙箱和没有沙箱时得分相同。bubblewrap 不能运行时跳过。
"""
import copy
import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from course.grading.sandbox import bubblewrap as sandbox
from course.grading.batch import selftest as kit

ROOT = Path(__file__).resolve().parent.parent
STATUS = sandbox.probe()
needs_bwrap = pytest.mark.skipif(not STATUS.available, reason="bubblewrap 在这台机器上不能运行：%s" % STATUS.reason)
SECRET = "s3cret-token-do-not-leak"
FULL = {"test_mul_forward": 2.0, "test_add_backward": 3.0, "test_square_grad": 5.0}


def _digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _env(**kw):
    env = {k: v for k, v in os.environ.items() if k != sandbox.ENV_VAR}
    env.update(kw)
    return env


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    if not STATUS.available:
        pytest.skip("bubblewrap 在这台机器上不能运行：%s" % STATUS.reason)
    root = kit.build_course(str(tmp_path_factory.mktemp("sandbox") / "course"), str(ROOT / "nbgrader_config.py"),
                            "c.Execute.timeout = 30\n")
    release = kit.release_notebook(root)
    kit.submit(root, "honest", kit.answer(copy.deepcopy(release)))
    kit.submit(root, "victim", kit.answer(copy.deepcopy(release)))
    # victim 先评完，它的 autograded/ 也在磁盘上，越权的提交才有东西可偷
    first = kit.run_nbgrader(root, "autograde", kit.ASSIGNMENT, "--student", "victim", env=_env())
    assert first.returncode == 0, first.stdout + first.stderr
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.5)
    probe = kit.sandbox_probe_code(root, "victim", listener.getsockname()[1], os.getpid())
    kit.submit(root, "prober", kit.answer(copy.deepcopy(release), prefix={"mul_forward": probe}))
    watched = {
        "source": os.path.join(root, "source", kit.ASSIGNMENT, kit.NOTEBOOK + ".ipynb"),
        "victim_submitted": os.path.join(root, "submitted", "victim", kit.ASSIGNMENT, kit.NOTEBOOK + ".ipynb"),
        "victim_graded": os.path.join(root, "autograded", "victim", kit.ASSIGNMENT, kit.NOTEBOOK + ".ipynb"),
        "release": os.path.join(root, "release", kit.ASSIGNMENT, kit.NOTEBOOK + ".ipynb"),
    }
    before = {k: _digest(p) for k, p in watched.items()}
    db_size = os.path.getsize(os.path.join(root, "gradebook.db"))
    # 仓库本身放在 PYTHONPATH 上：就像课程工作副本放在仓库里面（grade-demo 的 demo-run/）时那样，
    # 仓库根目录会作为 Python 路径只读挂进沙箱，而它里面也有 source/（答案）
    assert (ROOT / "source").is_dir() and (ROOT / "nbgrader_config.py").is_file()
    proc = kit.run_nbgrader(root, "autograde", kit.ASSIGNMENT,
                            env=_env(COURSE_SELFTEST_SECRET=SECRET, PYTHONPATH=str(ROOT)))
    accepted = []
    try:
        while True:
            accepted.append(listener.accept())
    except OSError:
        pass
    listener.close()
    nb, _ = kit.autograded(root, "prober")
    lines = [x for x in kit.outputs_text(kit.find_cell(nb, "mul_forward")).splitlines()
             if x.startswith("SANDBOX_RESULT ")]
    result = json.loads(lines[0].split(" ", 1)[1]) if lines else None
    return {"root": root, "proc": proc, "log": proc.stdout + proc.stderr, "result": result, "accepted": accepted,
            "watched": watched, "before": before, "db_size": db_size,
            "honest_scores": kit.scores(root, "honest")}


@needs_bwrap
def test_autograde_ran_in_the_sandbox(course):
    assert course["proc"].returncode == 0, course["log"][-5000:]
    assert "评分沙箱不可用" not in course["log"] and "已被明确关闭" not in course["log"]
    report = Path(course["root"], "autograded", ".grading-reports", kit.ASSIGNMENT, "prober", kit.NOTEBOOK + ".json")
    assert json.loads(report.read_text(encoding="utf-8"))["sandbox"] == "bwrap"


@needs_bwrap
@pytest.mark.parametrize("attempt", [
    "read_source", "list_source", "read_release", "read_gradebook", "write_gradebook", "delete_gradebook",
    "delete_other", "read_other_graded", "write_outside", "network", "signal_grader", "env_secret",
    "read_repo_source", "import_demo_answers", "import_reference_layers", "import_checks", "load_reference_bytecode",
])
def test_every_hostile_attempt_fails_inside_the_notebook(course, attempt):
    assert course["result"] is not None, "越权提交没有打印结果：\n" + course["log"][-3000:]
    assert course["result"][attempt].startswith("FAIL"), course["result"]


@needs_bwrap
def test_the_student_may_still_write_in_its_own_folder(course):
    assert course["result"]["write_own"] == "OK"
    assert Path(course["root"], "autograded", "prober", kit.ASSIGNMENT, "own.txt").read_text() == "ok"


@needs_bwrap
def test_files_on_disk_are_untouched(course):
    for name, path in course["watched"].items():
        assert _digest(path) == course["before"][name], "%s 被改动了" % name
    assert not Path(course["root"], "pwned.txt").exists()
    assert course["accepted"] == [], "沙箱里的代码连上了本机端口"
    # 成绩库还在、没有被截断或追加垃圾，且三位学生的成绩都在
    assert os.path.getsize(os.path.join(course["root"], "gradebook.db")) >= course["db_size"]
    for student in ("honest", "victim", "prober"):
        assert kit.scores(course["root"], student) == FULL


@needs_bwrap
def test_the_secret_env_var_reached_nbgrader_but_not_the_kernel(course):
    nb, path = kit.autograded(course["root"], "prober")
    assert SECRET not in Path(path).read_text(encoding="utf-8")
    assert course["result"]["env_secret"] == "FAIL KeyError"


@needs_bwrap
def test_honest_submission_grades_the_same_without_the_sandbox(course, tmp_path):
    import shutil

    root = str(tmp_path / "copy")
    shutil.copytree(course["root"], root)
    proc = kit.run_nbgrader(root, "autograde", kit.ASSIGNMENT, "--student", "honest", "--force",
                            env=_env(**{sandbox.ENV_VAR: "off"}))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    log = proc.stdout + proc.stderr
    assert log.count("评分沙箱已被明确关闭") == 1, "关闭沙箱时必须大声警告一次"
    assert kit.scores(root, "honest") == course["honest_scores"] == FULL
    report = Path(root, "autograded", ".grading-reports", kit.ASSIGNMENT, "honest", kit.NOTEBOOK + ".json")
    assert json.loads(report.read_text(encoding="utf-8"))["sandbox"] == "off"


@needs_bwrap
def test_missing_bwrap_degrades_loudly_once_and_still_grades(course, tmp_path):
    import shutil

    root = str(tmp_path / "copy")
    shutil.copytree(course["root"], root)
    proc = kit.run_nbgrader(root, "autograde", kit.ASSIGNMENT, "--student", "[hv]*", "--force",
                            "--GradingSandbox.bwrap=/nonexistent/bwrap", env=_env())
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert log.count("评分沙箱不可用") == 1, log[-3000:]
    assert kit.scores(root, "honest") == kit.scores(root, "victim") == FULL


FAKE_BWRAP = """#!/bin/sh
# 假的 bwrap：报版本、通过探测，真正启动内核时失败（模拟运行时才出现的沙箱故障）
case "$1" in --version) echo "bubblewrap 9.9"; exit 0;; esac
for last; do :; done
case "$last" in */true) exit 0;; esac
echo "bwrap: simulated failure" >&2
exit 1
"""


@needs_bwrap
def test_sandbox_failing_at_kernel_start_falls_back_loudly(course, tmp_path):
    import shutil

    fake = tmp_path / "bwrap"
    fake.write_text(FAKE_BWRAP)
    fake.chmod(0o755)
    root = str(tmp_path / "copy")
    shutil.copytree(course["root"], root)
    proc = kit.run_nbgrader(root, "autograde", kit.ASSIGNMENT, "--student", "honest", "--force",
                            "--GradingSandbox.bwrap=%s" % fake, env=_env())
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert log.count("沙箱内核启动失败") == 1
    assert kit.scores(root, "honest") == FULL
    report = Path(root, "autograded", ".grading-reports", kit.ASSIGNMENT, "honest", kit.NOTEBOOK + ".json")
    assert json.loads(report.read_text(encoding="utf-8"))["sandbox"].startswith("unavailable")


@needs_bwrap
def test_required_mode_refuses_to_grade_without_a_sandbox(course, tmp_path):
    import shutil

    root = str(tmp_path / "copy")
    shutil.copytree(course["root"], root)
    proc = kit.run_nbgrader(root, "autograde", kit.ASSIGNMENT, "--student", "honest", "--force",
                            "--GradingSandbox.bwrap=/nonexistent/bwrap", env=_env(**{sandbox.ENV_VAR: "required"}))
    assert proc.returncode != 0
    assert "required" in proc.stdout + proc.stderr


@needs_bwrap
def test_validate_is_not_sandboxed(course, tmp_path):
    """`nbgrader validate`（学生自己机器上、或教师验证 source/）照常运行，不进沙箱。"""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell(
        "import os\nassert os.environ.get('COURSE_GRADING_SANDBOXED') is None\n"
        "assert open(%r).read()" % course["watched"]["source"])],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    path = tmp_path / "plain.ipynb"
    nbformat.write(nb, str(path))
    proc = kit.run_nbgrader(course["root"], "validate", str(path), env=_env())
    assert "Success" in proc.stdout, proc.stdout + proc.stderr


# ---- 不需要真正运行 bubblewrap 的单元测试 ----------------------------------------------------
FAKE = sandbox.SandboxStatus(True, "test", "/usr/bin/bwrap", "bubblewrap 0", sandbox.BASE_FLAGS, sized_tmpfs=True)


def _mounts(argv):
    """把 bwrap 参数解析成 [(选项, 目标路径)]。"""
    out, i = [], 1
    takes2 = {"--bind", "--ro-bind", "--ro-bind-try", "--symlink", "--setenv"}
    takes1 = {"--tmpfs", "--proc", "--dev", "--dir", "--remount-ro", "--chdir", "--cap-drop", "--unsetenv", "--size"}
    while i < len(argv) and argv[i] != "--":
        opt = argv[i]
        if opt in takes2:
            out.append((opt, argv[i + 2], argv[i + 1]))
            i += 3
        elif opt in takes1:
            out.append((opt, argv[i + 1], None))
            i += 2
        else:
            out.append((opt, None, None))
            i += 1
    return out


def _argv(tmp_path, **kw):
    course = tmp_path / "course"
    work = course / "autograded" / "alice" / "ps1"
    (course / "source" / "ps1").mkdir(parents=True)
    work.mkdir(parents=True, exist_ok=True)
    (course / ".venv" / "lib").mkdir(parents=True)
    (course / "course").mkdir(exist_ok=True)
    (course / "gradebook.db").write_text("")
    args = dict(env={"PATH": "/usr/bin", "LANG": "C.UTF-8", "GITHUB_TOKEN": "x", "JUPYTERHUB_API_TOKEN": "y"},
                workdir=str(work), private_dir="/tmp/cgk-test", status=FAKE, limits={"RLIMIT_AS": (1, 1)},
                hidden=[str(course), str(course / "source"), str(course / "gradebook.db")],
                strict=[str(course / "source"), str(course / "gradebook.db")],
                python_dirs=[str(course / ".venv" / "lib"), str(course), "/usr/lib/python3",
                             str(course / "source" / "ps1")],
                course_dirs=[str(course / "course")])
    args.update(kw)
    return sandbox.build_bwrap_argv(["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "x.json"], **args), course


def test_bwrap_command_isolates_everything_it_should(tmp_path):
    argv, course = _argv(tmp_path)
    mounts = _mounts(argv)
    flags = [m[0] for m in mounts]
    for flag in ("--die-with-parent", "--unshare-all", "--unshare-user", "--new-session", "--clearenv"):
        assert flag in flags
    assert ("--cap-drop", "ALL", None) in mounts
    binds = {dest: opt for opt, dest, _ in mounts if opt in ("--bind", "--ro-bind", "--ro-bind-try")}
    # 只有工作目录和内核私有的套接字目录可写（套接字目录里只能建套接字：Landlock，见 test_bounded_cost.py）
    writable = sorted(d for d, opt in binds.items() if opt == "--bind")
    assert writable == sorted([str(course / "autograded" / "alice" / "ps1"), "/tmp/cgk-test/ipc"])
    # 课程根目录本身（即使它在 sys.path 上）和 source/ 从不挂载；课程包和课程里的 venv 只读
    assert str(course) not in binds and str(course / "source") not in binds
    assert not [d for d in binds if d.startswith(str(course / "source"))]  # 连 source/ 里面的目录也不挂
    assert binds[str(course / "course")] == "--ro-bind" and binds[str(course / ".venv" / "lib")] == "--ro-bind"
    # 课程根目录盖上空 tmpfs，并在最后设为只读
    order = [(opt, dest) for opt, dest, _ in mounts]
    assert order.index(("--tmpfs", str(course))) < order.index(("--bind", str(course / "autograded" / "alice" / "ps1")))
    assert ("--remount-ro", str(course)) in order and ("--remount-ro", "/") in order
    # 内存盘有大小上限（tmpfs 不受 RLIMIT_AS 约束）
    for target in ("/tmp", "/dev/shm"):
        i = next(i for i in range(len(argv) - 1) if argv[i:i + 2] == ["--tmpfs", target])
        assert argv[i - 2:i] == ["--size", str(256 * 2 ** 20)]
    assert argv[argv.index("--chdir") + 1] == str(course / "autograded" / "alice" / "ps1")


def test_notebooks_already_graded_in_the_same_folder_are_covered(tmp_path):
    """一份作业有几个 notebook 时，先评完的那个（带着隐藏测试）就在工作目录里：后一个内核读不到它。"""
    work = tmp_path / "course" / "autograded" / "alice" / "ps1"
    work.mkdir(parents=True)
    (work / "part1.ipynb").write_text("{}")
    (work / "data.csv").write_text("1,2")
    argv, _ = _argv(tmp_path)
    order = [(opt, dest) for opt, dest, _ in _mounts(argv)]
    assert ("--ro-bind", str(work / "part1.ipynb")) in order
    assert argv[argv.index(str(work / "part1.ipynb")) - 1] == "/dev/null"
    assert order.index(("--bind", str(work))) < order.index(("--ro-bind", str(work / "part1.ipynb")))
    assert ("--ro-bind", str(work / "data.csv")) not in order


def test_the_answer_parts_of_the_course_package_are_covered(tmp_path):
    pkg = tmp_path / "course" / "course"
    (pkg / "checks").mkdir(parents=True)
    (pkg / "layers.py").write_text("")
    argv, _ = _argv(tmp_path, package_private=["checks", "layers", "net"])
    order = [(opt, dest) for opt, dest, _ in _mounts(argv)]
    assert ("--tmpfs", str(pkg / "checks")) in order and ("--remount-ro", str(pkg / "checks")) in order
    # layers.py 所在的文件夹（课程包本身）换成只读 tmpfs，只挂回别的东西：layers.py 根本不在沙箱里
    assert ("--tmpfs", str(pkg)) in order and ("--remount-ro", str(pkg)) in order
    assert order.index(("--ro-bind", str(pkg))) < order.index(("--tmpfs", str(pkg)))
    assert not [x for x in order if x[1] == str(pkg / "layers.py")]


def test_a_course_folder_mounted_as_a_python_path_has_its_private_parts_covered(tmp_path):
    """课程工作副本放在仓库里面、仓库根目录又在 PYTHONPATH 上：仓库的 source/ 等也要盖住。"""
    repo = tmp_path / "repo"
    for d in ("source/ps1", "course", "demo-run"):
        (repo / d).mkdir(parents=True)
    for f in ("nbgrader_config.py", "gradebook.db"):
        (repo / f).write_text("")
    plain = tmp_path / "lib"  # 没有 nbgrader_config.py 的目录照常挂载，里面的 source/ 不当作答案
    (plain / "source").mkdir(parents=True)
    argv, course = _argv(tmp_path, python_dirs=[str(repo), str(plain)], course_dirs=[str(repo / "course")])
    order = [(opt, dest) for opt, dest, _ in _mounts(argv)]
    assert ("--ro-bind", str(repo)) in order and ("--ro-bind", str(plain)) in order
    assert order.index(("--ro-bind", str(repo))) < order.index(("--tmpfs", str(repo / "source")))
    assert ("--remount-ro", str(repo / "source")) in order
    for f in ("nbgrader_config.py", "gradebook.db"):
        assert ("--ro-bind", str(repo / f)) in order and argv[argv.index(str(repo / f)) - 1] == "/dev/null"
    assert ("--tmpfs", str(repo / "demo-run")) not in order and ("--tmpfs", str(plain / "source")) not in order


def test_the_demo_answers_inside_the_course_package_are_covered(tmp_path):
    """course/demo/styles.py 里有每道练习的正确答案：课程包照常只读挂载，demo/ 盖上空的只读 tmpfs。"""
    pkg = tmp_path / "site" / "course"
    (pkg / "demo").mkdir(parents=True)
    (pkg / "checks").mkdir()
    argv, _ = _argv(tmp_path, course_dirs=[str(pkg)])
    order = [(opt, dest) for opt, dest, _ in _mounts(argv)]
    assert ("--ro-bind", str(pkg)) in order and ("--tmpfs", str(pkg / "checks")) not in order
    assert order.index(("--ro-bind", str(pkg))) < order.index(("--tmpfs", str(pkg / "demo")))
    assert ("--remount-ro", str(pkg / "demo")) in order


def test_bwrap_command_passes_only_whitelisted_env_vars(tmp_path):
    argv, _ = _argv(tmp_path)
    env = {key: value for opt, value, key in _mounts(argv) if opt == "--setenv"}
    assert "GITHUB_TOKEN" not in env and "JUPYTERHUB_API_TOKEN" not in env
    assert env["HOME"] == "/tmp/home" and env["LANG"] == "C.UTF-8" and env["JPY_PARENT_PID"] == "1"


def test_limits_are_applied_by_a_tiny_exec_wrapper(tmp_path):
    argv, _ = _argv(tmp_path, limits={"RLIMIT_AS": (123, 123), "RLIMIT_CPU": (5, 10)})
    tail = argv[argv.index("--") + 1:]
    assert tail[1:4] == ["-I", "-S", "-c"] and "RLIMIT_AS" in tail[4] and tail[5:] == [
        "/usr/bin/python3", "-c", sandbox.LEAN_KERNEL, "-f", "x.json"]
    # 这个包装真的会设好上限再 exec 成目标程序
    code = "import resource; print(resource.getrlimit(resource.RLIMIT_CPU))"
    cmd = sandbox.limiter_argv([sys.executable, "-c", code], {"RLIMIT_CPU": (7, 9), "RLIMIT_CORE": (0, 0)})
    assert subprocess.run(cmd, capture_output=True, text=True).stdout.strip() == "(7, 9)"


def test_the_grading_kernel_skips_only_the_debugger():
    """`-m ipykernel_launcher` 换成不导入 debugpy 的同一个内核；别的内核命令不动。真的启动、执行在别的测试里。"""
    assert sandbox.lean_kernel_cmd(["py", "-m", "ipykernel_launcher", "-f", "c.json"]) == [
        "py", "-c", sandbox.LEAN_KERNEL, "-f", "c.json"]
    assert sandbox.lean_kernel_cmd(["py", "-m", "other_kernel", "-f", "c.json"]) == ["py", "-m", "other_kernel", "-f",
                                                                                     "c.json"]
    code = sandbox.LEAN_KERNEL.replace("kernelapp.launch_new_instance()", "print('debugpy' in sys.modules)")
    code += "import ipykernel.ipkernel, ipykernel.debugger as d\nprint(d._is_debugpy_available)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout.split()
    assert out == ["True", "False"]  # debugpy 被挡在外面（sys.modules 里是 None），ipykernel 照常导入


def test_limits_follow_the_config():
    cfg = sandbox.GradingSandbox(memory_mb=512, cpu_seconds=0, max_processes=10, max_file_mb=1)
    lim = cfg.limits()
    assert lim["RLIMIT_AS"] == (512 * 2 ** 20,) * 2 and "RLIMIT_CPU" not in lim and lim["RLIMIT_NPROC"] == (10, 10)
    assert "RLIMIT_NPROC" not in cfg.limits(sandboxed=False)


@pytest.mark.parametrize("value, mode", [("off", "off"), ("0", "off"), ("required", "required"), ("", "auto"),
                                         ("auto", "auto"), ("1", "auto")])
def test_env_var_modes(monkeypatch, value, mode):
    monkeypatch.setenv(sandbox.ENV_VAR, value)
    assert sandbox.effective_mode("auto") == mode


def test_unknown_env_var_value_gets_a_clear_message(monkeypatch):
    monkeypatch.setenv(sandbox.ENV_VAR, "maybe")
    with pytest.raises(ValueError, match="auto、off、required"):
        sandbox.effective_mode()


def test_probe_reports_a_missing_bwrap():
    st = sandbox.probe("/nonexistent/bwrap")
    assert not st.available and "bwrap" in st.reason


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "course", *args], capture_output=True, text=True, cwd=str(ROOT),
                          env=_env(LANG="C.UTF-8", **(env or {})))


def test_cli_sandbox_status():
    res = _cli("sandbox-status")
    assert ("沙箱中运行" in res.stdout) == STATUS.available
    assert res.returncode == (0 if STATUS.available else 1)
    assert "测试单元：在评分进程里运行" in res.stdout
    off = _cli("sandbox-status", env={sandbox.ENV_VAR: "off"})
    assert off.returncode == 1 and "已明确关闭" in off.stdout


def test_status_says_when_tests_run_inside_the_kernel():
    from traitlets.config import Config

    cfg = Config()
    cfg.RobustExecute.trusted_tests = False
    assert "在学生的内核里运行" in sandbox.describe(cfg)[1]
    assert "在评分进程里运行" in sandbox.describe(Config())[1]


def test_cli_errors_are_clear():
    res = _cli("no-such-command")
    assert res.returncode == 2 and "无效的子命令" in res.stderr
    res = _cli()
    assert res.returncode == 2 and "缺少参数" in res.stderr
    res = _cli("grading-report", "--bogus")
    assert res.returncode == 2 and "不认识的参数" in res.stderr
    res = _cli("sandbox-status", "--course", "/no/such/folder")
    assert res.returncode != 0 and "课程文件夹不存在" in res.stderr


# ---------------------------------------------------------------- 课程包里的白名单：评分途中才出现的文件看不到
_WATCHER = r"""
import os, sys, time
pkg, work = sys.argv[1], sys.argv[2]
open(os.path.join(work, "ready"), "w").close()
deadline = time.time() + 20
while not os.path.exists(os.path.join(work, "go")) and time.time() < deadline:
    time.sleep(0.02)
seen = {}
for rel in ("__pycache__/secret.cpython-311.pyc", "secret.py", "late.py"):
    try:
        seen[rel] = open(os.path.join(pkg, rel), "rb").read().decode("latin-1")
    except OSError as exc:
        seen[rel] = "ERR " + type(exc).__name__
sys.path.insert(0, os.path.dirname(pkg))
import mypkg.visible as v
seen["visible_cached"] = bool(v.__cached__) and os.path.exists(v.__cached__)
seen["visible_value"] = v.VALUE
print(repr(seen))
"""


def _run_watcher(tmp_path, monkeypatch, allow):
    """沙箱里的进程（学生的内核）等着；教师那边在它运行时为盖住的模块写下字节码、整个换掉盖住的 .py、
    新建一个模块。返回沙箱里读到的东西。allow=False 是对照：不用白名单，只把要盖的文件盖上 /dev/null。"""
    import py_compile

    from course.grading.sandbox import answers

    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "visible.py").write_text("VALUE = 41 + 1\n")
    (pkg / "secret.py").write_text("ANSWER = 'reference-v1'\n")
    (pkg / "__pycache__").mkdir()
    py_compile.compile(str(pkg / "visible.py"), cfile=str(pkg / "__pycache__" / "visible.cpython-311.pyc"))
    work = tmp_path / "work"
    work.mkdir()
    private = tmp_path / "private"
    for sub in ("conn", "ipc", "mpl"):
        (private / sub).mkdir(parents=True)
    if not allow:
        monkeypatch.setattr(answers, "allow_lists", lambda paths: [])
    python_dirs, _ = sandbox.python_paths(sys.executable)
    argv = sandbox.build_bwrap_argv(
        [sys.executable, "-c", _WATCHER, str(pkg), str(work)], env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        workdir=str(work), private_dir=str(private), hidden=[], status=STATUS, limits={},
        python_dirs=python_dirs, course_dirs=[str(pkg)], package_private=["secret"])
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(1000):
            if (work / "ready").exists() or proc.poll() is not None:
                break
            import time
            time.sleep(0.02)
        # 沙箱已经建好：教师那边的进程导入参考实现（写下字节码），编辑器整个换掉 secret.py，又新建一个模块
        py_compile.compile(str(pkg / "secret.py"), cfile=str(pkg / "__pycache__" / "secret.cpython-311.pyc"))
        (pkg / "secret.py.new").write_text("ANSWER = 'reference-v2'\n")
        os.replace(pkg / "secret.py.new", pkg / "secret.py")
        (pkg / "late.py").write_text("LATE = 'reference-late'\n")
        (work / "go").write_text("")
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    import ast
    return ast.literal_eval(out.strip().splitlines()[-1])


@needs_bwrap
def test_files_that_appear_in_the_course_package_during_grading_stay_invisible(tmp_path, monkeypatch):
    seen = _run_watcher(tmp_path, monkeypatch, allow=True)
    assert seen["__pycache__/secret.cpython-311.pyc"].startswith("ERR")
    assert seen["secret.py"].startswith("ERR")  # 盖住的模块不挂回来：导入时 ModuleNotFoundError
    assert seen["late.py"].startswith("ERR")
    # 不用盖住的模块照常可见，而且用的是编译好的字节码
    assert seen["visible_value"] == 42 and seen["visible_cached"] is True


@needs_bwrap
def test_control_without_the_allow_list_the_late_files_leak(tmp_path, monkeypatch):
    """对照：只把盖住的文件盖上 /dev/null 时，评分途中写下的字节码、换掉的 .py、新模块在沙箱里都读得到。"""
    seen = _run_watcher(tmp_path, monkeypatch, allow=False)
    assert "reference" in seen["__pycache__/secret.cpython-311.pyc"]
    assert "reference-v2" in seen["secret.py"]
    assert "reference-late" in seen["late.py"]
