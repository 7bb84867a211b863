"""一名学生的最坏情况只花他自己的时间（issue 23 第 4 部分）：每一项防护都有红队测试和对照组。

1. 文件个数和大小：提交里、内核工作目录里成千上万个空文件，列文件的工作量与条目数成正比
   （对照：nbgrader 0.9.6 原来的 find_all_files 每个文件都把整个文件夹再列一遍）；复制、保留的文件有上限。
2. 内核直接写到文件描述符 1、2 的 32 MiB 终端转义序列不进评分进程的日志（对照：jupyter_client 原来的做法全部照写）。
3. 沙箱外的临时文件夹：内核私有文件夹里的 ipc/ 只能建套接字（对照：不设 Landlock 时能写进几十 MB）。
4. 形状先于运算：(8388608, 1) 的答案对 (7,) 的期望值，在转换类型、广播比较之前就不通过（对照：先转换或先比较的内存）。

速度只在 python -m course.bench.grading_cost 里打印，这里只数条目、字节和调用次数。
"""
import asyncio
import copy
import json
import logging
import os
import socket
import subprocess
import sys
import tracemalloc
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course.checks import _core
from course.grading.files import safe as filesafe, events as report
from course.grading.sandbox import kernels, landlock, bubblewrap as sandbox
from course.grading.batch import selftest as kit

ROOT = Path(__file__).resolve().parent.parent
IGNORE = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.md", "*.py", "*.bak", "*~", ".*", "*.ipynb"]
STATUS = sandbox.probe()
needs_bwrap = pytest.mark.skipif(not STATUS.available, reason="bubblewrap 在这台机器上不能运行：%s" % STATUS.reason)
needs_landlock = pytest.mark.skipif(not landlock.landlock_abi(), reason="这台机器的内核不支持 Landlock")


def _stock(name):
    """nbgrader 0.9.6 原来的函数（filesafe.install() 换掉之前的）。"""
    from nbgrader import utils

    return filesafe.STOCK.get(name) or getattr(utils, name)


class _CountingScandir:
    """包住 os.scandir，数一共读出了多少个条目。"""

    def __init__(self, real):
        self.real, self.entries, self.calls = real, 0, 0

    def __call__(self, path="."):
        self.calls += 1
        counter = self

        class _It:
            def __init__(self):
                self.it = counter.real(path)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.it.close()

            def __iter__(self):
                return self

            def __next__(self):
                entry = next(self.it)
                counter.entries += 1
                return entry

            def close(self):
                self.it.close()

        return _It()


def _empty_files(folder, n, prefix="f"):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / ("%s%05d.txt" % (prefix, i))).touch()


# ---------- 1. 列文件：线性，并且有上限 ----------

def _entries_read(monkeypatch, fn, *args):
    counter = _CountingScandir(os.scandir)
    monkeypatch.setattr(os, "scandir", counter)
    result = fn(*args)
    monkeypatch.undo()
    return result, counter.entries


def test_listing_reads_each_entry_once(tmp_path, monkeypatch):
    _empty_files(tmp_path / "sub", 1000)
    files, read = _entries_read(monkeypatch, filesafe.find_all_files, str(tmp_path / "sub"), IGNORE)
    assert len(files) == 1000
    assert read == 1000  # 每个条目只读一次


def test_control_nbgrader_listing_reads_the_folder_once_per_file(tmp_path, monkeypatch):
    """对照：原来的 find_all_files 对每个文件调用 is_ignored，而它用 glob 把整个文件夹再列一遍：工作量是平方。"""
    from nbgrader import utils

    _empty_files(tmp_path / "sub", 1000)
    # 原来的 find_all_files 在调用时才按名字找 utils.is_ignored：本进程里装过 filesafe.install() 时，先换回原来的
    stock_is_ignored = _stock("is_ignored")
    original = utils.is_ignored
    utils.is_ignored = stock_is_ignored
    try:
        files, read = _entries_read(monkeypatch, _stock("find_all_files"), str(tmp_path / "sub"), IGNORE)
    finally:
        utils.is_ignored = original
    assert len(files) == 1000
    assert read >= 1000 * 1000  # 每个文件至少把 1000 个条目再读一遍（有几个通配符模式就读几遍）


