"""RobustExecute 的合作者（course/grading/execute/）各自拥有自己的状态，单独拿出来就能用、就能测。

不启动内核：输出预算只拿内核消息的字典；Recovery 拿一个假内核（只有 recovery.Kernel 协议的四个方法）；
评判会话拿一个假通道（内核没连上来就答完了请求），不启动评判进程；RobustExecute 本身只跑“读不了的提交”
那条不碰内核的路。最后从源码核对：每样状态只有它的主人写。
"""
import ast
import logging
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output
from traitlets.config import Config

from course.grading.execute.boundary import JudgeSession
from course.grading.execute.kernel_control import KernelChoice
from course.grading.execute.output_limits import OutputBudget
from course.grading.execute.recovery import PRIME, RESTORE, Recovery
from course.grading.execute.robust import CellWatch, RobustExecute
from course.grading.files.events import Report
from course.grading.sandbox.kernels import LimitedKernelManager, SandboxedKernelManager
from course.grading.submissions import GRADING_META

EXECUTE = Path(__file__).resolve().parent.parent / "course" / "grading" / "execute"
LOG = logging.getLogger("test_execute_parts")


def _stream(text, name="stdout"):
    return {"msg_type": "stream", "content": {"name": name, "text": text}}


def _report():
    return Report(LOG, "s", "a", "nb")


# ---------------------------------------------------------------- 输出预算
def test_the_output_budget_alone_caps_each_cell_and_the_notebook():
    budget = OutputBudget(per_cell=10, total=25, max_error_chars=5)
    first = _stream("x" * 8)
    assert budget.admit(first, 0) and first["content"]["text"] == "x" * 8
    cut = _stream("y" * 8)
    assert budget.admit(cut, 0) and cut["content"]["text"] == "yy"  # 本单元只剩 2 个字符
    assert not budget.admit(_stream("z" * 3), 0)  # 满了：丢掉
    assert not budget.admit(_stream("e" * 4, "stderr"), 0)
    assert budget.admit(_stream("a" * 10), 1) and budget.used == 20
    assert budget.admit(_stream("b" * 10), 2) and budget.used == 25  # 整个 notebook 只剩 5 个字符
    assert not budget.admit({"msg_type": "display_data", "content": {"data": {"text/plain": "c"}}}, 3)

    cell = new_code_cell("print(1)", outputs=[new_output("stream", name="stdout", text="x" * 8)])
    detail = budget.note_dropped(cell, 0)
    assert detail == "输出太多：省略了 2 条输出，约 0 KB"
    assert [o["name"] for o in cell.outputs[:2]] == ["stdout", "stderr"]  # 说明在最前面，丢过 stderr 就留一条 stderr
    assert budget.note_dropped(cell, 0) is None  # 说明只写一次
    assert budget.note_dropped(new_code_cell("pass"), 1) is None  # 没丢过就没有说明


def test_errors_are_never_dropped_only_shortened():
    budget = OutputBudget(per_cell=10, total=10, max_error_chars=5)
    assert budget.admit(_stream("x" * 10), 0) and not budget.admit(_stream("y"), 0)
    error = {"msg_type": "error", "content": {"ename": "E", "evalue": "v" * 50, "traceback": ["t" * 50] * 300}}
    assert budget.admit(error, 0)
    assert error["content"]["evalue"] == "v" * 5 and error["content"]["traceback"] == ["t" * 5] * 200


def test_two_budgets_do_not_share_counters():
    a, b = OutputBudget(10, 10, 100), OutputBudget(10, 10, 100)
    assert a.admit(_stream("x" * 10), 0)
    assert b.admit(_stream("x" * 10), 0) and b.used == 10


# ---------------------------------------------------------------- 复原与恢复
class FakeKernel:
    """recovery.Kernel 协议的假内核：记下每次调用；replay_fails 里的单元重放时出事一次（"all"：每个单元每次都出事）。"""

    def __init__(self, recovery_of=lambda: None, replay_fails=(), silent=None, replace_fails=False):
        self.calls, self.silent = [], list(silent or [])
        self.replay_fails = replay_fails if replay_fails == "all" else list(replay_fails)
        self.replace_fails, self.recovery_of = replace_fails, recovery_of

    def run_silent(self, code, timeout):
        self.calls.append(("silent", code, timeout))
        return self.silent.pop(0) if self.silent else ("ok", "")

    def death_cause(self):
        return "被信号 9 结束"

    def replace_kernel(self):
        self.calls.append(("replace",))
        if self.replace_fails:
            raise RuntimeError("起不来")

    def replay_cell(self, cell, index):
        self.calls.append(("replay", index, self.recovery_of().replaying))
        if self.replay_fails == "all":
            return "超时且没有回应"
        if index in self.replay_fails:
            self.replay_fails.remove(index)
            return "退出"
        return None


