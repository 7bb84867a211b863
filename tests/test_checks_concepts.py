"""概念题（course/checks/concepts.py 的 check_quiz 和 course/reference/quizzes.py 的参考答案）。

- 每一课 source/ 里的参考写法通过公开检查和隐藏测试；
- 把公开那组答案写死的函数通过公开检查，却在隐藏测试上不通过（隐藏测试真的换了数）；
- 答错时的消息不含正确的值，对不同的错答案给的提示完全一样（一个一个地试，试不出答案）；
- 参考答案本身对：用数值微分、用书上的原地 ReLU、用一个小的自动微分引擎一一核对。
"""
import ast
import glob
import json
import math

import numpy as np
import pytest

from course.checks._core import CheckFailure
from course.checks.concepts import check_quiz, quiz_digest
from course.reference.quizzes import REFERENCES
from course.gradcheck import numerical_diff
from graph_samples import Value, backward_layer_by_layer

ROOT = __file__.rsplit("/tests/", 1)[0]


def _quiz_cells():
    """{题号: (答案单元的源码, 公开 cases, 隐藏 cases, 提示)}，从 source/ 的 notebook 里读出来。"""
    out = {}
    for path in sorted(glob.glob(ROOT + "/source/*/*.ipynb")):
        cells = json.load(open(path, encoding="utf-8"))["cells"]
        for i, cell in enumerate(cells):
            src = "".join(cell["source"])
            if cell["cell_type"] != "code" or "check_quiz(" not in src:
                continue
            calls = [n for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Call)
                     and getattr(n.func, "id", "") in ("check_quiz", "_check_quiz")]
            visible = next(c for c in calls if c.func.id == "check_quiz")
            hidden = next(c for c in calls if c.func.id == "_check_quiz")
            qid = visible.args[1].value
            assert hidden.args[1].value == qid
            kw = {k.arg: k.value for k in visible.keywords}
            env = {"np": np, "_np": np}
            cases = eval(compile(ast.Expression(kw["cases"]), "cases", "eval"), env)
            hidden_cases = eval(compile(ast.Expression({k.arg: k.value for k in hidden.keywords}["cases"]),
                                        "cases", "eval"), env)
            expect = eval(compile(ast.Expression(kw["expect"]), "expect", "eval"), {})
            out[qid] = ("".join(cells[i - 1]["source"]), cases, hidden_cases, kw["hint"].value)
            EXPECT[qid] = expect
    return out


EXPECT = {}  # 题号 -> 公开测试单元里写的摘要
QUIZ = _quiz_cells()


def _solution(qid):
    ns = {"np": np}
    exec(QUIZ[qid][0], ns)  # source/ 里的答案单元：### BEGIN SOLUTION 和 END 之间是参考写法
    return ns["q" + qid[-1]]


def test_every_lesson_has_three_function_quizzes():
    assert sorted(QUIZ) == sorted(REFERENCES) and len(QUIZ) == 18


@pytest.mark.parametrize("qid", sorted(REFERENCES))
def test_reference_solution_passes_visible_and_hidden(qid, capsys):
    _, cases, hidden, hint = QUIZ[qid]
    fn = _solution(qid)
    check_quiz(fn, qid, cases, expect=EXPECT[qid], hint=hint)
    check_quiz(fn, qid, hidden, ref=REFERENCES[qid], report=False)
    assert capsys.readouterr().out.count("✔") == 1


def _hardcoded(qid):
    """只记住公开那几组答案的函数：公开的参数给公开的答案，别的参数给第一组的答案。"""
    _, cases, _, _ = QUIZ[qid]
    answers = [(repr(c), REFERENCES[qid](*c)) for c in cases]

    def fake(*args):
        return dict(answers).get(repr(args), answers[0][1])
    return fake


@pytest.mark.parametrize("qid", sorted(REFERENCES))
def test_hard_coded_visible_answer_loses_the_hidden_points(qid, capsys):
    _, cases, hidden, hint = QUIZ[qid]
    fake = _hardcoded(qid)
    check_quiz(fake, qid, cases, expect=EXPECT[qid], hint=hint)  # 公开检查看不出来……
    with pytest.raises(CheckFailure):  # ……隐藏测试换了数，拿不到分（对照：参考写法在同样的数上通过，见上一个测试）
        check_quiz(fake, qid, hidden, ref=REFERENCES[qid], report=False)


def _wrong_answers(want):
    """和 want 同类、但不对的几个答案。"""
    if isinstance(want, str):
        return ["截断" if want == "舍入" else "舍入", "Affine1" if want != "Affine1" else "Affine2", "x"]
    if isinstance(want, bool):
        return [not want]
    if isinstance(want, tuple):
        return [tuple(_wrong_answers(w)[0] if i == j else w for j, w in enumerate(want)) for i in range(len(want))]
    arr = np.asarray(want, dtype=float)
    return [arr + 1.0, arr * 2 + 0.5, -arr - 0.25, np.zeros(arr.shape) + 7.0] if arr.ndim else \
        [float(arr) + 1.0, float(arr) * 2 + 0.5, -float(arr) - 0.25, 7.0]


