"""`python -m course autograde`：按学生分批并行评分后的成绩库与一条一条串行的 `nbgrader autograde`
逐个单元相同；进度、中文总结、参数错误时的中文说明。

小班级由演示班级的学生生成器做出来（course.demo.pipeline 的前六步：到收齐作业为止）：
全对、常见错误、删改测试单元、改了文件名的四名学生，两份作业。
"""
import io
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT
from course.grading.batch import autograde
from course.grading.batch.parallel import Result, Task
from course.grading.batch.progress import Progress, clock
from course.grading.batch.selftest import run_nbgrader

STUDENTS = ["zhao_lei", "li_wei", "chen_jing", "wei_ning"]
LESSONS = ["01", "02"]


def _cli(*args, cwd=ROOT):
    env = dict(os.environ, LANG="C.UTF-8", PYTHONUNBUFFERED="1")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.pop("COURSE_DB_URL", None)
    return subprocess.run([sys.executable, "-m", "course", "autograde", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=1500)


def dump(db_url):
    """成绩库里评分留下的一切：每份提交、每个 notebook、每个单元的分数和评语。"""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(db_url, "backprop-zh") as gb:
        for a in gb.assignments:
            for sub in a.submissions:
                out[(a.name, sub.student.id)] = (str(sub.timestamp), sub.late_submission_penalty, sub.max_score)
                for nb in sub.notebooks:
                    out[(a.name, sub.student.id, nb.name)] = (nb.late_submission_penalty, nb.max_score)
                    for g in nb.grades:
                        out[(a.name, sub.student.id, nb.name, "grade", g.name)] = (
                            g.auto_score, g.manual_score, g.extra_credit, g.needs_manual_grade, g.max_score,
                            g.failed_tests)
                    for c in nb.comments:
                        out[(a.name, sub.student.id, nb.name, "comment", c.name)] = (c.auto_comment, c.manual_comment)
    return out


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    from course.demo.pipeline import Pipeline

    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    base = tmp_path_factory.mktemp("autograde")
    log = []
    pipe = Pipeline(str(ROOT), str(base / "class"), students=STUDENTS, jobs=2, timeout=30, assignments=LESSONS,
                    echo=log.append)
    assert pipe.prepare_class(), "\n".join(log)
    dirs = {}
    for name in ("serial", "parallel"):
        dirs[name] = base / name
        shutil.copytree(pipe.work, dirs[name])
    for a in pipe.assignments:  # 教师平时的做法：一份作业一条命令
        res = run_nbgrader(str(dirs["serial"]), "autograde", a)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    proc = _cli("all", "--jobs", "2", "--course", str(dirs["parallel"]))
    return {"dirs": dirs, "proc": proc, "assignments": pipe.assignments}


def _url(folder):
    return "sqlite:///%s" % (folder / "gradebook.db")


def test_parallel_gradebook_equals_serial_cell_by_cell(graded):
    proc = graded["proc"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    serial, parallel = dump(_url(graded["dirs"]["serial"])), dump(_url(graded["dirs"]["parallel"]))
    grades = [k for k in serial if "grade" in k]
    # 每份收上来的提交都有分数（wei_ning 改了文件名：照样有一条按缺交计分的记录）
    submitted = graded["dirs"]["serial"] / "submitted"
    pairs = {(a.name, s.name) for s in submitted.iterdir() for a in s.iterdir()}
    assert {(k[0], k[1]) for k in grades} == pairs and len(pairs) >= 6
    assert any(v[0] == 0 for k, v in serial.items() if "grade" in k)  # 不是全都满分：比较是有意义的
    assert parallel == serial


def test_progress_and_chinese_summary(graded):
    out = graded["proc"].stdout
    n = sum(1 for s in (graded["dirs"]["parallel"] / "submitted").iterdir() for _ in s.iterdir())
    assert "4 名学生、%d 份提交" % n in out
    progress = [ln for ln in out.splitlines() if "名学生  失败" in ln]
    assert progress and "4/4 名学生  失败 0" in progress[-1] and "完成" in progress[-1]
    assert "\r" not in out  # 不是终端：一行一行地打印
    assert "评分结束：4 名学生、2 份作业、共 %d 份提交" % n in out and "平均每名学生" in out
    assert "评好了：%d 份提交（4 名学生的全部提交）" % n in out and "没评上" not in out
    # 改了文件名的学生：评分报告里的事件出现在总结里
    assert any("wei_ning" in ln and "无法读取，按缺交处理" in ln for ln in out.splitlines())
    assert "成绩库：一致" in out
    logs = graded["dirs"]["parallel"] / "autograded" / ".autograde-logs"
    assert any(logs.glob("*/*.log"))


def test_second_run_without_force_skips_and_keeps_the_gradebook(graded):
    folder = graded["dirs"]["parallel"]
    before = dump(_url(folder))
    proc = _cli("01", "--jobs", "2", "--course", str(folder))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert dump(_url(folder)) == before


@pytest.mark.parametrize("args, message", [
    (["no_such_assignment"], "成绩库里没有作业 'no_such_assignment'"),
    (["01", "--jobs", "0"], "正整数"),
    (["01", "--course", "/no/such/folder"], "课程文件夹不存在"),
    (["01", "--course", "/"], "没有 nbgrader_config.py"),
    ([], "缺少参数"),
])
def test_bad_arguments_get_a_chinese_message_and_exit_2(graded, args, message):
    if "--course" not in args:
        args = args + ["--course", str(graded["dirs"]["serial"])]
    proc = _cli(*args)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_empty_course_says_what_to_do_first(tmp_path):
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    proc = _cli("all", "--course", str(tmp_path))
    assert proc.returncode == 2 and "成绩库" in proc.stderr and "generate_assignment" in proc.stderr
    assert not (tmp_path / "gradebook.db").exists()


def test_failure_reasons_come_from_the_nbgrader_log(tmp_path):
    log = tmp_path / "batch.log"
    log.write_text(
        "[AutogradeApp | INFO] Converting notebook submitted/ok/01-x/a.ipynb\n"
        "[AutogradeApp | ERROR] There was an error processing assignment: /c/submitted/bad_one/01-x\n"
        "[AutogradeApp | ERROR] Traceback (most recent call last):\n"
        '  File "x.py", line 3, in f\n'
        "    raise ValueError('boom')\n"
        "ValueError: 成绩库里没有这名学生\n"
        "\n"
        "[AutogradeApp | ERROR] There were errors\n", encoding="utf-8")
    res = Result(Task("autograde 01-x bad_one", []), 1, 1.0, str(log))
    assert autograde._error_reasons(res) == {("bad_one", "01-x"): "ValueError: 成绩库里没有这名学生"}


def test_progress_prints_lines_off_a_terminal_and_redraws_on_one():
    plain = io.StringIO()
    bar = Progress(4, stream=plain, tty=False)
    for done, failed in [(0, 0), (1, 0), (1, 0), (2, 1)]:
        bar.update(done, failed)
    lines = plain.getvalue().splitlines()
    assert len(lines) == 3 and "2/4 名学生  失败 1" in lines[-1] and "\r" not in plain.getvalue()
    assert "预计还要 1:40" in bar.line(2, 0, now=bar.start + 100)  # 两名学生用了 100 秒，还剩两名
    term = io.StringIO()
    bar = Progress(4, stream=term, tty=True)
    bar.update(1, 0)
    bar.finish()
    assert term.getvalue().startswith("\r[") and term.getvalue().endswith("\n")
    assert clock(3725) == "1:02:05" and clock(65) == "1:05"