def _cells():
    test = new_code_cell("assert f() == 1", metadata={"nbgrader": {"grade": True, "grade_id": "t", "points": 1}})
    return [new_code_cell("a = 1"), new_code_cell("b = 2"), test, new_code_cell(""), new_code_cell("c = 3")]


def _recovery(kernel, report, max_restarts=3, **kw):
    recovery = Recovery(kernel, report, _cells(), max_restarts=max_restarts, silent_timeout=30, **kw)
    kernel.recovery_of = lambda: recovery
    return recovery


def test_recovery_replays_earlier_student_cells_and_skips_the_bad_ones():
    kernel, report = FakeKernel(replay_fails=[1]), _report()
    recovery = _recovery(kernel, report)
    recovery.recover(5, failed=4)
    replays = [c for c in kernel.calls if c[0] == "replay"]
    # 第一次重放到单元 1 出事；换内核再来，跳过 1。测试单元 2、空单元 3、出事的单元 4 从不重放；重放时 replaying 为真
    assert replays == [("replay", 0, True), ("replay", 1, True), ("replay", 0, True)]
    assert kernel.calls.count(("replace",)) == 2 and recovery.restarts == 2
    assert recovery.bad == {1, 4} and not recovery.replaying and recovery.given_up is None
    assert [e["kind"] for e in report.events] == ["replay"] and "被信号 9 结束" in report.events[0]["detail"]


def test_recovery_enforces_the_restart_limit_and_only_it_counts():
    kernel, report = FakeKernel(replay_fails="all"), _report()
    recovery = _recovery(kernel, report, max_restarts=2)
    recovery.recover(2)  # 单元 0 重放出事，换内核；单元 1 又出事；第三次超过上限，不再换内核
    assert recovery.restarts == 3 and kernel.calls.count(("replace",)) == 2 and recovery.bad == {0, 1}
    assert recovery.given_up == "内核已经重启了 2 次"
    assert report.events[-1]["kind"] == "gave-up"
    recovery.recover(2)  # 放弃以后再出事：仍然不换内核
    assert kernel.calls.count(("replace",)) == 2 and recovery.restarts == 4
    with pytest.raises(AttributeError):  # 别人只能读
        recovery.restarts = 0
    with pytest.raises(AttributeError):
        recovery.given_up = None


def test_recovery_gives_up_when_a_new_kernel_cannot_start():
    kernel, report = FakeKernel(replace_fails=True), _report()
    recovery = _recovery(kernel, report)
    recovery.recover(3)
    assert recovery.given_up == "无法恢复内核（起不来）" and recovery.restarts == 1


def test_the_guard_restores_before_tests_only_when_it_primed_and_restarts_a_dead_kernel():
    kernel, report = FakeKernel(silent=[("ok", ""), ("dead", "已退出"), ("ok", "")]), _report()
    recovery = _recovery(kernel, report, guard=True, guard_in_kernel=True)
    recovery.kernel_started()
    assert recovery.guard_ok and kernel.calls[0][:2] == ("silent", PRIME)
    assert recovery.before_test(2, "t")
    # 复原时内核死了：记一次重启，换内核（重新拍下原样），重放单元 0、1，再复原一次
    kinds = [c[0] if c[0] != "silent" else c[1] for c in kernel.calls]
    assert kinds == [PRIME, RESTORE, "replace", PRIME, "replay", "replay", RESTORE]
    assert [e["kind"] for e in report.events] == ["kernel-restart"] and recovery.restarts == 1

    quiet = FakeKernel()
    off = _recovery(quiet, _report(), guard=True, guard_in_kernel=False)  # 测试单元在评判进程里：内核里不拍、不复原
    off.kernel_started()
    assert off.before_test(2, "t") and quiet.calls == [] and not off.guard_ok


# ---------------------------------------------------------------- 一次单元运行
def test_the_cell_watch_knows_timeouts_and_exit_requests_and_begin_forgets_them():
    watch = CellWatch()
    watch.saw_timeout()
    watch.saw_reply({"content": {"payload": [{"source": "ask_exit", "keepkernel": False}]}})
    assert watch.timed_out and watch.asked_exit()
    watch.begin()
    assert not watch.timed_out and not watch.asked_exit()
    watch.saw_reply({"content": {"payload": [{"source": "ask_exit", "keepkernel": True}]}})
    assert not watch.asked_exit()