def _hint_of(message):
    return message.split("提示：", 1)[1]


@pytest.mark.parametrize("qid", sorted(REFERENCES))
def test_wrong_answers_get_the_same_hint_and_never_the_right_value(qid):
    _, cases, _, hint = QUIZ[qid]
    for case, digest in zip(cases, EXPECT[qid]):
        want = REFERENCES[qid](*case)
        hints = set()
        for wrong in _wrong_answers(want):
            with pytest.raises(CheckFailure) as exc:
                check_quiz(lambda *a, w=wrong: w, qid, [case], expect=[digest], hint=hint)
            text = str(exc.value)
            hints.add(_hint_of(text))
            assert "返回了" in text and "不对" in text and qid not in text, text
            # 正确的值不出现在消息里：提示是固定的一句话，消息的其余部分只有参数和学生自己的答案
            assert text.replace(_hint_of(text), "").count(" ".join(repr(want).split())) == 0 or repr(want) in repr(case)
        assert hints == {hint}, hints


def test_messages_for_missing_and_broken_answers():
    for fn, expect in [(None, "第 2 道概念题还没有作答：先在上面的单元里写好函数 q2"),
                       (3, "应当是一个函数 q2")]:
        with pytest.raises(CheckFailure, match=expect):
            check_quiz(fn, "01-q2", [(200, 2, 150, 3, 1.1)], ref=REFERENCES["01-q2"], hint="h")

    def unanswered(*args):
        raise NotImplementedError("还没有实现")

    def broken(*args):
        return 1 / 0
    with pytest.raises(CheckFailure, match="第 2 道概念题还没有作答：删掉 q2 里 raise 那一行"):
        check_quiz(unanswered, "01-q2", [(200, 2, 150, 3, 1.1)], ref=REFERENCES["01-q2"], hint="h")
    with pytest.raises(CheckFailure, match="ZeroDivisionError"):
        check_quiz(broken, "01-q2", [(200, 2, 150, 3, 1.1)], ref=REFERENCES["01-q2"], hint="h")
    with pytest.raises(CheckFailure) as latex:
        check_quiz(lambda *a: 0.0, "01-q2", [(200, 2, 150, 3, 1.1)], ref=REFERENCES["01-q2"],
                   hint="误差约 $h^2$，约 $10^{-7}$")
    assert "h²" in str(latex.value) and "1e-7" in str(latex.value) and "$" not in str(latex.value)


def _both(fn, qid, case):
    """公开测试（摘要）和隐藏测试（参考函数）两种比法都用：两者认作对的答案必须一样。"""
    check_quiz(fn, qid, [case], ref=REFERENCES[qid], report=False)
    check_quiz(fn, qid, [case], expect=[quiz_digest(qid, REFERENCES[qid](*case))], report=False)


def test_answers_compare_by_value_not_by_type():
    _both(lambda x, dout: [5, 0, 0], "03-q1", ([2, 0, -1], [5, 5, 5]))  # list 也行
    _both(lambda x, dout: np.array([5.0, 0.0, 0.0]), "03-q1", ([2, 0, -1], [5, 5, 5]))
    _both(lambda x, dout: (5.0, 1e-12, 0.0), "03-q1", ([2, 0, -1], [5, 5, 5]))  # 1e-12 算 0
    _both(lambda h: " 舍入误差 ", "01-q3", (1e-12,))
    _both(lambda e: "affine2", "05-q2", ({"W1": 3e-5, "b1": 4e-7, "W2": 0.62, "b2": 2e-8},))
    _both(lambda *a: 2.2 * (1 + 3e-13), "01-q2", (100, 2, 150, 3, 1.1))  # 浮点的尾巴不算
    for wrong in (np.array([5.0, 0.0]), "5, 0, 0", None, [[5, 0, 0]], (5.0, 0.0, 0.001)):
        for kw in ({"ref": REFERENCES["03-q1"]}, {"expect": [quiz_digest("03-q1", [5.0, 0.0, 0.0])]}):
            with pytest.raises(CheckFailure):
                check_quiz(lambda x, dout, w=wrong: w, "03-q1", [([2, 0, -1], [5, 5, 5])], report=False, **kw)
    for kw in ({"ref": REFERENCES["02-q2"]}, {"expect": [quiz_digest("02-q2", True)]}):
        with pytest.raises(CheckFailure):  # True 不是 1，1 也不是 True
            check_quiz(lambda op: 1, "02-q2", [("*",)], report=False, **kw)