def test_listing_gives_the_same_files_as_nbgrader(tmp_path):
    names = ["a.txt", "b.py", "c.pyc", ".hidden", "x~", "[ab].txt", "*.txt", "feedback/f.txt", "sub/feedback",
             "sub/.x/y.txt", "sub/z.md", "sub/q.csv", "__pycache__/m.txt", ".ipynb_checkpoints/k.txt", "n.ipynb",
             "sub/deep/deeper/w.dat", "timestamp.txt", ".pyc", "data/img.png", "notes.bak"]
    for name in names:
        path = tmp_path / "s" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    (tmp_path / "s" / "linkdir").symlink_to("/usr")
    (tmp_path / "s" / "linkfile").symlink_to(tmp_path / "s" / "a.txt")
    (tmp_path / "s" / "broken").symlink_to(tmp_path / "nowhere")
    for ignore in (IGNORE, [], ["*.txt", "sub"]):
        ours = sorted(filesafe.find_all_files(str(tmp_path / "s"), ignore))
        assert ours == sorted(_stock("find_all_files")(str(tmp_path / "s"), ignore)), ignore
    assert filesafe.is_ignored(".pyc", ["*.pyc"]) is False and filesafe.is_ignored(".pyc", [".*"]) is True


def test_listing_stops_at_the_entry_budget(tmp_path, monkeypatch):
    _empty_files(tmp_path / "many", 3000)
    (files, complete), read = _entries_read(monkeypatch, filesafe.list_files, str(tmp_path / "many"), IGNORE, 500)
    assert not complete and len(files) == 500 and read == 501


def test_prune_keeps_the_graded_files_and_caps_the_rest(tmp_path):
    out = tmp_path / "out"
    _empty_files(out, 500)
    for i in range(300):
        (out / "d" / ("%03d" % i)).mkdir(parents=True)
    (out / "layers.ipynb").write_text("{}")
    (out / "timestamp.txt").write_text("2024-01-01 00:00:00")
    (out / "zz_big.bin").write_bytes(b"x" * 4096)
    details = filesafe.prune(str(out), keep={"layers.ipynb", "timestamp.txt"}, max_files=50, max_bytes=1024)
    left = [p for p in out.rglob("*")]
    assert len([p for p in left if p.is_file()]) == 50 + 2
    assert len([p for p in left if p.is_dir()]) <= 50
    assert (out / "layers.ipynb").exists() and (out / "timestamp.txt").exists() and not (out / "zz_big.bin").exists()
    assert any("删掉了" in d for d in details) and any("文件夹" in d for d in details)


def test_honest_small_folders_are_left_alone(tmp_path):
    out = tmp_path / "out"
    (out / "data").mkdir(parents=True)
    (out / "data" / "x.csv").write_text("1,2")
    (out / "layers.ipynb").write_text("{}")
    assert filesafe.prune(str(out), keep={"layers.ipynb"}) == []
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == ["data", "data/x.csv", "layers.ipynb"]


# ---------- 2. 内核的 stdout/stderr ----------

FLOOD = ("import os\n"
         "chunk = b'\\x1b[2J\\x1b[31m\\x1b]0;pwned\\x07' * 4096\n"
         "for fd in (1, 2):\n"
         "    left = 16 * 2 ** 20\n"
         "    while left > 0:\n"
         "        left -= os.write(fd, chunk[:left])\n")


def _run_flood(manager_class, capfd):
    """启动一个内核，让它往 fd 1、2 各写 16 MiB 终端转义序列，返回 (测试进程收到的字符数, 内核管理器)。"""
    from jupyter_client.manager import AsyncKernelManager  # noqa: F401  (确认 jupyter_client 可用)

    async def go():
        km = manager_class(kernel_name="python3")
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=120)
            reply = await kc.execute_interactive(FLOOD, timeout=300, output_hook=lambda msg: None)
            assert reply["content"]["status"] == "ok", reply["content"]
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)
        return km

    km = asyncio.run(go())
    sink = getattr(km, "output_sink", None)
    if sink is not None:
        sink.done.wait(60)
    out, err = capfd.readouterr()
    return len(out) + len(err), km


