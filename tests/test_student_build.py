"""学生版的课程包（setup.py，COURSE_BUILD=student）：装到一个临时文件夹里，演示班级的答案写法不在里面，
release/ 里每一课的公开检查在那里照常运行。对照：不设 COURSE_BUILD 的完整构建里它们都在。

仍在学生版里的参考实现（course.layers、course.net、course.checks）：公开的检查单元拿它们算期望值，
第 05 课给出的代码用参考的层搭网络；见 README“上课（评分）”一节。
"""
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def _install(target, student):
    env = dict(os.environ, COURSE_BUILD="student" if student else "full")
    # 构建环境照 pyproject.toml 的 build-system（setuptools>=77）由 pip 准备；课程包本身只从本地的仓库装
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(ROOT)],
                          env=env, capture_output=True, text=True, timeout=600, cwd=str(target))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return target / "course"


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    return _install(tmp_path_factory.mktemp("student"), True)


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    return _install(tmp_path_factory.mktemp("full"), False)


def _texts(package):
    return {str(p.relative_to(package)): p.read_text(encoding="utf-8") for p in package.rglob("*.py")}


def test_student_build_has_no_demo_answers(student, full):
    got, control = _texts(student), _texts(full)
    # 对照：完整构建里有演示班级每道练习的另一种写法（ALT）、参考网络的评测命令
    assert "demo/styles.py" in control and "ALT = " in control["demo/styles.py"]
    assert "bench.py" in control
    assert not any(name.startswith("demo/") for name in got), sorted(got)
    assert not {"bench.py", "graph_bench.py", "__main__.py"} & set(got)
    assert not [name for name, text in got.items() if "ALT = {" in text or "from .demo" in text], "学生版里有演示班级的答案写法"
    assert (student / "digits.npz").exists()  # 第 05 课的数据照装


def _visible_checks(release_nb, source_nb):
    """参考答案填进学生版：答案单元用 source/ 的，检查单元只留学生版里的公开部分。"""
    answers = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in source_nb.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    nb = nbformat.from_dict(release_nb)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and gid in answers:
            cell.source = answers[gid]
    return nb


@pytest.mark.parametrize("assignment", sorted(p.name for p in (ROOT / "release").iterdir() if p.is_dir()))
def test_visible_checks_run_with_the_student_build(student, assignment):
    release = next((ROOT / "release" / assignment).glob("*.ipynb"))
    source = ROOT / "source" / assignment / release.name
    nb = _visible_checks(nbformat.read(release, as_version=4), nbformat.read(source, as_version=4))
    probe = "import course, os\nassert course.__file__.startswith(%r), course.__file__" % str(student)
    nb.cells.insert(0, nbformat.v4.new_code_cell(probe))
    env = {k: v for k, v in os.environ.items() if k != "NBGRADER_EXECUTION"}
    env["PYTHONPATH"] = str(student.parent)
    env["NBGRADER_EXECUTION"] = "validate"  # 像 Validate 按钮那样：演示缩小，检查照常
    client = NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(student.parent)}})
    client.execute(env=env)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert tests and all(not any(o.get("output_type") == "error" for o in c.outputs) for c in tests)
