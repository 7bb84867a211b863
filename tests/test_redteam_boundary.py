"""红队（第二轮）：对着重写后的评分边界（peer.py 的协议、judge.py 的评判进程、boundary.py、feedback.py、
filesafe.py）再攻一遍。学生的代码在（沙箱里的）内核里，能改坏内核这一端的一切。

每个攻击是一个普通的测试：它断言的是“应当如此”（第一次写下时有三种还能得手，修好以后才通过）；
能便宜地做对照时，同一段攻击在去掉防线后确实得手。

单元级的测试与 tests/test_boundary_attacks.py 一样：评判进程的 Judge 在本进程里运行一个测试单元，
对面是一个线程里的“内核”（peer.serve_socket）。一次真正的 `nbgrader autograde` + `generate_feedback`
（course.grading.batch.selftest 的小作业）覆盖只有走完整条流水线才看得到的攻击。
"""
import json
import socket
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from course import boundary as wire
from course.grading.files import safe as filesafe
from course.grading.execute import judge
from course.grading.batch import selftest as kit

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- 单元级：一个测试单元，一个线程里的内核
def run_cell(source, student, names, patch_kernel=None, modules=None, j=None):
    """评判进程的 Judge 在本进程里跑一个测试单元；student 是“学生单元”的代码（在内核的命名空间里执行）。

    patch_kernel(peer_cls) 可以换掉内核一端 Peer 的行为（学生能改坏内核里的一切）：返回一个 Peer 的子类。
    返回 (outputs, trouble, judge)。"""
    ns = {"__name__": "__main__"}
    exec(compile(student, "<ipykernel_9>", "exec"), ns)  # noqa: S102  测试里的“学生代码”
    a, b = socket.socketpair()
    if j is None:
        j = judge.Judge()
        j.init({"modules": modules if modules is not None else {"np": "numpy"}, "names": names,
                "max_output": 10_000})
    kernel_cls = patch_kernel(wire.Peer) if patch_kernel else wire.Peer

    t = threading.Thread(target=wire.serve_socket, args=(b, None, ns, kernel_cls), daemon=True)
    t.start()
    outputs, trouble = j.run_cell(source, a, 10)
    t.join(5)
    return outputs, trouble, j


def passed(outputs, trouble):
    """nbgrader 的规矩（utils.determine_grade）：有错误输出或 stderr 就不得分。"""
    return trouble is None and not any(o["t"] == "error" or (o["t"] == "stream" and o["name"] == "stderr")
                                       for o in outputs)


def kit_test(grade_id):
    return kit._TESTS[grade_id]


# ---------------------------------------------------------------- 1. names 的回答里多塞名字
WRONG_ADD = '''
def add_backward(dout):
    return dout * 2, dout * 0
'''

INJECT_EXTRA = '''
class _Liar:
    def __eq__(self, other):
        return True
    __hash__ = object.__hash__
'''


def _extra_names(extra):
    """内核一端被学生改过：names 的回答里多出评判进程根本没有要的名字。"""

    def patch(base):
        class Patched(base):
            def _perform(self, msg):
                got = super()._perform(msg)
                if msg.get("op") == "names":
                    got = dict(got)
                    got.update(extra(self.namespace))
                return got
        return Patched
    return patch


def test_the_judge_binds_only_the_names_it_asked_for():
    """评判进程按固定名单要名字；内核多塞进来的名字（这里是 `dx`，一个对谁都说“相等”的对象）不该出现在
    测试单元的命名空间里。

    （今天 judge.Judge._bind 把 names 回答里的每个标识符都绑定进去，只排除了给定模块的别名：
    包括 `__builtins__`。课程现有的测试单元都先 import 再用、又总是先给名字赋值，所以这里的演示用的是一个
    先读 `dx` 的测试单元——它说明的是协议没有守住“评判进程只收它要的东西”。）"""
    src = "assert dx == 1.5\n"
    outputs, trouble, j = run_cell(src, WRONG_ADD + INJECT_EXTRA, ["add_backward"],
                                   patch_kernel=_extra_names(lambda ns: {"dx": ns["_Liar"]()}))
    assert "dx" not in j.ns and not passed(outputs, trouble)




BUILTINS_STUDENT = '''
import builtins as _b
_fake = dict(vars(_b))
_fake.update(isinstance=lambda *a: True, len=lambda *a: 2, zip=lambda *a: [], all=lambda *a: True,
             abs=lambda *a: 0)
__builtins__ = _fake

def add_backward(dout):
    return dout * 2, dout * 0
'''