# ---------------------------------------------------------------- 内核选择
def test_the_kernel_choice_falls_back_only_before_student_code_ran(monkeypatch):
    from course.grading.sandbox import bubblewrap as sandbox

    monkeypatch.setenv(sandbox.ENV_VAR, "auto")
    choice = KernelChoice(None, LOG, None, None, "", "", True)
    choice._set(SandboxedKernelManager, "bwrap", sandbox.GradingSandbox(), object())
    assert not choice.fall_back(RuntimeError("x"), started=True) and choice.sandbox == "bwrap"
    assert choice.fall_back(RuntimeError("x"), started=False)
    assert choice.manager_class is LimitedKernelManager and choice.status is None
    assert choice.sandbox == "unavailable: 沙箱内核启动失败"
    assert not choice.fall_back(RuntimeError("x"), started=False)  # 已经不用沙箱了：没有可退的
    monkeypatch.setenv(sandbox.ENV_VAR, "required")
    required = KernelChoice(None, LOG, None, None, "", "", True)
    required._set(SandboxedKernelManager, "bwrap", sandbox.GradingSandbox(), object())
    assert not required.fall_back(RuntimeError("x"), started=False)


# ---------------------------------------------------------------- 评判会话
class AnsweringKernel:
    """评判会话用的假通道：内核不连上来，马上答完请求（就像学生改坏了导入）。"""

    def __init__(self):
        self.sent = []

    def private_dir(self):
        return ""

    def send_silent(self, code):
        self.sent.append(code)
        return "m%d" % len(self.sent)

    def wait_reply(self, msg_id, timeout):
        return "ok"

    def alive(self):
        return True

    def interrupt(self):
        raise AssertionError("不该中断")


def _session(keep_outputs=False):
    from course.grading.sandbox import bubblewrap as sandbox

    choice = KernelChoice(None, LOG, None, None, "", "", True)
    choice._set(LimitedKernelManager, "off", sandbox.GradingSandbox(), None)
    cells = _cells()
    return JudgeSession(AnsweringKernel(), _report(), LOG, cells, "", choice, keep_outputs=keep_outputs), cells


@pytest.mark.parametrize("keep", [False, True], ids=["hides", "control-keep-outputs"])
def test_the_judge_session_owns_when_tests_began(keep):
    session, cells = _session(keep_outputs=keep)
    later = new_code_cell("print(x)", outputs=[new_output("stream", name="stdout", text="hidden input 0.123")])
    session.after_tests(later)
    assert later.outputs[0]["text"] == "hidden input 0.123" and not session.tests_seen  # 测试之前：照旧
    try:
        outputs, trouble = session.run_cell(cells[2], 2)
    finally:
        session.close()
    assert outputs[0]["ename"] == "CellNotExecuted" and trouble is None
    assert session.tests_seen and session.hides_outputs is not keep
    session.after_tests(later)
    assert ("hidden input" in later.outputs[0]["text"]) is keep


def _display(text, display_id="d1"):
    return {"header": {"msg_type": "update_display_data"}, "msg_type": "update_display_data",
            "content": {"data": {"text/plain": text}, "metadata": {}, "transient": {"display_id": display_id}}}


def test_earlier_outputs_can_be_updated_before_the_tests_and_not_after():
    """display(..., display_id=True) 留下的输出：测试之前照常能更新（以前这里的签名不对，学生的单元因此出错、
    内核被重启）；测试开始以后，学生代码不能再改写它（它可能带着测试的输入）。"""
    session, cells = _session()
    ex = RobustExecute()
    ex.nb = new_notebook(cells=[new_code_cell("h = display('早先', display_id=True)", outputs=[
        new_output("display_data", data={"text/plain": "早先"})])])
    ex._display_id_map = {"d1": {0: [0]}}
    ex._trusted = session
    ex._update_display_id("d1", _display("更新了"))
    assert ex.nb.cells[0].outputs[0]["data"]["text/plain"] == "更新了"
    try:
        session.run_cell(cells[2], 2)
    finally:
        session.close()
    ex._update_display_id("d1", _display("LEAK 0.123"))
    assert ex.nb.cells[0].outputs[0]["data"]["text/plain"] == "更新了"


# ---------------------------------------------------------------- RobustExecute 只是转交
def test_robust_execute_has_no_mixins_and_hands_its_settings_to_fresh_collaborators():
    from nbgrader.preprocessors import Execute

    assert RobustExecute.__bases__ == (Execute,)
    cfg = Config()
    cfg.RobustExecute.max_kernel_restarts = 7
    cfg.RobustExecute.max_output_bytes_per_cell = 123
    cfg.RobustExecute.keep_outputs_after_tests = True
    ex = RobustExecute(config=cfg)
    nb = new_notebook(cells=_cells())
    nb.metadata[GRADING_META] = {"unreadable": "文件是空的"}  # 读不了的提交：不启动内核
    out, _ = ex.preprocess(nb, {"nbgrader": {"student": "s", "assignment": "a", "notebook": "n"}})
    assert out.cells[2].outputs[0]["ename"] == "SubmissionError"
    first = (ex._recovery, ex._budget, ex._trusted, ex._watch)
    assert ex._recovery.max_restarts == 7 and ex._budget.per_cell == 123 and ex._trusted.keep_outputs
    assert ex._report.sandbox == "not run"
    ex.preprocess(new_notebook(cells=_cells(), metadata={GRADING_META: {"unreadable": "x"}}), {})
    assert all(new is not old for new, old in zip((ex._recovery, ex._budget, ex._trusted, ex._watch), first))