def test_kernel_fd_output_never_reaches_the_grader(capfd, caplog):
    caplog.set_level(logging.INFO)
    class Limited(kernels.LimitedKernelManager):
        pass

    size, km = _run_flood(Limited, capfd)
    assert size < 64 * 1024  # 32 MiB 写进来，评分进程的 stdout/stderr 上什么都没有（只有测试框架自己的零星输出）
    sink = km.output_sink
    assert sink.total >= 32 * 2 ** 20 and len(sink.head) <= kernels.MAX_KEPT_BYTES
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "\x1b" not in logged and len(logged) < 4 * kernels.MAX_KEPT_BYTES + 4096
    assert "\\x1b[2J" in logged and "其余" in logged  # 开头转义后留在日志里，丢掉的字节数写明


def test_control_without_the_sink_the_flood_reaches_the_grader(capfd):
    from jupyter_client.manager import AsyncKernelManager

    size, _ = _run_flood(AsyncKernelManager, capfd)
    assert size >= 32 * 2 ** 20


def test_escaped_text_has_no_control_characters():
    text = kernels._escaped("a\x1b[31mb\rc\u202ed\te\nf")
    assert text == "a\\x1b[31mb\\x0dc\\u202ed\te\nf"


# ---------- 3. 沙箱外的临时文件夹 ----------

SCRATCH = r'''
import json, os, socket, sys
ipc = sys.argv[1]
result = {}
def attempt(name, fn):
    try:
        fn()
        result[name] = "ok"
    except OSError as exc:
        result[name] = exc.strerror
def fill():
    with open(os.path.join(ipc, "junk.bin"), "wb") as f:
        for _ in range(40):
            f.write(b"x" * 2 ** 20)
attempt("fill", fill)
attempt("mkdir", lambda: os.mkdir(os.path.join(ipc, "more")))
attempt("fifo", lambda: os.mkfifo(os.path.join(ipc, "pipe")))
s = socket.socket(socket.AF_UNIX)
attempt("bind", lambda: s.bind(os.path.join(ipc, "k-1")))
c = socket.socket(socket.AF_UNIX)
attempt("connect", lambda: c.connect(os.path.join(ipc, "grader")))
attempt("mpl", lambda: open(os.path.join(os.environ["MPLCONFIGDIR"], "cache.bin"), "wb").write(b"x" * 2 ** 20))
attempt("workdir", lambda: open("mine.txt", "w").write("mine"))
print(json.dumps(result))
'''


def _scratch_run(tmp_path, landlock=True):
    private = Path(kernels.private_base()) / ("cgk-test-%d-%d" % (os.getpid(), int(landlock)))
    for sub in ("conn", "ipc", "mpl"):
        (private / sub).mkdir(parents=True, exist_ok=True)
    grader = socket.socket(socket.AF_UNIX)
    grader.bind(str(private / "ipc" / "grader"))
    grader.listen(1)
    work = tmp_path / ("work%d" % int(landlock))
    work.mkdir()
    python_dirs, course_dirs = sandbox.python_paths(sys.executable)
    argv = sandbox.build_bwrap_argv([sys.executable, "-c", SCRATCH, str(private / "ipc")], env=dict(os.environ),
                                    workdir=str(work), private_dir=str(private), hidden=[], status=STATUS,
                                    limits={}, python_dirs=python_dirs)
    if not landlock:  # 对照：同样的沙箱，只是启动器里不设 Landlock 规则
        tail = argv.index("--") + 1
        argv[tail:] = sandbox.limiter_argv([sys.executable, "-c", SCRATCH, str(private / "ipc")], {})
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        written = sum(p.stat().st_size for p in (private / "ipc").rglob("*") if p.is_file() and not p.is_symlink())
        return json.loads(proc.stdout.strip().splitlines()[-1]), written, work
    finally:
        grader.close()
        import shutil

        shutil.rmtree(private, ignore_errors=True)