def test_a_students_builtins_cannot_turn_a_wrong_answer_into_a_pass():
    """学生在自己的单元里写 `__builtins__ = {...}`，想让测试代码里的 len、isinstance、zip、abs 都说谎。
    评判进程不要双下划线的名字：bound_names 不列它，内核多送来也不绑定，测试照常判这个错误答案不通过。"""
    names = judge.bound_names([BUILTINS_STUDENT])
    assert "__builtins__" not in names
    fooled = ("dx, dy = add_backward(1.5)\n"
              "_got = add_backward(np.ones(3))\n"
              "assert isinstance(_got, tuple) and len(_got) == 2\n"
              "for _g, _e in zip(_got, (np.ones(3), np.ones(3))):\n"
              "    assert np.allclose(_g, _e)\n")
    outputs, trouble, _ = run_cell(kit_test("test_add_backward"), BUILTINS_STUDENT, names)
    assert not passed(outputs, trouble)
    outputs, trouble, _ = run_cell(fooled, BUILTINS_STUDENT, names)
    assert not passed(outputs, trouble)
    # 对照：评判进程若照旧把 __builtins__ 也要过来、绑定上，不 import 的测试代码真的被它骗了
    j = judge.Judge()
    j.init({"modules": {"np": "numpy"}, "names": names, "max_output": 10_000})
    j.names.append("__builtins__")
    j.asked = frozenset(j.names)
    outputs, trouble, _ = run_cell(fooled, BUILTINS_STUDENT, names, j=j)
    assert passed(outputs, trouble)


# ---------------------------------------------------------------- 2. 原地改写输入，让“期望值”跟着变
ZERO_IN_PLACE = '''
import numpy as np

def square_grad(x):
    x[...] = 0          # 把检查者手里的 x 改成 0：数值梯度、2 * x 都在这之后才算
    return np.zeros_like(x)
'''
ZEROS_ONLY = '''
import numpy as np

def square_grad(x):
    return np.zeros_like(x)
'''


def test_zeroing_the_input_in_place_does_not_earn_the_points():
    outputs, trouble, _ = run_cell(kit_test("test_square_grad"), ZERO_IN_PLACE, ["np", "square_grad"])
    assert not passed(outputs, trouble)


def test_control_the_same_wrong_answer_without_the_in_place_write_fails():
    outputs, trouble, _ = run_cell(kit_test("test_square_grad"), ZEROS_ONLY, ["np", "square_grad"])
    assert not passed(outputs, trouble)


def test_lesson_checks_catch_in_place_changes_of_their_inputs():
    """课程自己的检查（第 02 课 MulLayer.forward）在调用之后确认输入没被改动：同样的手法在那里不得分。
    对照：只改 x、不改 y 时也被抓到（检查逐个比较）。"""
    src = "from course.checks.simple_layers import check_mul_forward\ncheck_mul_forward(MulLayer)\n"
    student = ('class MulLayer:\n'
               '    def forward(self, x, y):\n'
               '        out = x * y\n'
               '        if hasattr(x, "__setitem__"):\n'
               '            x[...] = 0\n'
               '        return out\n'
               '    def backward(self, dout):\n'
               '        return dout, dout\n')
    outputs, trouble, _ = run_cell(src, student, ["MulLayer"])
    assert not passed(outputs, trouble)
    assert "改动了传进来的数组" in json.dumps(outputs, ensure_ascii=False)


# ---------------------------------------------------------------- 3. nbgrader 自己的文件名
def _converter(tmp_path):
    cd = SimpleNamespace(submitted_directory="submitted",
                         format_path=lambda folder, student, assignment: str(tmp_path / folder / student / assignment))
    return SimpleNamespace(coursedir=cd)


def test_a_file_the_kernel_writes_under_an_nbgrader_name_stays_out_of_feedback(tmp_path):
    """评分时内核在工作目录（autograded/）里写 submission_secret.txt，内容是隐藏测试的输入；
    提交里没有这个文件（学生用 nbgrader submit 交作业、没开 feedback secret 时就没有）。"""
    submitted = tmp_path / "submitted" / "s1" / "ps1"
    graded = tmp_path / "autograded" / "s1" / "ps1"
    submitted.mkdir(parents=True)
    graded.mkdir(parents=True)
    (submitted / "timestamp.txt").write_text("2024-01-01 00:00:00 UTC")
    (graded / "timestamp.txt").write_text("2024-01-01 00:00:00 UTC")
    (graded / "submission_secret.txt").write_text("LEAK-hidden-input-0.123456")
    (graded / "notes.txt").write_text("LEAK-hidden-input-0.123456")  # 对照：别的名字被挡住
    files = [str(graded / n) for n in ("timestamp.txt", "submission_secret.txt", "notes.txt")]
    keep, out = filesafe._as_submitted(_converter(tmp_path), "ps1", "s1", str(graded), files)
    assert "notes.txt" in out
    assert str(graded / "submission_secret.txt") not in keep


