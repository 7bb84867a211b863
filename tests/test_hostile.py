"""坏提交不会拖垮评分：每种情况拿到它诚实部分应得的分，原因记在日志和报告里，
反馈里不出现隐藏测试，别的学生、成绩库和 source/ 都不受影响。

用 course.grading.batch.selftest 在临时文件夹里建一份小作业（mul_forward 2 分、add_backward 3 分、
square_grad 5 分），交上二十多份各有毛病的提交，用真正的 `nbgrader autograde` 一次评完。
"""
import copy
import hashlib
import json
import os
import re
from pathlib import Path

import nbformat
import pytest

from course.grading.batch import selftest as kit

ROOT = Path(__file__).resolve().parent.parent
FULL = {"test_mul_forward": 2.0, "test_add_backward": 3.0, "test_square_grad": 5.0}
ZERO = {k: 0.0 for k in FULL}
WRONG_ADD = "    return dout * 2, dout * 0"
HARDCODED = {"mul_forward": "    return 6.0", "add_backward": "    return 1.5, 1.5",
             "square_grad": "    return np.array([2.0, -4.0, 6.0])"}
SWALLOW = ("def _swallow(lines):\n"
           "    return ['try:\\n'] + ['    ' + l for l in lines] + ['\\nexcept BaseException:\\n    pass\\n']\n"
           "get_ipython().input_transformers_post.append(_swallow)\n")
LEAK = ("    import linecache, sys\n"
        "    print(''.join(linecache.getlines(sys._getframe(1).f_code.co_filename)))\n")


def scores(**kw):
    return dict(FULL, **{"test_" + k: float(v) for k, v in kw.items()})


def _edit_test(nb, grade_id, source):
    kit.find_cell(nb, grade_id).source = source
    return nb


def _without(nb, grade_id):
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
    return nb


def _duplicate(nb, grade_id):
    dup = copy.deepcopy(kit.find_cell(nb, grade_id))
    dup["id"] = "copied"
    nb.cells.append(dup)
    return nb


def _to_markdown(nb, *grade_ids):
    for gid in grade_ids:
        cell = kit.find_cell(nb, gid)
        cell.cell_type = "markdown"
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
    return nb