@needs_bwrap
@needs_landlock
def test_the_sandbox_cannot_fill_host_scratch_folders(tmp_path):
    result, written, work = _scratch_run(tmp_path)
    assert written == 0
    assert result["fill"] != "ok" and result["mkdir"] != "ok" and result["fifo"] != "ok"
    # 需要的照常可用：在 ipc/ 里建套接字、连上评分进程的套接字、matplotlib 的缓存（沙箱自己的 /tmp）、自己的文件夹
    assert result["bind"] == result["connect"] == result["mpl"] == result["workdir"] == "ok"
    assert (work / "mine.txt").read_text() == "mine"


@needs_bwrap
def test_control_without_landlock_the_sandbox_fills_the_ipc_folder(tmp_path):
    result, written, _ = _scratch_run(tmp_path, landlock=False)
    assert result["fill"] == "ok" and written >= 40 * 2 ** 20


def test_only_the_student_folder_and_the_socket_folder_are_bound_writable(tmp_path):
    private = tmp_path / "cgk"
    (private / "mpl").mkdir(parents=True)
    (private / "mpl" / "fontlist-v390.json").write_text("{}")
    work = tmp_path / "work"
    work.mkdir()
    argv = sandbox.build_bwrap_argv(["/usr/bin/python3", "-c", "pass"], env={"PATH": "/usr/bin"}, workdir=str(work),
                                    private_dir=str(private), hidden=[], status=STATUS if STATUS.available else
                                    sandbox.SandboxStatus(True, "test", "/usr/bin/bwrap", "0", sandbox.BASE_FLAGS, True),
                                    limits={})
    rw = [argv[i + 2] for i in range(len(argv)) if argv[i] == "--bind"]
    assert sorted(rw) == sorted([str(work), str(private / "ipc")])
    font = sandbox.MPL_DIR + "/fontlist-v390.json"
    assert argv[argv.index(font) - 2:argv.index(font)] == ["--ro-bind", str(private / "mpl" / "fontlist-v390.json")]
    rules = dict(landlock.landlock_rules([(str(work), ["--bind"]), (str(private / "ipc"), ["--bind"])],
                                        str(private / "ipc")))
    assert rules[str(private / "ipc")] == landlock.LL_MAKE_SOCK | landlock.LL_REMOVE_FILE
    assert rules[str(work)] == landlock.LL_ALL


# ---------- 4. 形状先于运算 ----------

def _peak(fn):
    tracemalloc.start()
    try:
        fn()
    except AssertionError as exc:
        message = str(exc)
    else:
        message = ""
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, message


@pytest.mark.parametrize("check", ["expect_close", "expect_array", "diagnose"])
def test_a_huge_wrong_shape_is_rejected_before_any_arithmetic(check):
    big = np.zeros((8388608, 1), dtype=np.float32)  # 32 MiB；换成 float64 再与 (7,) 广播，要上千 MB
    calls = {"expect_close": lambda: _core.expect_close(big, np.arange(7.0), "dx"),
             "expect_array": lambda: _core.expect_array(big, (7,), "dx"),
             "diagnose": lambda: _core.diagnose(big, [(np.arange(7.0), "常见错误")], "默认提示")}
    peak, message = _peak(calls[check])
    assert peak < 2 ** 20, peak  # 不到 1 MiB：既没有转换，也没有广播
    if check == "diagnose":
        return
    assert message.splitlines()[0] == "dx 的形状应为 (7,)，你的是 (8388608, 1)。"


def test_control_converting_or_broadcasting_first_costs_memory():
    """对照：不先看形状时，转换成 float64（原来的 expect_array）或广播比较（np.allclose）的内存与答案大小成正比。"""
    big = np.zeros((8388608, 1), dtype=np.float32)
    peak, _ = _peak(lambda: np.asarray(big, dtype=np.float64))
    assert peak >= 64 * 2 ** 20
    small = np.zeros((262144, 1))
    peak, _ = _peak(lambda: np.allclose(small, np.arange(7.0)))
    assert peak >= 262144 * 7 * 8  # 至少一个广播出来的 (262144, 7) 临时数组


