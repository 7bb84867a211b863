"""course.lesson（先完成练习 N、评分时缩小演示）、CheckFailure 的显示、概念题检查。"""
import pytest

from course.checks._core import CheckFailure, call
from course.checks.concepts import check_choice, check_value, digest, normalize_choice
from course.lesson import grading_mode, needs, quick, ready


def test_needs_turns_unfinished_exercise_into_one_line(capsys):
    def stub():
        raise NotImplementedError

    with needs("练习 2", "AddLayer") as guard:
        stub()
    out = capsys.readouterr().out
    assert guard.ok is False
    assert "先完成练习 2" in out and "AddLayer" in out and "Traceback" not in out


def test_needs_reports_missing_names_and_other_errors(capsys):
    with needs("练习 3"):
        undefined_name_from_a_failed_cell  # noqa: B018,F821
    out = capsys.readouterr().out
    assert "先完成练习 3 并运行" in out and "练习 3 的结果" in out  # 数字后接汉字时空一格
    with needs("练习 3"):
        None + 1
    out = capsys.readouterr().out
    assert "TypeError" in out and "练习 3 的检查通过" in out


def test_needs_is_silent_when_done_and_lets_interrupts_through(capsys):
    with needs("练习 1") as guard:
        x = 1 + 1
    assert guard.ok is True and x == 2 and capsys.readouterr().out == ""
    with pytest.raises(KeyboardInterrupt):
        with needs("练习 1"):
            raise KeyboardInterrupt


def test_ready_probes_and_rejects_bad_arguments(capsys):
    assert ready("练习 1", lambda: 1) is True
    assert ready("练习 1", lambda: 1 / 0) is False
    assert "ZeroDivisionError" in capsys.readouterr().out
    with pytest.raises(TypeError, match="不带参数的函数"):
        ready("练习 1", 42)
    with pytest.raises(TypeError, match="练习的名字"):
        needs(3)


def test_quick_follows_nbgrader_execution(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert grading_mode() is None and quick(full=40, fast=2) == 40
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert grading_mode() == "autograde" and quick(full=40, fast=2) == 2


def test_check_failure_renders_as_its_message_only():
    lines = CheckFailure("MulLayer.backward 不对。\n  提示：翻转值").\
        _render_traceback_()
    assert "检查没有通过" in lines[0]
    assert lines[1:] == ["MulLayer.backward 不对。", "  提示：翻转值"]
    assert not any("_core.py" in line or "File " in line for line in lines)


class _Layer:
    def forward(self, x):
        return self.missing


def _plain(x):
    return x.missing


def test_attribute_error_hint_fits_what_was_called():
    with pytest.raises(CheckFailure) as layer:
        call(_Layer().forward, 1, what="forward")
    assert "self.x" in str(layer.value)
    with pytest.raises(CheckFailure) as plain:
        call(_plain, 1, what="f")
    assert "self.x" not in str(plain.value) and "拼写" in str(plain.value)


def test_choice_normalisation_and_digest():
    for raw in ("b", " B ", "(B)", "B.", "Ｂ", "（b）"):
        assert normalize_choice(raw) == "B", raw
    assert digest("q", "b") == digest("q", "B") != digest("q", "C") != digest("r", "C")


def test_check_choice_catches_each_kind_of_wrong_answer(capsys):
    right = digest("01-q1", "C")
    hints = {"A": "A 漏掉了上游导数", "B": "B 用反了", "C": "对", "D": "D 不是局部导数"}
    check_choice("c", "01-q1", "ABCD", right, hints)
    assert "✔" in capsys.readouterr().out
    for answer, message in [(None, "还没有作答"), (..., "还没有作答"), (3, "一个字母"), ("E", "选项只有"),
                            ("A", "漏掉了上游导数"), ("d", "不是局部导数")]:
        with pytest.raises(CheckFailure, match=message):
            check_choice(answer, "01-q1", "ABCD", right, hints)


def test_check_choice_names_the_quiz_the_same_way_in_every_lesson(capsys):
    """不露出内部题号（"05-q1"）；what 写成“概念题 2”还是不写，消息都是“第 N 道概念题”，数字两边有空格。"""
    right = digest("05-q2", "C")
    for what in (None, "概念题 2", "第 2 道概念题"):
        with pytest.raises(CheckFailure) as unanswered:
            check_choice(None, "05-q2", "ABCD", right, what=what)
        text = str(unanswered.value)
        assert text.startswith("第 2 道概念题还没有作答") and "05-q2" not in text, text
        check_choice("C", "05-q2", "ABCD", right, what=what)
        out = capsys.readouterr().out
        assert "第 2 道概念题" in out and "05-q2" not in out


def test_check_choice_hints_print_plain_text_not_latex():
    right = digest("05-q2", "C")
    hints = {"A": "正确的代码也常在 $10^{-7}$ ~ $10^{-4}$ 之间，误差约 $h^2$"}
    with pytest.raises(CheckFailure) as wrong:
        check_choice("A", "05-q2", "ABCD", right, hints)
    text = str(wrong.value)
    assert "1e-7 ~ 1e-4" in text and "h²" in text and "$" not in text and "^{" not in text, text


def test_check_value_tolerance_and_messages(capsys):
    check_value(2.2, 2.2, "dApple")
    check_value(2.2001, 2.2, "dApple")
    assert capsys.readouterr().out.count("✔") == 2
    for answer, message in [(None, "dApple 还没有作答"), ("2.2", "应当是一个数"), (2.0, "dApple 不对")]:
        with pytest.raises(CheckFailure, match=message):
            check_value(answer, 2.2, "dApple", hint="看红色的数字")
