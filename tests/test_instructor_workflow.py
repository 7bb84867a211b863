"""新教师按 README 走一遍评分流程时碰到的毛刺（issue 26）：一门小课（course.grading.batch.selftest 的作业 ps1），
交上几种提交，用真正的 nbgrader 命令评分、生成并发布反馈。

- alice：经由 submit / collect 交来的（有 timestamp.txt 和 submission_secret.txt），参考答案（dan、eve 也是这样交的）；
- bob：教师从 LMS 下载后手工放进 submitted/ 的（两个文件都没有），参考答案；
- carol：手工放的，教师补写了 timestamp.txt（迟交扣分要用），没有 submission_secret.txt；
- dan：删掉了一个测试单元，代码还想读 source/ 里的答案；
- eve：改动了一个测试单元。
"""
import copy
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from course.grading.batch import selftest as st

STOCK_RELEASE_FEEDBACK = "--ExchangeFactory.release_feedback=nbgrader.exchange.default.ExchangeReleaseFeedback"
SECRETS = {"alice": "2f1c0e6a9b7d4c3e8a5b1d0f7e6c9a8b", "dan": "0d1a4e", "eve": "9e7e5c"}


def _run(root, *args):
    return st.run_nbgrader(str(root), *args)


def _collected(path, student):
    """像 nbgrader collect 收来的提交一样，带上 submission_secret.txt。"""
    with open(os.path.join(os.path.dirname(path), "submission_secret.txt"), "w") as f:
        f.write(SECRETS[student])


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("instructor") / "course")
    st.build_course(root, str(ROOT / "nbgrader_config.py"),
                    "c.Execute.timeout = 30\nc.Exchange.root = %r\n" % os.path.join(os.path.dirname(root), "exchange"))
    os.makedirs(os.path.join(os.path.dirname(root), "exchange"))
    release = st.release_notebook(root)
    honest = st.answer(copy.deepcopy(release))
    _collected(st.submit(root, "alice", honest), "alice")
    for student in ("bob", "carol"):
        folder = os.path.dirname(st.submit(root, student, honest))
        if student == "bob":
            os.remove(os.path.join(folder, "timestamp.txt"))
    nb = st.answer(copy.deepcopy(release), prefix={
        "mul_forward": "try:\n    print(open('../../../source/ps1/layers.ipynb').read()[:100])\n"
                       "except OSError as e:\n    print('读不到', type(e).__name__)\n"})
    nb.cells.remove(st.find_cell(nb, "test_add_backward"))
    _collected(st.submit(root, "dan", nb), "dan")
    nb = st.answer(copy.deepcopy(release))
    st.find_cell(nb, "test_mul_forward").source = "pass  # 测试改成了什么也不做"
    _collected(st.submit(root, "eve", nb), "eve")
    out = {"root": root}
    for step in ("autograde", "generate_feedback"):
        res = _run(root, step, st.ASSIGNMENT)
        assert res.returncode == 0, (res.stdout + res.stderr)[-6000:]
        out[step] = res.stdout + res.stderr
    return out


# ---- 5. 手工放进 submitted/ 的提交：release_feedback 不崩，说清楚怎么办

def test_release_feedback_skips_hand_placed_submissions_and_says_what_to_do(course):
    root = course["root"]
    exchange = os.path.join(os.path.dirname(root), "exchange", "backprop-zh", "feedback")
    # 对照：nbgrader 原来的类在没有 timestamp.txt 的 bob 那里崩掉，只留一段英文 traceback
    stock = _run(root, "release_feedback", st.ASSIGNMENT, STOCK_RELEASE_FEEDBACK)
    assert stock.returncode != 0 and "Traceback" in stock.stderr and "FileNotFoundError" in stock.stderr
    for name in os.listdir(exchange):
        os.remove(os.path.join(exchange, name))
    # 课程配置：发布 alice、dan、eve 的反馈，跳过 bob 和 carol，说明为什么、该怎么办
    res = _run(root, "release_feedback", st.ASSIGNMENT)
    out = res.stdout + res.stderr
    assert res.returncode == 0 and "Traceback" not in out, out[-4000:]
    assert "2 名学生的反馈没有放进交换目录" in out and "bob（缺 timestamp.txt、submission_secret.txt）" in out
    assert "carol（缺 submission_secret.txt）" in out and "直接发给这些学生" in out
    from nbgrader.utils import notebook_hash
    released = set(os.listdir(exchange))
    assert released == {notebook_hash(secret=s, notebook_id=st.NOTEBOOK) + ".html" for s in SECRETS.values()}