def test_visible_cells_carry_digests_of_the_reference_not_the_answers():
    """公开测试单元里的摘要就是参考答案在公开那几组数上的摘要（notebook 和参考答案没有脱节）；
    单元里不写答案本身，也不导入参考答案；参考答案的数差一点点（浮点运算次序不同）摘要不变。"""
    for path in sorted(glob.glob(ROOT + "/source/*/*.ipynb")):
        for cell in json.load(open(path, encoding="utf-8"))["cells"]:
            src = "".join(cell["source"])
            if "check_quiz(" in src:
                visible = src.split("### BEGIN HIDDEN TESTS")[0]
                assert "reference" not in visible and "quizzes" not in visible, visible
    for qid, (_, cases, _, _) in QUIZ.items():
        assert len(EXPECT[qid]) == len(cases)
        for case, digest in zip(cases, EXPECT[qid]):
            want = REFERENCES[qid](*case)
            assert quiz_digest(qid, want) == digest, qid
            if not isinstance(want, (str, bool)):
                for eps in (1e-12, -1e-12):
                    nudged = np.asarray(want, dtype=float) * (1 + eps)
                    assert quiz_digest(qid, nudged) == digest, (qid, case, want)


def test_check_quiz_needs_exactly_one_source_of_truth():
    for kw in ({}, {"expect": ["x"], "ref": REFERENCES["01-q1"]}, {"expect": []}):
        with pytest.raises(ValueError):
            check_quiz(lambda n: (1, 2 * n), "01-q1", [(3,)], **kw)


def test_student_function_that_mutates_its_arguments_does_not_change_the_reference():
    def inplace(x, dout):  # 书上的写法：原地改 dout，再把它当两条支路的导数
        dout[x <= 0] = 0
        return dout + dout
    check_quiz(inplace, "03-q2", [(np.array([1.0, -2.0, 0.0]), np.array([0.3, 0.4, 0.5]))], ref=REFERENCES["03-q2"],
               report=False)


# ---------------------------------------------------------------- 参考答案本身对
def test_reference_numbers_agree_with_numerical_differentiation():
    # 01-q2：支付金额对苹果单价的导数
    for args in [(200, 2, 150, 3, 1.1), (80, 4, 150, 3, 1.08)]:
        pay = lambda a, args=args: (a * args[1] + args[2] * args[3]) * args[4]
        assert math.isclose(numerical_diff(pay, float(args[0])), REFERENCES["01-q2"](*args), rel_tol=1e-6)
    # 01-q3：中心差分的实际误差在舍入一侧随 h 变小而变大，在截断一侧随 h 变大而变大
    err = lambda h: abs(numerical_diff(np.exp, 1.0, h=h) - math.e)
    assert err(1e-12) > err(1e-5) < err(1e-1)
    assert [REFERENCES["01-q3"](h) for h in (1e-12, 1e-9, 1e-3, 0.1)] == ["舍入", "舍入", "截断", "截断"]
    # 04-q1：Y = X·Vᵀ 时的 ∂L/∂X，L = Σ Y·dY
    rng = np.random.default_rng(0)
    for n, m, d in [(1, 3, 2), (2, 2, 2), (3, 2, 4)]:
        X, V, dY = rng.standard_normal((n, d)), rng.standard_normal((m, d)), rng.standard_normal((n, m))
        num = np.zeros_like(X)
        for idx in np.ndindex(*X.shape):
            def f(v, idx=idx):
                Z = X.copy()
                Z[idx] = v
                return np.sum(Z @ V.T * dY)
            num[idx] = numerical_diff(f, X[idx])
        assert np.allclose(num, REFERENCES["04-q1"](dY, V), atol=1e-6)
        # 04-q2：共用一个标量偏置
        assert math.isclose(numerical_diff(lambda b: np.sum((X @ V.T + b) * dY), 0.3),
                            REFERENCES["04-q2"](dY), rel_tol=1e-6)
    # 04-q3：整批损失的和对得分的导数
    x, t = rng.standard_normal((3, 4)), np.eye(4)[[1, 3, 0]]
    softmax = lambda s: np.exp(s - s.max(axis=1, keepdims=True)) / np.exp(s - s.max(axis=1, keepdims=True)).sum(1, keepdims=True)
    num = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        def total(v, idx=idx):
            z = x.copy()
            z[idx] = v
            return -np.sum(t * np.log(softmax(z)))
        num[idx] = numerical_diff(total, x[idx])
    assert np.allclose(num, REFERENCES["04-q3"](softmax(x), t), atol=1e-6)
    # 03-q3：n 个“乘 c、再 Sigmoid”的块，导数在 x 处取得的最大值不超过上限；c 大时上限真的被接近
    sig = lambda v: 1 / (1 + np.exp(-v))
    for n, c in [(3, 1), (2, 10), (1, 0.5)]:
        def chain(v):
            for _ in range(n):
                v = sig(c * v)
            return v
        xs = np.linspace(-20, 20, 4001)
        grads = np.abs(np.gradient(chain(xs), xs))
        assert grads.max() <= REFERENCES["03-q3"](n, c) * 1.001
    # 06-q3：最后一层加了 ReLU 时的合页损失和它对 z 的导数
    for z, y in [(-2.0, -1), (0.5, 1), (2.0, -1), (-1.5, 1), (3.0, 1)]:
        loss = lambda v: max(0.0, 1 - y * max(v, 0.0))
        want_loss, want_grad = REFERENCES["06-q3"](z, y)
        assert math.isclose(loss(z), want_loss) and math.isclose(numerical_diff(loss, z), want_grad, abs_tol=1e-7)