def test_right_shapes_still_compare_as_before():
    assert _core.expect_close(np.arange(3.0), np.arange(3.0), "x").shape == (3,)
    assert _core.diagnose(np.arange(3, dtype=np.int64), [(np.ones(2), "a"), (np.arange(3.0), "b")]) == "b"
    assert _core.diagnose([0.0, 1.0], [(np.arange(2.0), "c")]) == "c"
    with pytest.raises(_core.CheckFailure, match="不对"):
        _core.expect_close(np.arange(3.0) + 1, np.arange(3.0), "x")


# ---------- 一次真正的 autograde + generate_feedback ----------

CROWD = '''import os as _os
_os.makedirs("junk", exist_ok=True)
for _i in range(3000):
    open("junk/k%05d.txt" % _i, "w").close()
for _i in range(400):
    _os.makedirs("dirs/d%04d" % _i, exist_ok=True)
'''
CHATTY = FLOOD.replace("import os", "import os as os")
SCRATCH_KERNEL = '''import json as _json, os as _os
from ipykernel.connect import get_connection_file as _cf
_ipc = _os.path.join(_os.path.dirname(_os.path.dirname(_cf())), "ipc")
_res = {}
try:
    with open(_os.path.join(_ipc, "junk.bin"), "wb") as _f:
        for _ in range(40):
            _f.write(b"x" * 2 ** 20)
    _res["ipc"] = "ok"
except OSError as _e:
    _res["ipc"] = _e.strerror
print("SCRATCH_RESULT " + _json.dumps(_res))
'''


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("bounded")
    root = kit.build_course(str(base / "course"), str(ROOT / "nbgrader_config.py"), "c.Execute.timeout = 120\n")
    release = kit.release_notebook(root)
    kit.submit(root, "honest", kit.answer(copy.deepcopy(release)))
    honest_extra = Path(root) / "submitted" / "honest" / kit.ASSIGNMENT / "data" / "points.csv"
    honest_extra.parent.mkdir()
    honest_extra.write_text("1,2\n3,4\n")
    kit.submit(root, "crowd", kit.answer(copy.deepcopy(release), prefix={"mul_forward": CROWD}))
    folder = Path(root) / "submitted" / "crowd" / kit.ASSIGNMENT
    _empty_files(folder, 5000, "s")
    for i in range(30):
        nbformat.write(nbformat.v4.new_notebook(), str(folder / ("extra%02d.ipynb" % i)))
    kit.submit(root, "chatty", kit.answer(copy.deepcopy(release), prefix={"mul_forward": CHATTY}))
    kit.submit(root, "scratch", kit.answer(copy.deepcopy(release), prefix={"mul_forward": SCRATCH_KERNEL}))
    procs = [kit.run_nbgrader(root, "autograde", kit.ASSIGNMENT, timeout=900),
             kit.run_nbgrader(root, "generate_feedback", kit.ASSIGNMENT, timeout=900)]
    return {"root": Path(root), "procs": procs}


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_the_class_run_finishes_with_small_logs(graded):
    for proc in graded["procs"]:
        log = proc.stdout + proc.stderr
        assert proc.returncode == 0, log[-3000:]
        assert len(log) < 2 * 2 ** 20, len(log)  # 32 MiB 的转义序列没有进日志
        assert "\x1b]0;pwned" not in log


def test_every_student_gets_what_the_honest_code_earns(graded):
    full = sum(kit.POINTS.values())
    for student in ("honest", "crowd", "chatty", "scratch"):
        assert sum(kit.scores(str(graded["root"]), student).values()) == full, student