# ---------------------------------------------------------------- 4. 一次真正的 autograde + generate_feedback
MARK = "LEAK%.6f" % np.random.default_rng(7).normal(size=(2, 5)).flat[0]  # add_backward 隐藏测试的第一个输入
CAPTURE = ("    import numpy as _n\n"
           "    if _n.ndim(dout) == 2:\n"
           "        _seen.append('LEAK%.6f' % _n.asarray(dout).flat[0])\n"
           "{extra}"
           "    return dout * 1, dout * 1")
SECRET_FILE = CAPTURE.replace("{extra}", "        open('submission_secret.txt', 'w').write(_seen[-1])\n")
# 测试之后的下一个学生单元：开一个控件（comm_open 带着 state）。nbclient 把控件的 state 记下来，
# RobustExecute.preprocess 结束时 set_widgets_metadata() 写进评分后 notebook 的 metadata.widgets，
# 反馈 HTML 的模板（classic/base.html.j2 的 footer）把它原样嵌进 <script type="...widget-state+json">
WIDGET = ("if _seen:\n"
          "    from comm import create_comm\n"
          "    _w = create_comm(target_name='jupyter.widget', data={'state': {'_model_name': 'LeakModel',\n"
          "        '_model_module': '@jupyter-widgets/base', 'leak': _seen[-1]}, 'buffer_paths': []})\n")
STUDENTS = {
    "honest": ({}, {}),
    "secret_file": ({"add_backward": SECRET_FILE}, {"mul_forward": "_seen = []\n"}),
    "widget": ({"add_backward": CAPTURE.replace("{extra}", "")}, {"mul_forward": "_seen = []\n", "square_grad": WIDGET}),
    "zero_in_place": ({"square_grad": "    x[...] = 0\n    return np.zeros_like(x)"}, {}),
    "zeros_only": ({"square_grad": "    return np.zeros_like(x)"}, {}),
    "builtins": ({"add_backward": "    return dout * 2, dout * 0"},
                 {"mul_forward": BUILTINS_STUDENT.split("\ndef ")[0] + "\n"}),
}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return kit.grade_with_feedback(str(tmp_path_factory.mktemp("redteam") / "course"), str(ROOT / "nbgrader_config.py"),
                                   STUDENTS, "c.Execute.timeout = 20\n")


def _feedback_leaks(root, student):
    folder = Path(root, "feedback", student, kit.ASSIGNMENT)
    assert folder.is_dir() and any(p.suffix == ".html" for p in folder.iterdir()), folder
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and MARK in p.read_text("utf-8", "replace"))


def test_class_no_hidden_input_in_feedback_via_nbgrader_file_names(course):
    assert _feedback_leaks(course, "secret_file") == []


def test_class_no_hidden_input_in_feedback_via_widget_state(course):
    """测试之后的学生单元打开一个控件，state 里是隐藏输入：测试开始以后 RobustExecute 不把控件状态写进评分后的
    notebook（boundary.TrustedTests.set_widgets_metadata），反馈和教师看的评分结果里都没有它。"""
    assert _feedback_leaks(course, "widget") == []
    nb, _ = kit.autograded(course, "widget")
    assert MARK not in json.dumps(nb.metadata.get("widgets", {}))


def test_class_control_both_leaks_really_captured_the_hidden_input(course, tmp_path):
    """对照：两名学生确实记下了隐藏输入。文件就在教师看的 autograded/ 里；控件状态在保留测试之后的输出时
    （keep_outputs_after_tests，去掉这道防线）确实进了评分后的 notebook。"""
    import shutil

    graded = Path(course, "autograded", "secret_file", kit.ASSIGNMENT, "submission_secret.txt")
    assert graded.read_text() == MARK
    root = str(tmp_path / "copy")
    shutil.copytree(course, root)
    res = kit.run_nbgrader(root, "autograde", kit.ASSIGNMENT, "--student", "widget", "--force",
                           "--RobustExecute.keep_outputs_after_tests=True")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    nb, _ = kit.autograded(root, "widget")
    assert MARK in json.dumps(nb.metadata.get("widgets", {}))


def test_class_zeroing_the_input_earns_no_more_than_the_honest_zero(course):
    assert kit.scores(course, "zero_in_place")["test_square_grad"] == kit.scores(course, "zeros_only")[
        "test_square_grad"]


def test_class_builtins_override_and_honest_scores(course):
    assert kit.scores(course, "honest") == {"test_mul_forward": 2.0, "test_add_backward": 3.0,
                                            "test_square_grad": 5.0}
    assert kit.scores(course, "zeros_only")["test_square_grad"] == 0.0
    # 学生把 __builtins__ 换成说谎的字典：错误的 add_backward 照样 0 分
    assert kit.scores(course, "builtins")["test_add_backward"] == 0.0
