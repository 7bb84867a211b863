"""红队：学生代码记下隐藏测试的输入，想借反馈带回来（文件、后面公开部分的说明、异常类型名、改写旧输出）。

一次真正的 `nbgrader autograde` 加 `generate_feedback`（course.grading.batch.selftest 的小作业）。
add_backward 的隐藏测试传进来 default_rng(7) 的一个数组；学生把它的第一个数记成 MARK。
每个学生的反馈里都不能出现 MARK。对照：评分后的 notebook 和 autograded/ 文件夹（教师看的）里，
攻击确实留下了 MARK，挡住它的是反馈这一步。
"""
from pathlib import Path

import numpy as np
import pytest

from course.grading.batch import selftest as kit

ROOT = Path(__file__).resolve().parent.parent
MARK = "LEAK%.6f" % np.random.default_rng(7).normal(size=(2, 5)).flat[0]
CAPTURE = ("    import numpy as _n\n"
           "    if _n.ndim(dout) == 2:\n"
           "        _seen.append('LEAK%.6f' % _n.asarray(dout).flat[0])\n"
           "    return dout * 1, dout * 1")
STUDENTS = {
    # 写进工作目录的文件：generate_feedback 不把评分时写出的文件放进反馈
    "leak_file": {"add_backward": CAPTURE.replace(
        "        _seen.append", "        open('leak.txt', 'w').write('LEAK%.6f' % _n.asarray(dout).flat[0])\n"
                               "        _seen.append")},
    # 下一个测试单元的公开部分里抛出带着 MARK 的异常
    "leak_message": {"add_backward": CAPTURE,
                     "square_grad": "    if _seen:\n        raise ValueError(_seen[-1])\n    return 2 * x"},
    # 异常的类型名里带着 MARK（隐藏部分里抛出）
    "leak_typename": {"add_backward": CAPTURE.replace(
        "        _seen.append", "        raise type(('LEAK%.6f' % _n.asarray(dout).flat[0]).replace('.', '_').replace('-', 'm'),"
                               " (Exception,), {})()\n        _seen.append")},
    # 测试之后改写测试之前留下的输出（update_display）
    "leak_display": {"add_backward": CAPTURE,
                     "square_grad": "    if _seen:\n        _h.update(_seen[-1])\n    return 2 * x"},
}
PREFIX = {"leak_display": {"mul_forward": "_seen = []\nfrom IPython.display import display\n_h = display('早先的输出', display_id=True)\n"}}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    answers = {s: (a, PREFIX.get(s, {"mul_forward": "_seen = []\n"})) for s, a in STUDENTS.items()}
    return kit.grade_with_feedback(str(tmp_path_factory.mktemp("leaks") / "course"), str(ROOT / "nbgrader_config.py"),
                                   answers, "c.Execute.timeout = 20\n")


def _feedback_text(root, student):
    folder = Path(root, "feedback", student, kit.ASSIGNMENT)
    return {p.name: p.read_text(encoding="utf-8", errors="replace") for p in folder.rglob("*") if p.is_file()}


def _marks(text):
    return [m for m in (MARK, MARK.replace(".", "_").replace("-", "m")) if m in text]


@pytest.mark.parametrize("student", sorted(STUDENTS))
def test_no_hidden_input_reaches_the_feedback(course, student):
    files = _feedback_text(course, student)
    assert any(name.endswith(".html") for name in files), files.keys()
    for name, text in files.items():
        assert not _marks(text), "%s 的反馈文件 %s 里出现了隐藏测试的输入" % (student, name)


def test_control_the_attacks_really_captured_the_hidden_input(course):
    """对照：攻击是真的。文件写出来了，异常说明和改写的输出都带着 MARK（只在教师看的评分结果里）。"""
    assert MARK in Path(course, "autograded", "leak_file", kit.ASSIGNMENT, "leak.txt").read_text()
    nb, _ = kit.autograded(course, "leak_message")
    assert MARK in kit.outputs_text(kit.find_cell(nb, "test_square_grad"))


def test_honest_parts_still_score(course):
    # leak_message 的 square_grad 故意抛出异常；其余学生三个练习都做对了
    assert kit.scores(course, "leak_file") == {"test_mul_forward": 2.0, "test_add_backward": 3.0,
                                               "test_square_grad": 5.0}
    assert kit.scores(course, "leak_message")["test_square_grad"] == 0.0


def test_feedback_after_hidden_parts_says_what_happened_in_one_short_line(course):
    """隐藏测试之后没通过的单元：反馈里是一句短的、固定的说明（在无头 Chromium 里看过，一行放得下）；
    通过了的单元不多出“输出不显示”的提示（隐藏测试标记本身不算被隐去的输出）。"""
    from course.grading.feedback.hidden import RedactHiddenOutputs

    notice = RedactHiddenOutputs.after_hidden_notice.default_value
    assert len(notice) <= 40
    page = _feedback_text(course, "leak_message")[kit.NOTEBOOK + ".html"]
    assert notice in page
    honest_like = _feedback_text(course, "leak_file")[kit.NOTEBOOK + ".html"]  # 三个练习都通过了
    first_line = RedactHiddenOutputs.after_hidden_output.default_value.splitlines()[0]
    assert first_line not in honest_like and notice not in honest_like