def test_the_honest_student_files_are_copied_as_before(graded):
    root = graded["root"]
    graded_files = _files(root / "autograded" / "honest" / kit.ASSIGNMENT)
    assert graded_files == sorted(["data/points.csv", kit.NOTEBOOK + ".ipynb", "timestamp.txt"])
    assert _files(root / "feedback" / "honest" / kit.ASSIGNMENT) == sorted(
        ["data/points.csv", kit.NOTEBOOK + ".html", "timestamp.txt"])
    assert not [r for r in report.collect(str(root / "autograded"), kit.ASSIGNMENT)
                if r["student"] == "honest" and r["notebook"] in (filesafe.FILES_NOTEBOOK,
                                                                  filesafe.FEEDBACK_FILES_NOTEBOOK)]


def test_the_crowded_folders_are_capped(graded):
    root = graded["root"]
    auto = root / "autograded" / "crowd" / kit.ASSIGNMENT
    files = _files(auto)
    assert kit.NOTEBOOK + ".ipynb" in files and "timestamp.txt" in files
    assert len(files) <= filesafe.MAX_FILES + 2  # 5000 个提交的文件 + 3000 个内核写下的文件，留下的不超过上限
    assert len([p for p in auto.rglob("*") if p.is_dir()]) <= filesafe.MAX_FILES
    feedback = _files(root / "feedback" / "crowd" / kit.ASSIGNMENT)
    assert kit.NOTEBOOK + ".html" in feedback and len(feedback) <= filesafe.MAX_FILES + 2
    events = " ".join(e["detail"] for r in report.collect(str(root / "autograded"), kit.ASSIGNMENT)
                      if r["student"] == "crowd" for e in r["events"])
    for words in ["最多复制 %d 个" % filesafe.MAX_FILES, "notebook，超过上限", "删掉了"]:
        assert words in events, (words, events[:2000])


def test_the_sandbox_wrote_nothing_into_the_socket_folder(graded):
    nb, _ = kit.autograded(str(graded["root"]), "scratch")
    lines = [x for x in kit.outputs_text(kit.find_cell(nb, "mul_forward")).splitlines()
             if x.startswith("SCRATCH_RESULT ")]
    assert lines, kit.outputs_text(kit.find_cell(nb, "mul_forward"))[:2000]
    result = json.loads(lines[0].split(" ", 1)[1])
    if STATUS.available and landlock.landlock_abi():
        assert result["ipc"] != "ok", result


# ---------- 4（续）. 各课检查里直接比较学生答案的地方，也是形状先于运算 ----------
# (4000000, 1) 的 float64 答案（32 MiB）对 (4,) 的期望值：广播出的每个临时数组就有 128 MB。
# 答案本身在 tracemalloc 开始之前就建好了，量到的只是检查自己的花费。

HUGE = (4_000_000, 1)
SMALL = np.arange(4.0)
BUDGET = 2 * 2 ** 20  # 2 MiB：既没有转换，也没有广播


def _checks():
    from course.checks import affine, apple_orange, chain_rule, softmax
    return {
        "softmax._close": (lambda big: softmax._close(big, SMALL, "dx", "提示", {"x": SMALL}, [(SMALL, "常见错误")]),
                           "dx 不对。"),
        "affine._compare": (lambda big: affine._compare(big, SMALL, SMALL, "dx", [(-SMALL, "符号反了")], {}, "提示"),
                            "dx 与数值微分（梯度确认）的结果不一致。"),
        "affine._same": (lambda big: affine._same(big, SMALL, "dx", "提示", {}),
                         "dx 与把 x 先展平成 (N, D) 再输入时的结果不同。"),
        "chain_rule._same_as_book": (lambda big: chain_rule._same_as_book(big, 220.0, SMALL), ""),
        "apple_orange._matches": (lambda big: apple_orange._matches(big, SMALL), ""),
    }


@pytest.mark.parametrize("helper", ["softmax._close", "affine._compare", "affine._same", "chain_rule._same_as_book",
                                    "apple_orange._matches"])
def test_lesson_helpers_reject_a_huge_wrong_shape_before_any_arithmetic(helper):
    fn, first_line = _checks()[helper]
    big = np.zeros(HUGE)
    results = []
    peak, message = _peak(lambda: results.append(fn(big)))
    assert peak < BUDGET, peak
    assert message.split("\n")[0] == first_line
    if not first_line:  # 不抛异常的两个：形状不同就是“不是书中的值”“不相符”
        assert results == [None] if helper == "chain_rule._same_as_book" else results == [False]


