"""收作业（course/grading/collect.py）：交换目录里一份恶意的提交只影响它自己。

每种手法先用 nbgrader 原来的 ExchangeCollect 收一次（对照：手法奏效），再用课程配置收整个班：
- 指向教师文件的符号链接：原来的做法把答案复制进 submitted/，这里不收；
- 成百上千个文件：这里最多收 MAX_FILES 个；
- 超过 max_dir_size 的文件夹：原来整次 collect 抛 RuntimeError 停下，这里只少收那个大文件；
- 学号是 “..” 的文件夹（收全班时 glob 看不到以点开头的名字，教师用 --student=.. 指名时才会收）：
  原来收到 submitted/ 外面（课程根目录下），这里不收。
诚实的学生每次都照常收到。
"""
import copy
import os

import nbformat
import pytest

from conftest import ROOT
from course.grading.files import safe as filesafe
from course.grading.batch import selftest as st
from course.grading.collect import plain_name

STOCK = "--ExchangeFactory.collect=nbgrader.exchange.default.ExchangeCollect"
STAMP = "2026-12-07 04:00:00.000000 UTC"
HONEST = ("ann", "zed")


def _inbound(exchange, student, nb, extra=None):
    folder = os.path.join(exchange, "backprop-zh", "inbound", "%s+%s+%s" % (student, st.ASSIGNMENT, STAMP))
    os.makedirs(folder)
    nbformat.write(nb, os.path.join(folder, st.NOTEBOOK + ".ipynb"))
    with open(os.path.join(folder, "timestamp.txt"), "w") as f:
        f.write(STAMP)
    if extra:
        extra(folder)
    return folder


@pytest.fixture
def course(tmp_path):
    root = str(tmp_path / "course")
    exchange = str(tmp_path / "exchange")
    # max_dir_size 单位是 KB：200 KB 装得下诚实的提交，装不下 huge 的 300 KB 文件
    st.build_course(root, str(ROOT / "nbgrader_config.py"),
                    "c.Exchange.root = %r\nc.CourseDirectory.max_dir_size = 200\n" % exchange)
    honest = st.answer(copy.deepcopy(st.release_notebook(root)))
    secret = os.path.join(root, "source", st.ASSIGNMENT, st.NOTEBOOK + ".ipynb")  # 教师的答案

    def link(folder):
        os.symlink(secret, os.path.join(folder, "answers.txt"))
        for i in range(filesafe.MAX_FILES + 100):
            open(os.path.join(folder, "empty%04d.txt" % i), "w").close()

    def big(folder):
        with open(os.path.join(folder, "big.bin"), "wb") as f:
            f.write(b"\0" * 300_000)

    for student in HONEST:
        _inbound(exchange, student, honest)
    _inbound(exchange, "mallory", honest, link)
    _inbound(exchange, "huge", honest, big)
    _inbound(exchange, "..", honest)
    return root, secret


def _collect(root, *args):
    res = st.run_nbgrader(root, "collect", st.ASSIGNMENT, *args)
    return res, res.stdout + res.stderr


def _submitted(root, student):
    return os.path.join(root, "submitted", student, st.ASSIGNMENT)


def test_stock_collect_follows_links_aborts_and_escapes(course):
    root, secret = course
    res, out = _collect(root, STOCK, "--student=mallory")
    copied = os.path.join(_submitted(root, "mallory"), "answers.txt")
    assert res.returncode == 0 and not os.path.islink(copied), out[-3000:]
    with open(copied, "rb") as f, open(secret, "rb") as g:
        assert f.read() == g.read()  # 教师的答案成了学生提交里的普通文件
    assert len(os.listdir(_submitted(root, "mallory"))) > filesafe.MAX_FILES + 100
    res, out = _collect(root, STOCK, "--student=huge")
    assert res.returncode != 0 and "Directory size is too big" in out
    res, out = _collect(root, STOCK, "--student=..")
    assert os.path.isdir(os.path.join(root, st.ASSIGNMENT))  # submitted/../ps1：收到了课程根目录下


def test_course_collect_contains_each_hostile_submission(course):
    root, secret = course
    res, out = _collect(root)
    assert res.returncode == 0 and "Traceback" not in out, out[-4000:]
    for student in HONEST + ("mallory", "huge"):
        with open(os.path.join(_submitted(root, student), st.NOTEBOOK + ".ipynb"), "rb") as f:
            assert b"cells" in f.read()  # 每个人的 notebook 都收到了
    names = os.listdir(_submitted(root, "mallory"))
    assert "answers.txt" not in names and len(names) <= filesafe.MAX_FILES + 2
    assert "big.bin" not in os.listdir(_submitted(root, "huge"))
    assert not os.path.exists(os.path.join(root, st.ASSIGNMENT))
    assert "[收作业 mallory/%s]" % st.ASSIGNMENT in out
    assert "answers.txt 没有收：answers.txt 是符号链接" in out
    from course.grading.files.events import collect
    details = [e["detail"] for r in collect(os.path.join(root, "autograded")) for e in r["events"]]
    assert any("big.bin 没有收" in d for d in details) and any("附带文件最多收" in d for d in details)
    res, out = _collect(root, "--student=..")
    assert res.returncode == 0 and "学号不是普通的名字" in out and not os.path.exists(os.path.join(root, st.ASSIGNMENT))


@pytest.mark.parametrize("name, ok", [("alice", True), ("王小明", True), ("a+b", True), ("..", False),
                                      (".", False), ("", False), ("a/b", False), ("a\\b", False),
                                      ("a\nb", False)])
def test_plain_student_names(name, ok):
    assert plain_name(name) is ok
