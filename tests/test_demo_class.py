"""演示班级：`python -m course grade-demo` 在临时文件夹里走完 nbgrader 的整个流程，
十二名学生、六份作业，每人每份作业的分数都与下面逐条写明的预期相同。

预期是按“这名学生的代码应当通过哪些测试单元”推出来的（每条都写了原因），总分由 source/ 里
各测试单元的分值算出，不是把评分结果抄下来。
"""
import csv
import hashlib
import os
import re
import subprocess
import sys

import nbformat
import pytest

from conftest import ROOT, SOURCE

ALL = "ALL"  # 所有测试单元都不得分
LESSONS = ("01", "02", "03", "04", "05", "06")
NONE = frozenset()

# 学生 -> {课: 不得分的测试单元}；没有列出的课是缺交
EXPECTED = {
    "zhao_lei": {k: NONE for k in LESSONS},  # 参考答案
    "qian_fang": {k: NONE for k in LESSONS},  # 另一种写法（course/demo/styles.py），同样全对
    "sun_li": {  # 部分完成（course/demo/mistakes.py 的 PARTIAL）
        "01": {"test_apple_orange_backward_book", "test_apple_orange_backward_general",  # 没写反向传播
               "test_dw",  # dw_dx、dw_dy 没写（dz_dx 写了）
               "test_flip_value_quiz", "test_small_h_quiz"},  # 只答了概念题 1
        "02": {"test_add_layer_forward", "test_add_layer_backward",  # AddLayer 没写；连线的测试用课程自带的层
               "test_add_layer_state_quiz", "test_backward_order_quiz"},  # 只答了概念题 1
        "03": {"test_sigmoid_backward", "test_sigmoid_steps",  # 只写了 Sigmoid.forward
               "test_relu_inplace_quiz", "test_sigmoid_chain_quiz"},  # 只答了概念题 1
        "04": {"test_affine_backward_dx", "test_affine_backward_dw", "test_affine_backward_db",
               "test_affine_nd_input",  # 多维输入的测试也要调用 backward
               "test_softmax_with_loss_forward", "test_softmax_with_loss_backward",
               "test_affine_bias_sum_quiz", "test_softmax_loss_batch_quiz"},  # 只答了概念题 1
        "05": {"test_two_layer_net_gradient", "test_fixed_network"},
        "06": {"test_value_pow_exp", "test_value_tanh_relu", "test_zero_grad",
               "test_sigmoid_vs_layer",  # sigmoid 没写
               "test_neuron",  # neuron 没写（它还要用 tanh）
               "test_engine_random_graphs",  # 随机计算图用到 ** exp tanh relu
               "test_mlp_neuron", "test_hinge_loss_vs_layers", "test_sgd_step",  # 只写了 Layer 和 MLP
               "test_concept_zero_grad", "test_concept_last_layer"},  # 只答了概念题 1
        # 只用 + 和 * 的 backward、分叉、重复使用的节点、买苹果和橘子都通过；
        # Layer、MLP 的检查换上只用 + 和 * 的参考神经元，Neuron 没写、relu 没写也不连累它
    },
    "li_wei": {  # 常见错误（一），每课一个
        "01": {"test_apple_orange_backward_general"},  # 忘了乘 dout：书上的数字（dout = 1）照样对
        "02": {"test_mul_layer_backward"},  # 乘法层没翻转；正向和用课程自带层的连线测试都对
        "03": {"test_relu_backward"},  # backward 改了调用者的 dout
        "04": {"test_affine_backward_db"},  # db 没有求和；dx、dW 和多维输入都对
        "05": {"test_two_layer_net_gradient"},  # 没先做正向传播
        "06": {"test_value_add_mul_backward",  # 检查梯度要累加
               "test_backward_topological_order", "test_fork_accumulation", "test_reused_nodes",  # 分叉处被覆盖
               "test_zero_grad",  # 这个检查先确认两次 backward 会累加
               "test_engine_random_graphs",
               "test_hinge_loss_vs_layers", "test_sgd_step"},  # 网络里、损失里参数和隐藏层的值都被用了好几次
        # 正向、** exp tanh relu（用的是 +=）、没有分叉的购物图、sigmoid、神经元都对；
        # 单个 Neuron 里每个节点只用一次，Layer、MLP 的检查只看正向：这两项也通过
    },
    "zhou_jie": {  # 常见错误（二），每课一个
        "01": {"test_numerical_diff"},  # 前向差分
        "02": {"test_apple_orange_backward"},  # 共用一个乘法层：正向对，反向用的是橘子的输入
        "03": {"test_sigmoid_backward"},  # 少乘了 y
        "04": {"test_softmax_with_loss_backward"},  # 没有除以批大小（书上的例子 N = 1 看不出来）
        "05": {"test_sgd_step"},  # 不是原地更新
        "06": {"test_backward_topological_order",  # 一层层处理：迟到的分叉算错
               "test_reused_nodes", "test_engine_random_graphs",
               "test_hinge_loss_vs_layers"},  # 隐藏层的输出被下一层的各个神经元在不同深度用到
        # train_step 的损失里只在叶子处汇合（(p - t) * (p - t) 在同一个节点里用两次），一层层处理也对；
        # 只在叶子处汇合的分叉（a + a、a*a*a、(a + b)(a + 1)）一层层处理也是对的：test_fork_accumulation 通过
    },
    "wu_min": {k: ALL for k in LESSONS},  # 原样交回学生版
    "zheng_hao": {
        "01": {"test_buy_apple", "test_buy_apple_orange"},  # 定义之前就调用：两个函数都没有定义
        "02": NONE,  # 异常在类定义之后：类已经定义好了
    },
    "wang_qiang": {
        "01": {"test_dz_dx", "test_dw"},  # 死循环被中断，同一单元里后面的三个函数没有定义
        "03": NONE,
    },
    "feng_yu": {  # 检查在评分进程里运行，内核里的篡改碰不到它
        "02": {"test_mul_layer_backward"},
        "04": {"test_cross_entropy_onehot", "test_cross_entropy_labels"},  # 没有除以批大小
        # Softmax-with-Loss层的测试换上课程的交叉熵误差：同一个错误不再扣第二次
    },
    "chen_jing": {
        "01": NONE,  # 删掉的测试单元被补回，复制出来的只算一次，拖到答案上面的测试放回原位
        "02": {"test_add_layer_backward"},  # 改成 pass 的测试被换回原样；test_mul_layer_forward 照样通过
    },
    "chu_yun": {"01": NONE, "03": ALL},  # 03 的文件不是有效的 JSON：按缺交处理
    "wei_ning": {"02": ALL,  # 02 改了文件名：应交的 notebook 没有交
                 "04": {"test_softmax_values", "test_softmax_no_overflow"}},  # softmax 整批归一化；
    # Softmax-with-Loss层的测试换上课程的 softmax，这一层本身是对的，不扣分
}