def test_training_sgd_step_does_not_broadcast_a_parameter_resized_in_place():
    from conftest import student
    from course.checks import training

    marks = []

    @student
    def sgd_resizes_b1(params, grads, lr):
        params["W1"] -= lr * grads["W1"]
        params["b1"].resize(HUGE, refcheck=False)  # 原地变成 (4000000, 1)：还是原来那个数组对象
        marks.append(tracemalloc.get_traced_memory()[0])  # 从这里量起：学生自己 resize 的 32 MiB 不算检查的花费
        tracemalloc.reset_peak()

    peak, message = _peak(lambda: training.check_sgd_step(sgd_resizes_b1, report=False))
    assert peak - marks[0] < BUDGET, peak - marks[0]
    assert message.split("\n")[0] == "sgd_step 之后 params['b1'] 的值不对。"


def test_autodiff_mlp_train_step_does_not_broadcast_the_parameter_values(monkeypatch):
    from conftest import student
    from course.checks import autodiff_mlp

    @student
    class Value:  # 检查只用到 +、*、data、grad、_prev、_backward；backward 什么也不做
        def __init__(self, data, _children=()):
            self.data, self.grad, self._prev, self._backward = data, 0.0, set(_children), lambda: None

        def __add__(self, other):
            other = other if isinstance(other, Value) else Value(other)
            return Value(self.data + other.data, (self, other))

        def __mul__(self, other):
            other = other if isinstance(other, Value) else Value(other)
            return Value(self.data * other.data, (self, other))

        def backward(self):
            pass

    @student
    def sgd_backward_twice(params, loss, lr):
        loss.backward()
        loss.backward()

    big = np.zeros(HUGE)
    monkeypatch.setattr(autodiff_mlp, "_datas", lambda values, what: big)  # 读回的参数值是 (4000000, 1) 的数组
    peak, message = _peak(lambda: autodiff_mlp.check_train_step(sgd_backward_twice, Value, report=False, n_params=4))
    assert peak < BUDGET, peak
    assert message.split("\n")[0] == "第 1 次 train_step 之后参数的值 的形状应为 (4,)，你的是 (4000000, 1)。"


def test_control_broadcasting_the_huge_answer_costs_memory():
    """对照：不先看形状，np.allclose 把 (4000000, 1) 与 (4,) 广播比较，临时数组至少 64 MiB。"""
    big = np.zeros(HUGE)
    peak, _ = _peak(lambda: np.allclose(big, SMALL))
    assert peak >= 64 * 2 ** 20, peak


class _ArrayLike:
    """像评分时的代理：没有 shape 属性，np.shape 经由 __array__ 得到。"""

    def __init__(self, arr):
        self.arr = arr

    def __array__(self, dtype=None, copy=None):
        return self.arr if dtype is None else self.arr.astype(dtype)

    def __len__(self):
        return len(self.arr)


def test_same_shape_reads_arrays_and_lists_without_converting_them():
    long_list = [0.0] * HUGE[0]
    peak, _ = _peak(lambda: _core.same_shape(long_list, (4,)))
    assert peak < BUDGET, peak  # 长度对不上就不转换
    assert _core.same_shape(np.zeros(HUGE), HUGE) and not _core.same_shape(np.zeros(HUGE), (4,))
    assert _core.same_shape(1.5, ()) and _core.same_shape(np.float64(2), ()) and not _core.same_shape(1.5, (1,))
    assert _core.same_shape([1.0, 2.0], (2,)) and _core.same_shape([[1.0], [2.0]], (2, 1))
    assert not _core.same_shape([1.0, 2.0], ()) and not _core.same_shape([[1.0], [2.0, 3.0]], (2,))
    assert _core.same_shape(_ArrayLike(SMALL), (4,)) and not _core.same_shape(_ArrayLike(SMALL), (4, 1))