def test_reference_of_in_place_relu_matches_the_book_code():
    class BookRelu:
        def forward(self, x):
            self.mask = x <= 0
            out = x.copy()
            out[self.mask] = 0
            return out

        def backward(self, dout):
            dout[self.mask] = 0
            return dout

    for x, dout in [([1.0, -2.0, 0.0], [0.3, 0.4, 0.5]), ([-1.0, 2.0, 3.0, 0.0], [1.0, 1.0, -2.0, 4.0])]:
        x, dout = np.array(x), np.array(dout)
        relu = BookRelu()
        relu.forward(x)
        d = dout.copy()
        dx = relu.backward(d) + d  # 先算 ReLU 那条支路，直接那条拿到的是同一个数组
        assert np.allclose(dx, REFERENCES["03-q2"](x, dout))
        assert not np.allclose(dx, np.where(x > 0, dout, 0) + dout)  # 正确的梯度不是这个：题目确实有坑


@pytest.mark.parametrize("a,b,k", [(1.5, -2.0, 0.5), (2.0, 3.0, -4.0), (0.5, 1.5, 2.0), (-1.0, 0.25, 3.0)])
def test_reference_of_layer_by_layer_quiz_matches_an_engine(a, b, k):
    got = []
    for backward in (backward_layer_by_layer, Value.backward):  # 第 06 课的错误写法和按拓扑逆序的正确写法
        va, vb = Value(a), Value(b)
        c = va * vb
        out = c + (c * k + 1.0)
        backward(out)
        got.append(va.grad)
    assert np.allclose(got, REFERENCES["06-q1"](a, b, k))


def test_other_references_follow_the_lessons_rules():
    assert REFERENCES["01-q1"](3) == (1, 6)
    assert REFERENCES["02-q1"]("*", 10, 5, 1.3) == (6.5, 13)  # 书上的例子：10 × 5，上游 1.3
    assert REFERENCES["02-q1"]("+", 10, 5, 1.3) == (1.3, 1.3)
    assert REFERENCES["05-q1"]([2.0, 5.0], 3.0, 1.0) == (3.0, 5.0)
    assert REFERENCES["05-q3"](10) == (10, 100)
    assert REFERENCES["06-q2"]([0.5, -0.2, 0.1]) == pytest.approx([0.5, 0.3, 0.4])
    with pytest.raises(ValueError):  # 两个 Affine1 的参数都错、W2 和 b2 都对：不能唯一确定，测试里不出这种组合
        REFERENCES["05-q2"]({"W1": 0.5, "b1": 0.5, "W2": 1e-7, "b2": 1e-8})


def test_demo_class_answer_styles_pass_every_quiz(capsys):
    """演示班级（course/demo/styles.py）给概念题的另一种写法：公开检查和隐藏测试都通过。"""
    import textwrap

    from course.demo.styles import ALT

    by_cell = {}
    for path in sorted(glob.glob(ROOT + "/source/*/*.ipynb")):
        lesson = path.split("/source/")[1][:2]
        for cell in json.load(open(path, encoding="utf-8"))["cells"]:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            src = "".join(cell["source"])
            if gid and src.startswith("# 概念题"):
                by_cell[(lesson, gid)] = src
    assert len(by_cell) == 18
    for (lesson, gid), src in by_cell.items():
        body = [code for (g, _), code in ALT[lesson].items() if g == gid]
        assert len(body) == 1, (lesson, gid)
        head = src.split("### BEGIN SOLUTION")[0].rstrip(" ")
        code = head + textwrap.indent(textwrap.dedent(body[0]).strip("\n"), "    ")
        ns = {"np": np}
        exec(code, ns)
        qid = "%s-q%s" % (lesson, src.split("def q", 1)[1][0])
        _, cases, hidden, hint = QUIZ[qid]
        check_quiz(ns["q" + qid[-1]], qid, cases, expect=EXPECT[qid], hint=hint, report=False)
        check_quiz(ns["q" + qid[-1]], qid, hidden, ref=REFERENCES[qid], report=False)