# ---------------------------------------------------------------- 每样状态只有一个主人写
OWNERS = {  # 属性 → 唯一写它的 (文件, 类)
    "_restarts": ("recovery.py", "Recovery"), "_given_up": ("recovery.py", "Recovery"),
    "_bad": ("recovery.py", "Recovery"), "_replaying": ("recovery.py", "Recovery"),
    "_guard_ok": ("recovery.py", "Recovery"),
    "_cell_bytes": ("output_limits.py", "OutputBudget"), "_total_bytes": ("output_limits.py", "OutputBudget"),
    "_dropped": ("output_limits.py", "OutputBudget"),
    "_timed_out": ("robust.py", "CellWatch"), "_reply": ("robust.py", "CellWatch"),
    "_tests_seen": ("boundary.py", "JudgeSession"), "_judge": ("boundary.py", "JudgeSession"),
    "_tmp": ("boundary.py", "JudgeSession"), "_serve_answered": ("boundary.py", "JudgeSession"),
    "manager_class": ("kernel_control.py", "KernelChoice"), "status": ("kernel_control.py", "KernelChoice"),
}


def attribute_writers(folder):
    """{属性名: {(文件, 类)}}：folder 里哪些类给 self.<属性> 或 <别的对象>.<属性> 赋过值。"""
    out = {}
    for path in sorted(Path(folder).glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for cls in [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)] + [tree]:
            owner = (path.name, getattr(cls, "name", "<module>"))
            for node in ast.walk(cls):
                targets = node.targets if isinstance(node, ast.Assign) else \
                    [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
                for target in targets:
                    for t in ast.walk(target):
                        if isinstance(t, ast.Attribute) and isinstance(t.ctx, ast.Store):
                            out.setdefault(t.attr, set()).add(owner)
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                        node.func.attr in ("add", "append", "pop", "setdefault", "discard", "update") and \
                        isinstance(node.func.value, ast.Attribute):  # self._bad.add(...) 也是写
                    out.setdefault(node.func.value.attr, set()).add(owner)
    # 模块本身的那一项包含了所有类：只有写在类外面的才算模块
    for attr, owners in out.items():
        classes = {o for o in owners if o[1] != "<module>"}
        out[attr] = {o for o in owners if o[1] != "<module>" or not any(c[0] == o[0] for c in classes)}
    return out


def test_the_ownership_checker_sees_a_second_writer(tmp_path):
    """对照：另一个类也写 _restarts 时，检查会看到两个写的人。"""
    (tmp_path / "recovery.py").write_text("class Recovery:\n    def f(self):\n        self._restarts += 1\n")
    (tmp_path / "robust.py").write_text("class RobustExecute:\n    def g(self):\n"
                                        "        self._recovery._restarts = 0\n        self._bad.add(1)\n")
    writers = attribute_writers(tmp_path)
    assert writers["_restarts"] == {("recovery.py", "Recovery"), ("robust.py", "RobustExecute")}
    assert writers["_bad"] == {("robust.py", "RobustExecute")}


@pytest.mark.parametrize("attr", sorted(OWNERS))
def test_each_piece_of_state_has_one_writer(attr):
    assert attribute_writers(EXECUTE).get(attr) == {OWNERS[attr]}


# ---------------------------------------------------------------- 结束内核后等它死
@pytest.mark.parametrize("manager", [LimitedKernelManager, SandboxedKernelManager])
def test_kernel_managers_look_again_soon_after_killing_the_kernel(manager, monkeypatch):
    """jupyter_client 每 0.1 秒才看一次内核死了没有；课程的两种内核管理器从 1 毫秒开始、间隔加倍、最长仍是 0.1 秒。"""
    import asyncio

    from jupyter_client.manager import KernelManager

    slept = []

    async def fake_sleep(seconds):
        slept.append(seconds)

    def run(km_class, alive_for):
        km = km_class.__new__(km_class)
        checks = iter([True] * alive_for + [False])

        async def is_alive():
            return next(checks)

        km._async_is_alive = is_alive
        slept.clear()
        asyncio.run(km._async_wait(pollinterval=0.1))
        return list(slept)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    assert run(manager, 3) == [0.001, 0.002, 0.004]
    assert run(manager, 9)[-3:] == [0.064, 0.1, 0.1]  # 最长 pollinterval
    assert run(KernelManager, 3) == [0.1, 0.1, 0.1]  # 对照：jupyter_client 自己的