# 学生 -> (改学生版的函数, 期望分数, 报告里应有的事件种类)
CASES = {
    "honest": (lambda nb: kit.answer(nb), FULL, set()),
    "blank": (lambda nb: nb, ZERO, set()),
    "exc_top": (lambda nb: kit.answer(nb, prefix={"add_backward": "raise RuntimeError('顶层出错')\n"}),
                scores(add_backward=0), set()),
    "infinite_loop": (lambda nb: kit.answer(nb, {"add_backward": "    while True:\n        pass"}),
                      scores(add_backward=0), {"timeout"}),
    "ignores_sigint": (lambda nb: kit.answer(nb, {"add_backward": (
        "    import signal\n    signal.signal(signal.SIGINT, signal.SIG_IGN)\n    while True:\n        pass")}),
        scores(add_backward=0), {"kernel-restart", "suspicious"}),
    "dies_in_test": (lambda nb: kit.answer(nb, {"add_backward": "    import os\n    os._exit(3)"}),
                     scores(add_backward=0), {"kernel-restart"}),
    "dies_top_level": (lambda nb: kit.answer(nb, prefix={"mul_forward": "import os\nos._exit(1)\n"}),
                       scores(mul_forward=0), {"kernel-restart"}),
    # 调用 exit() 的单元不会被重放，它定义的函数也就没有了
    "calls_exit": (lambda nb: kit.answer(nb, {"add_backward": "    return dout * 1, dout * 1\nexit()"}),
                   scores(add_backward=0), {"kernel-restart"}),
    "memory_hog": (lambda nb: kit.answer(nb, {"square_grad": "    hog = []\n    while True:\n"
                                                             "        hog.append(bytearray(50_000_000))"}),
                   scores(square_grad=0), set()),
    "test_edited": (lambda nb: _edit_test(kit.answer(nb, {"add_backward": WRONG_ADD}), "test_add_backward", "pass"),
                    scores(add_backward=0), set()),
    "test_deleted": (lambda nb: _without(kit.answer(nb), "test_mul_forward"), FULL, set()),
    "test_copied": (lambda nb: _duplicate(kit.answer(nb), "test_add_backward"), FULL, set()),
    # nbgrader 按原来的类型评分：改成 markdown 的测试单元和练习单元都被换回代码单元
    "type_changed": (lambda nb: _to_markdown(kit.answer(nb), "test_square_grad", "mul_forward"), FULL, set()),
    "hardcoded": (lambda nb: kit.answer(nb, HARDCODED), ZERO, set()),
    "monkeypatch": (lambda nb: kit.answer(nb, HARDCODED, prefix={"mul_forward": (
        "import numpy, builtins\nimport course.checks._core as _c\nimport course.gradcheck as _g\n"
        "numpy.allclose = lambda *a, **k: True\nnumpy.testing.assert_allclose = lambda *a, **k: None\n"
        "_c.expect_close = lambda *a, **k: None\n_g.numerical_gradient = lambda f, x, h=1e-5: x * 2\n"
        "builtins.abs = lambda x: 0\nnp = numpy\n")}), ZERO, {"suspicious"}),
    "no_tracebacks": (lambda nb: kit.answer(nb, dict(HARDCODED, mul_forward="    return x * y"), prefix={
        "mul_forward": ("import sys\nfrom IPython.core.interactiveshell import InteractiveShell\n"
                        "get_ipython().showtraceback = lambda *a, **k: None\n"
                        "InteractiveShell.showtraceback = lambda *a, **k: None\n"
                        "sys.excepthook = lambda *a: None\n")}), scores(add_backward=0, square_grad=0),
        {"suspicious"}),
    # 把之后每个单元都包进 try/except：没有“测试前复原”时，下一个测试单元无论对错都会通过
    "swallows_errors": (lambda nb: kit.answer(nb, HARDCODED, prefix={"mul_forward": SWALLOW}), ZERO, {"suspicious"}),
    "system_exit": (lambda nb: kit.answer(nb, {
        "add_backward": "    return dout * 1, dout * 1\nimport sys\nsys.exit(0)",
        "square_grad": "    raise SystemExit('bye')"}), scores(square_grad=0), {"suspicious"}),
    # matplotlib 的 inline 后端会注册事件回调：测试前复原必须照常工作，图也不影响评分
    "plots": (lambda nb: kit.answer(nb, prefix={"add_backward": (
        "import matplotlib\nmatplotlib.use('module://matplotlib_inline.backend_inline')\n"
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\n")}), FULL, set()),
    "fake_pass": (lambda nb: kit.answer(nb, {"add_backward": "    print('✔ add_backward：公开测试通过')\n"
                                                             "    return dout, 0"}), scores(add_backward=0), set()),
    "flood": (lambda nb: kit.answer(nb, {
        "add_backward": "    print('\\n'.join(map(str, range(100_000))))\n    return dout * 1, dout * 1\n"
                        "print('\\n'.join(map(str, range(2_000_000))))\nfor i in range(20_000):\n    print(i)",
        "square_grad": "    return 2 * x\nnp.set_printoptions(threshold=10**9)\nprint(np.zeros((700, 700)))"}),
        FULL, {"output-truncated"}),
    "leaks_hidden": (lambda nb: kit.answer(nb, {
        "add_backward": LEAK + "    return dout * 1, dout * 1",
        "square_grad": "    import linecache, sys\n"
                       "    raise ValueError(''.join(linecache.getlines(sys._getframe(1).f_code.co_filename)))"}),
        scores(square_grad=0), {"suspicious"}),
}
# 红队：想在学生自己的进程里伪造“通过”的各种手法。测试单元在评分进程里运行（course/grading/execute/boundary.py），
# 这些手法改得了内核里的一切，却碰不到比较：错误答案（HARDCODED）照样 0 分，诚实的部分照样得分
IMPORT_HOOK = (
    "import sys, types, importlib.abc, importlib.machinery\n"
    "class _Fake(importlib.abc.MetaPathFinder, importlib.abc.Loader):\n"
    "    def find_spec(self, name, path, target=None):\n"
    "        if name.startswith('course.checks') or name == 'course.gradcheck':\n"
    "            return importlib.machinery.ModuleSpec(name, self, is_package=True)\n"
    "    def create_module(self, spec):\n"
    "        return None\n"
    "    def exec_module(self, module):\n"
    "        module.__getattr__ = lambda name: (lambda *a, **k: None)\n"
    "sys.meta_path.insert(0, _Fake())\n"
    "for _k in [k for k in sys.modules if k.startswith('course')]:\n"
    "    del sys.modules[_k]\n")
GUARD_AND_PATCH = (
    "import numpy, course.checks.guard as _gd, course.checks._core as _c\n"
    "_gd.restore = lambda *a, **k: None\n_gd.snapshot = lambda *a, **k: None\n"
    "numpy.allclose = lambda *a, **k: True\n_c.expect_close = lambda *a, **k: a[0]\n")
CODE_REWRITE = (
    "import numpy, course.checks._core as _c\n"
    "numpy.allclose.__code__ = (lambda *a, **k: True).__code__\n"
    "_c.expect_close.__code__ = (lambda got, *a, **k: got).__code__\n")
BLANK_CELLS = (
    "import ast\n"
    "class _Blank(ast.NodeTransformer):\n"
    "    def visit_Module(self, node):\n"
    "        return ast.Module(body=[ast.Pass()], type_ignores=[])\n"
    "get_ipython().ast_transformers.append(_Blank())\n")
RUN_CELL = (
    "_ip = get_ipython()\n"
    "async def _nothing(*a, **k):\n"
    "    from IPython.core.interactiveshell import ExecutionResult, ExecutionInfo\n"
    "    return ExecutionResult(ExecutionInfo('', False, False, False, None))\n"
    "_ip.run_cell_async = _nothing\n")
REPATCH = (
    "import threading, signal, sys, numpy, time\n"
    "def _patch(*a):\n"
    "    numpy.allclose = lambda *a, **k: True\n"
    "    return _patch\n"
    "def _loop():\n"
    "    while True:\n"
    "        _patch()\n"
    "        time.sleep(0.001)\n"
    "threading.Thread(target=_loop, daemon=True).start()\n"
    "signal.signal(signal.SIGALRM, _patch)\nsignal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)\n"
    "sys.settrace(_patch)\n")
FRAME_READER = (
    "    import sys\n"
    "    class _Echo:\n"
    "        def __array__(self, dtype=None, copy=None):\n"
    "            f = sys._getframe(1)\n"
    "            while f is not None:\n"
    "                for k in ('expected', 'exp', 'want', 'b'):\n"
    "                    v = f.f_locals.get(k)\n"
    "                    if v is not None and hasattr(v, 'shape'):\n"
    "                        return numpy.asarray(v, dtype=dtype)\n"
    "                f = f.f_back\n"
    "            return numpy.zeros(3)\n"
    "    import numpy\n"
    "    return _Echo()")
FAKE_RESULT = (
    "    ip = get_ipython()\n"
    "    ip.kernel.session.send(ip.kernel.iopub_socket, 'execute_result', {'data': {'text/plain': '3'},\n"
    "        'metadata': {}, 'execution_count': 1}, parent=ip.kernel.get_parent())\n"
    "    ip.kernel.session.send = lambda *a, **k: None\n"
    "    return dout * 2, dout * 0")
NO_IMPORT = (
    "import builtins\n_orig_import = builtins.__import__\n"
    "def _no_course(name, *a, **k):\n"
    "    if name.startswith('course'):\n"
    "        raise ImportError('不许导入 ' + name)\n"
    "    return _orig_import(name, *a, **k)\n"
    "builtins.__import__ = _no_course\n")
STASH = ("    _seen.append(repr(dout))\n    return dout * 1, dout * 1")
CASES.update({
    "rt_import_hook": (lambda nb: kit.answer(nb, HARDCODED, prefix={"mul_forward": IMPORT_HOOK}), ZERO, set()),
    "rt_guard_patch": (lambda nb: kit.answer(nb, HARDCODED, prefix={"mul_forward": GUARD_AND_PATCH}), ZERO,
                       {"suspicious"}),
    "rt_code_rewrite": (lambda nb: kit.answer(nb, HARDCODED, prefix={"mul_forward": CODE_REWRITE}), ZERO,
                        {"suspicious"}),
    "rt_blank_cells": (lambda nb: kit.answer(nb, HARDCODED, prefix={"mul_forward": BLANK_CELLS}), ZERO, set()),
    "rt_run_cell": (lambda nb: kit.answer(nb, HARDCODED, prefix={"mul_forward": RUN_CELL}), ZERO, set()),
    "rt_repatch": (lambda nb: kit.answer(nb, HARDCODED, prefix={"mul_forward": REPATCH}), ZERO, {"suspicious"}),
    # 只有 square_grad 想从调用者的帧里读期望值；另外两个练习是诚实的
    "rt_frame_reader": (lambda nb: kit.answer(nb, {"square_grad": FRAME_READER}), scores(square_grad=0), set()),
    # 它还让内核再也发不出消息：这个单元之后内核不回应，被重启
    "rt_fake_result": (lambda nb: kit.answer(nb, {"add_backward": FAKE_RESULT}), scores(add_backward=0),
                       {"kernel-restart"}),
    # 让内核连评分通道都导入不了：测试单元不执行、记 0 分，也不会让评分一直等下去
    "rt_no_import": (lambda nb: kit.answer(nb, HARDCODED, prefix={"mul_forward": NO_IMPORT}), ZERO, set()),
    # add_backward 把隐藏测试传进来的 dout 记下，下一个单元打印出来：评分结果里不保留这样的输出
    "rt_stash": (lambda nb: kit.answer(nb, {"add_backward": STASH}, prefix={
        "add_backward": "_seen = []\n", "square_grad": "print('STASH', _seen)\n"}), FULL, set()),
})
RAW = {  # 学生 -> (文件名, 原始内容或 None 表示参考答案的 JSON)
    "renamed": (kit.NOTEBOOK + "-Copy1.ipynb", None),
    "invalid_json": (kit.NOTEBOOK + ".ipynb", '{"cells": [{"cell_type": "code", "source": '),
    "empty_file": (kit.NOTEBOOK + ".ipynb", ""),
}
EXTRA = """
c.Execute.timeout = 10
c.Execute.iopub_timeout = 2
c.RobustExecute.probe_timeout = 3
c.RobustExecute.max_output_bytes_per_cell = 300_000
c.RobustExecute.max_output_bytes_total = 1_000_000
c.GradingSandbox.memory_mb = 1536
"""


def _digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _all_files(folder):
    return {str(p.relative_to(folder)): _digest(p) for p in sorted(Path(folder).rglob("*")) if p.is_file()}


# 两门课程同时评分（两个 nbgrader 进程），各占一半学生：超时和重启的等待可以重叠
GROUPS = [
    ["honest", "infinite_loop", "flood", "memory_hog", "dies_top_level", "test_edited", "test_copied", "hardcoded",
     "no_tracebacks", "fake_pass", "leaks_hidden", "empty_file", "plots"],
    ["blank", "ignores_sigint", "dies_in_test", "calls_exit", "exc_top", "test_deleted", "type_changed",
     "monkeypatch", "swallows_errors", "system_exit", "renamed", "invalid_json"],
]
GROUPS[0] += ["rt_import_hook", "rt_code_rewrite", "rt_run_cell", "rt_frame_reader", "rt_stash"]
GROUPS[1] += ["rt_guard_patch", "rt_blank_cells", "rt_repatch", "rt_fake_result", "rt_no_import"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    assert sorted(sum(GROUPS, [])) == sorted(list(CASES) + list(RAW))
    base = tmp_path_factory.mktemp("hostile")
    courses, procs = [], []
    for i, group in enumerate(GROUPS):
        root = kit.build_course(str(base / ("course%d" % i)), str(ROOT / "nbgrader_config.py"), EXTRA)
        release = kit.release_notebook(root)
        for student in group:
            if student in CASES:
                kit.submit(root, student, CASES[student][0](copy.deepcopy(release)))
            else:
                filename, raw = RAW[student]
                if raw is None:
                    raw = nbformat.writes(kit.answer(copy.deepcopy(release)))
                kit.submit(root, student, raw=raw, filename=filename)
        before = {"source": _all_files(os.path.join(root, "source")),
                  "submitted": _all_files(os.path.join(root, "submitted"))}
        courses.append({"root": root, "before": before, "students": group})
        procs.append(kit.start_nbgrader(root, "autograde", kit.ASSIGNMENT))
    for course, proc in zip(courses, procs):
        out, err = proc.communicate(timeout=900)
        course.update(returncode=proc.returncode, log=out + err)
    return {"courses": courses, "root": {s: c["root"] for c in courses for s in c["students"]},
            "log": {s: c["log"] for c in courses for s in c["students"]}}


def _report(root, student):
    path = Path(root, "autograded", ".grading-reports", kit.ASSIGNMENT, student, kit.NOTEBOOK + ".json")
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_whole_run_succeeds(graded):
    for course in graded["courses"]:
        assert course["returncode"] == 0, course["log"][-6000:]
        assert "There was an error processing assignment" not in course["log"], course["log"][-6000:]


@pytest.mark.parametrize("student", sorted(CASES))
def test_each_submission_gets_the_points_its_honest_parts_earn(graded, student):
    _, expected, _ = CASES[student]
    assert kit.scores(graded["root"][student], student) == expected


@pytest.mark.parametrize("student", sorted(CASES))
def test_each_reason_is_recorded(graded, student):
    _, _, kinds = CASES[student]
    rep = _report(graded["root"][student], student)
    assert rep["student"] == student and rep["sandbox"]
    got = {e["kind"] for e in rep["events"]}
    assert kinds <= got, rep["events"]
    assert "guard" not in got, rep["events"]  # 测试前的复原本身从不失败
    if not kinds:
        assert not got & {"kernel-restart", "gave-up", "timeout"}, rep["events"]


@pytest.mark.parametrize("student", sorted(RAW))
def test_unreadable_or_missing_notebooks_count_as_missing(graded, student):
    assert kit.scores(graded["root"][student], student) == ZERO
    nb, _ = kit.autograded(graded["root"][student], student)
    assert "按缺交处理" in nb.cells[0].source
    rep = _report(graded["root"][student], student)
    assert [e["kind"] for e in rep["events"]] == ["unreadable"]
    assert re.search(r"\[评分 %s/ps1" % student, graded["log"][student]), "日志里没有说明 %s 的情况" % student


def test_renamed_notebook_is_named_in_the_log(graded):
    assert "layers-Copy1.ipynb" in graded["log"]["renamed"] and "改了名字" in graded["log"]["renamed"]


def test_timeouts_and_restarts_are_bounded_and_later_cells_still_run(graded):
    nb, _ = kit.autograded(graded["root"]["ignores_sigint"], "ignores_sigint")
    add = kit.outputs_text(kit.find_cell(nb, "test_add_backward"))
    assert "CellTimeoutError" in add
    square = kit.find_cell(nb, "test_square_grad")
    assert square.execution_count is not None and not any(o.output_type == "error" for o in square.outputs)
    nb, _ = kit.autograded(graded["root"]["infinite_loop"], "infinite_loop")
    assert "CellTimeoutError" in kit.outputs_text(kit.find_cell(nb, "test_add_backward"))


def test_memory_exhaustion_becomes_a_memory_error_or_a_restart(graded):
    nb, _ = kit.autograded(graded["root"]["memory_hog"], "memory_hog")
    text = kit.outputs_text(kit.find_cell(nb, "test_square_grad"))
    assert "MemoryError" in text or "DeadKernelError" in text, text[:500]


def test_output_floods_are_capped(graded):
    _, path = kit.autograded(graded["root"]["flood"], "flood")
    assert os.path.getsize(path) < 1_500_000
    nb, _ = kit.autograded(graded["root"]["flood"], "flood")
    # 测试期间学生代码打印的东西不进测试单元（测试在评分进程里运行，只记录它自己的输出）；
    # 学生单元的刷屏被截短后，又因为在测试单元之后运行而整个换成一句说明
    assert kit.outputs_text(kit.find_cell(nb, "test_add_backward")).count("\n") < 20
    assert "不保留测试单元之后" in kit.outputs_text(kit.find_cell(nb, "add_backward"))


def test_submissions_and_source_are_untouched(graded):
    for course in graded["courses"]:
        assert _all_files(os.path.join(course["root"], "source")) == course["before"]["source"]
        assert _all_files(os.path.join(course["root"], "submitted")) == course["before"]["submitted"]


def test_feedback_never_shows_hidden_tests(graded):
    students = ["leaks_hidden", "ignores_sigint", "monkeypatch"]
    for s in students:
        res = kit.run_nbgrader(graded["root"][s], "generate_feedback", kit.ASSIGNMENT, "--student", s)
        assert res.returncode == 0, res.stdout + res.stderr
    hidden_bits = ["default_rng(", "_dx, _dy = add_backward", "_expect_close(square_grad", "from course.checks.guard"]
    for s in students:
        page = Path(graded["root"][s], "feedback", s, kit.ASSIGNMENT, kit.NOTEBOOK + ".html")
        html = page.read_text(encoding="utf-8")
        for bit in hidden_bits:
            assert bit not in html, "%s 的反馈里出现了隐藏测试：%s" % (s, bit)
    # 隐藏测试的源码根本不发给内核：学生代码读调用者的源码，读到的是评分通道（peer.py），
    # 评分后的 notebook 里也没有隐藏测试的输出（反证见 test_hidden_tests_leak_without_the_boundary）
    for s in students:
        nb, _ = kit.autograded(graded["root"][s], s)
        text = "\n".join(kit.outputs_text(c) for c in nb.cells if c.cell_type == "code")
        for bit in hidden_bits:
            assert bit not in text, "%s 的评分结果里出现了隐藏测试：%s" % (s, bit)


def _regrade(graded, tmp_path, student, *options):
    """把 student 的课程复制一份，带着 options 重新评这名学生，返回复制出来的课程根目录。"""
    import shutil

    root = str(tmp_path / "copy")
    shutil.copytree(graded["root"][student], root)
    res = kit.run_nbgrader(root, "autograde", kit.ASSIGNMENT, "--student", student, "--force", *options)
    assert res.returncode == 0, res.stdout + res.stderr
    return root


def test_values_the_tests_passed_in_are_not_echoed_by_later_cells(graded, tmp_path):
    nb, _ = kit.autograded(graded["root"]["rt_stash"], "rt_stash")
    text = "\n".join(kit.outputs_text(c) for c in nb.cells if c.cell_type == "code")
    assert "STASH" not in text
    # 反证：保留测试之后的输出时，学生的确把测试的输入打印了出来
    root = _regrade(graded, tmp_path, "rt_stash", "--RobustExecute.keep_outputs_after_tests=True")
    nb, _ = kit.autograded(root, "rt_stash")
    assert "'array([[ 1.23015336e-03" in "\n".join(kit.outputs_text(c) for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("student", ["rt_guard_patch", "rt_code_rewrite", "rt_blank_cells", "rt_import_hook"])
def test_the_forgeries_win_when_tests_run_inside_the_kernel(graded, tmp_path, student):
    """反证：测试单元回到内核里运行时，这些手法的确能让错误答案拿分。"""
    root = _regrade(graded, tmp_path, student, "--RobustExecute.trusted_tests=False")
    assert sum(kit.scores(root, student).values()) > 0


def test_hidden_tests_leak_without_the_boundary(graded, tmp_path):
    """反证：测试单元回到内核里运行（trusted_tests=False）时，leaks_hidden 的确把隐藏测试打印进了评分结果。"""
    root = _regrade(graded, tmp_path, "leaks_hidden", "--RobustExecute.trusted_tests=False")
    nb, _ = kit.autograded(root, "leaks_hidden")
    assert "default_rng(7)" in kit.outputs_text(kit.find_cell(nb, "test_add_backward"))


def test_grading_report_cli_lists_the_events(graded):
    import subprocess
    import sys

    root = graded["root"]["ignores_sigint"]
    res = subprocess.run([sys.executable, "-m", "course", "grading-report", kit.ASSIGNMENT, "--course", root],
                         capture_output=True, text=True, env=dict(os.environ, LANG="C.UTF-8"))
    assert res.returncode == 0
    assert "ignores_sigint" in res.stdout and "kernel-restart" in res.stdout
    assert "/ blank /" not in res.stdout  # 没有事件的提交默认不列出


def test_the_pre_test_restore_is_what_stops_the_swallowing_trick(graded, tmp_path):
    """反证：关掉 RobustExecute 的“测试前复原”，swallows_errors 的第一个测试单元就能白拿分。"""
    root = _regrade(graded, tmp_path, "swallows_errors", "--RobustExecute.guard=False",
                    "--RobustExecute.trusted_tests=False")
    assert kit.scores(root, "swallows_errors")["test_mul_forward"] == 2.0