def assignments():
    return {p.name.split("-", 1)[0]: p.name for p in sorted(SOURCE.iterdir()) if p.is_dir()}


def points(lesson):
    """{grade_id: 分值}，从 source/ 读出。"""
    (path,) = (SOURCE / assignments()[lesson]).glob("*.ipynb")
    nb = nbformat.read(str(path), as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}


def failing(student, lesson):
    """这名学生在这一课不得分的测试单元（None 表示缺交）。"""
    plan = EXPECTED[student]
    if lesson not in plan:
        return None
    pts = points(lesson)
    return set(pts) if plan[lesson] == ALL else set(plan[lesson])


def expected_total(student, lesson):
    fails = failing(student, lesson)
    if fails is None:
        return None
    pts = points(lesson)
    unknown = fails - set(pts)
    assert not unknown, "预期里写了课程中没有的测试单元：%s" % sorted(unknown)
    return sum(v for k, v in pts.items() if k not in fails)


def run_demo(out, *args, timeout=1800):
    env = dict(os.environ, LANG="C.UTF-8", PYTHONUNBUFFERED="1")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.pop("COURSE_DB_URL", None)
    env.pop("COURSE_EXCHANGE_DIR", None)
    return subprocess.run([sys.executable, "-m", "course", "grade-demo", "--out", str(out), *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "run"
    before = {p: _digest(ROOT / p) for p in ("gradebook.db",)}
    dirs = {p: (ROOT / p).exists() for p in ("submitted", "exchange", "autograded/.grading-reports")}
    proc = run_demo(out, "--jobs", "2", "--timeout", "30")
    from course.demo.pipeline import read_scores

    scores = read_scores("sqlite:///%s" % (out / "course" / "gradebook.db"))
    return {"out": out, "proc": proc, "scores": scores, "before": before, "dirs": dirs}


def test_the_whole_cycle_succeeds_and_shows_progress(demo):
    proc = demo["proc"]
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    for step in range(1, 11):
        assert "[%d/10]" % step in proc.stdout
    for sid in EXPECTED:  # 提交时一行、评分时一行
        assert len(re.findall(r"\] %s\s" % sid, proc.stdout)) == 2, sid
    assert "成绩库一致" in proc.stdout


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_student_gets_exactly_the_expected_scores(demo, student):
    for lesson, assignment in assignments().items():
        entry = demo["scores"][assignment]
        want = expected_total(student, lesson)
        if want is None:
            assert student not in entry["scores"], "%s 没交 %s，却有分数" % (student, assignment)
            continue
        got_fail = {gid for gid, s in entry["cell_scores"][student].items() if s < dict(entry["cells"])[gid]}
        assert got_fail == failing(student, lesson), (student, assignment)
        assert entry["scores"][student] == want, (student, assignment)


def test_grades_csv_has_every_student_and_assignment(demo):
    with open(demo["out"] / "grades.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    got = {(r["assignment"], r["student_id"]): float(r["score"]) for r in rows}
    for student in EXPECTED:
        for lesson, assignment in assignments().items():
            want = expected_total(student, lesson)
            assert got[(assignment, student)] == (0.0 if want is None else want), (student, assignment)
    names = {r["student_id"]: r["last_name"] + r["first_name"] for r in rows}
    assert names["zhao_lei"] == "赵磊" and names["wei_ning"] == "卫宁"


def _report_csv(demo, name):
    with open(demo["out"] / "report" / name, encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def test_report_explains_the_class(demo):
    """演示的报告就是 python -m course class-report 的报告（course/grading/batch/class_report.py），加上演示才有的几节。"""
    folder = demo["out"] / "report"
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "演示班级评分报告" in page and "每名演示学生的情况" in page and "各步用时" in page
    assert "<script" not in page and "src=" not in page  # 离线：图是内嵌的 SVG
    for assignment in assignments().values():
        assert 'id="a-%s"' % assignment in page
    assert page.count("<svg") == len(assignments()) + 1
    events = {(r["student_id"], r["assignment"], r["kind"]): r["detail"] for r in _report_csv(demo, "events.csv")}
    a = assignments()
    assert ("wang_qiang", a["01"], "timeout") in events
    assert "不是有效的 notebook" in events[("chu_yun", a["03"], "unreadable")]
    assert "simple_layers-Copy1.ipynb" in events[("wei_ning", a["02"], "unreadable")]
    assert ("feng_yu", a["02"], "suspicious") in events
    assert "顺序被打乱" in events[("chen_jing", a["01"], "cells-restored")]
    assert not any(s in ("zhao_lei", "qian_fang") for s, _, _ in events)
    missing = {(r["assignment"], r["student_id"]) for r in _report_csv(demo, "missing.csv")}
    assert (a["02"], "wang_qiang") in missing
    # 通过率：test_mul_layer_backward 在 02 只有交了的 10 人里的 6 人通过（李伟、冯宇没翻转，吴敏、卫宁 0 分）
    tests = {(r["assignment"], r["grade_id"]): r for r in _report_csv(demo, "tests.csv")}
    row = tests[(a["02"], "test_mul_layer_backward")]
    assert (row["points"], row["passed"], row["submitted"]) == ("2", "6", "10")
    # 常见错误：检查自己的诊断，李伟、冯宇都是“没有翻转”
    flip = [r for r in _report_csv(demo, "mistakes.csv")
            if r["assignment"] == a["02"] and r["grade_id"] == "test_mul_layer_backward" and "翻转" in r["hint"]]
    assert flip and {"li_wei", "feng_yu"} <= set(" ".join(r["student_ids"] for r in flip).split()), flip


def test_students_got_their_feedback(demo):
    for student, plan in EXPECTED.items():
        for lesson in plan:
            assignment = assignments()[lesson]
            pages = list((demo["out"] / "students" / student / "backprop-zh" / assignment / "feedback").glob("*/*.html"))
            # 改了文件名的 notebook 拿不到反馈：nbgrader 按提交的文件找反馈
            assert len(pages) == (0 if (student, lesson) == ("wei_ning", "02") else 1), (student, assignment)


def test_the_course_folder_itself_is_untouched(demo):
    assert {p: _digest(ROOT / p) for p in demo["before"]} == demo["before"]
    assert {p: (ROOT / p).exists() for p in demo["dirs"]} == demo["dirs"]


def test_default_output_folder_is_ignored_by_git():
    proc = subprocess.run(["git", "check-ignore", "-q", "demo-run/report.html"], cwd=ROOT)
    if proc.returncode == 128:
        pytest.skip("不是 git 仓库")
    assert proc.returncode == 0, "demo-run/ 应当写进 .gitignore"


@pytest.mark.parametrize("args, message", [
    (["--students", "0"], "正整数"),
    (["--students", "nobody"], "没有学生"),
    (["--jobs", "x"], "正整数"),
    (["--assignments", "99"], "没有作业"),
])
def test_bad_arguments_get_a_clear_message(tmp_path, capsys, args, message):
    assert _main_in_process(tmp_path / "out", *args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err[-2000:]
    assert not (tmp_path / "out").exists()


def test_refuses_to_overwrite_a_folder_it_did_not_make(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("别删我", encoding="utf-8")
    assert _main_in_process(tmp_path) == 2
    assert "不是上一次演示留下的" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]


def _main_in_process(out, *args):
    from course.__main__ import main

    try:
        return main(["grade-demo", "--course", str(ROOT), "--out", str(out), *args])
    except SystemExit as exc:  # argparse 发现参数不对时
        return exc.code