# ---- 6. 没有 --force 时，python -m course autograde 说清楚跳过了哪些

def test_autograde_without_force_lists_what_it_skipped(course):
    root = course["root"]
    proc = subprocess.run([sys.executable, "-m", "course", "autograde", st.ASSIGNMENT, "--jobs", "2", "--course", root],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ, LANG="C.UTF-8"))
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    assert "评好了：0 份提交（0 名学生的全部提交）" in out, out
    assert "跳过了：5 份提交，它们已经评过" in out and "--force" in out
    for student in ("alice", "bob", "carol", "dan", "eve"):
        assert any(ln.split() == [student, st.ASSIGNMENT] for ln in out.splitlines()), (student, out)


# ---- 9c、9d. generate_feedback 不再警告配置项，autograde 不再对没动过的测试单元报校验和

def test_feedback_preprocessors_take_the_exporters_config_quietly(course):
    assert "not recognized" not in course["generate_feedback"], course["generate_feedback"][-3000:]


def test_checksum_warnings_only_for_a_really_changed_test_cell(course):
    log = course["autograde"]
    assert "Attribute 'checksum'" not in log, log[-4000:]  # 没动过的单元：差的只是学生版里去掉的隐藏测试
    changed = [ln for ln in log.splitlines() if "内容被改动过" in ln and "WARNING" in ln]
    assert len(changed) == 1 and "[eve/ps1/layers] 单元 test_mul_forward" in changed[0], changed
    assert any("WARNING" in ln and "[dan/ps1/layers] 提交里缺了测试单元 test_add_backward" in ln for ln in log.splitlines())
    assert st.scores(course["root"], "eve")["test_mul_forward"] == 2  # 换回原样照常评分


# ---- 10. grading-report 列出删掉的测试单元和想读答案的代码

def test_grading_report_lists_deleted_tests_and_paths_into_the_course_folder(course):
    proc = subprocess.run([sys.executable, "-m", "course", "grading-report", st.ASSIGNMENT, "--course", course["root"]],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ, LANG="C.UTF-8"))
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr
    dan = out.split("ps1 / dan /", 1)[1].split("ps1 / ", 1)[0]
    assert "cells-restored" in dan and "测试单元 test_add_backward 被删掉了" in dan, out
    assert "suspicious" in dan and "source/ps1/layers.ipynb" in dan and "课程文件夹的路径" in dan, out
    eve = out.split("ps1 / eve /", 1)[1].split("ps1 / ", 1)[0]
    assert "单元 test_mul_forward 的内容被改动过" in eve, out
    assert "ps1 / alice /" not in out and "ps1 / bob /" not in out


# ---- 7. 教师的评分流程写下的每一样东西都被 git 忽略（README 让教师提交 release/，成绩不能跟着进去）

def _workflow_outputs():
    """README 的教师流程在仓库里写下的文件（相对仓库根目录），目录名按课程配置和 nbgrader 的默认值。"""
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    cd = CourseDirectory(config=cfg)
    rel = lambda p: os.path.relpath(p, ROOT)  # noqa: E731
    db = rel(cd.db_url[len("sqlite:///"):])
    exchange = rel(cfg.Exchange.root)
    s, a = "xiaoming", "01-graph-chain-rule"
    return [
        db, db + "-journal", db + "-wal", db + "-shm",  # generate_assignment、autograde、formgrader
        "%s/backprop-zh/outbound/%s/graph_chain_rule.ipynb" % (exchange, a),  # release_assignment
        "%s/backprop-zh/inbound/%s+%s+2024-01-01/graph_chain_rule.ipynb" % (exchange, s, a),  # submit
        "%s/backprop-zh/feedback/0123abcd.html" % exchange,  # release_feedback
        "%s/%s/%s/graph_chain_rule.ipynb" % (cd.submitted_directory, s, a),  # collect
        "%s/%s/%s/timestamp.txt" % (cd.submitted_directory, s, a),
        "%s/%s/%s/graph_chain_rule.ipynb" % (cd.autograded_directory, s, a),  # autograde
        "%s/.grading-reports/%s/%s/graph_chain_rule.json" % (cd.autograded_directory, a, s),  # 评分报告
        "%s/.autograde-logs/20240101-000000/batch-01.log" % cd.autograded_directory,  # python -m course autograde
        "%s/%s/%s/graph_chain_rule.html" % (cd.feedback_directory, s, a),  # generate_feedback
        "grades.csv", "grades-01.csv",  # nbgrader export（默认 --to grades.csv）
        ".nbgrader.log",  # nbgrader 的日志文件（设了 NbGrader.logfile 时）
        "demo-run/grades.csv", "demo-run/report/report.html",  # python -m course grade-demo
        "class-report/index.html", "class-report/mistakes.csv",  # python -m course class-report
        ".grade-service/state.db", ".grade-service/state.db-wal",  # python -m course grade-service
        ".grade-service/submissions/0123abcd/graph_chain_rule.ipynb",
        "dist/course-0.1.0-py3-none-any.whl", "build/lib/course/__init__.py",  # 学生版 wheel
        "jupyterhub.sqlite", "jupyterhub_cookie_secret",  # 在仓库里试着启动 Hub 时
        "source/%s/.ipynb_checkpoints/graph_chain_rule-checkpoint.ipynb" % a,  # 教师在 JupyterLab 里编辑
    ]


def test_everything_the_instructor_workflow_writes_is_git_ignored():
    paths = _workflow_outputs()
    proc = subprocess.run(["git", "check-ignore", "--stdin", "-z"], cwd=ROOT, input="\0".join(paths) + "\0",
                          capture_output=True, text=True)
    ignored = set(filter(None, proc.stdout.split("\0")))
    assert [p for p in paths if p not in ignored] == []
    assert subprocess.run(["git", "check-ignore", "-q", "release/%s/x.ipynb" % "01-graph-chain-rule"],
                          cwd=ROOT).returncode == 1  # release/ 要提交，不能被忽略


# ---- 9b. grading-selftest 逐行用中文说明：被挡住的越权是好事，不打印 “FAIL”

def test_selftest_lines_say_in_chinese_what_each_result_means():
    from course.grading.batch.selftest import probe_lines

    lines = probe_lines({"read_source": "FAIL PermissionError", "delete_other": "OK", "write_own": "OK"}, False)
    text = "\n".join(lines)
    assert "FAIL" not in text and "OK" not in text
    assert "✔ 读 source/ 里的答案：被挡住了（PermissionError），好" in text
    assert "✘ 删除别的学生的提交：没有挡住！" in text
    assert "✔ 在自己的作业文件夹里写文件：可以" in text and "没有收到，好" in text


# ---- 9e. python -m course.demo.bench 执行参考答案时不再每个内核打印一遍 “TCP without encryption”

def test_bench_lessons_run_without_the_tcp_warning(tmp_path):
    from nbformat.v4 import new_code_cell, new_notebook
    import nbformat

    folder = tmp_path / "source" / "a1"
    folder.mkdir(parents=True)
    nbformat.write(new_notebook(cells=[new_code_cell("print(1 + 1)")]), str(folder / "a.ipynb"))
    code = ("import sys\nfrom course.demo.bench import run_lessons\n"
            "res = run_lessons(sys.argv[1], ['a1'], 60, False)\nassert res[0][2] is None, res\n")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, LANG="C.UTF-8"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "without encryption" not in proc.stdout + proc.stderr
