"""学生版的课程包（setup.py，COURSE_BUILD=student）：装到一个临时文件夹里，参考答案（course/reference/）和
演示班级的答案写法（course/demo/）都不在里面，release/ 里每一课的公开检查在那里照常运行。
对照：不设 COURSE_BUILD 的完整构建里它们都在。

公开的检查自己算期望值（公式、数值微分），不用参考答案；第 05、06 课给出的代码要用的前几课的层
是随那两课发下的 layers.py（release/05-…/layers.py），不在课程包里。
"""
import os
import re
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
    assert "bench/backprop.py" in control and "tools/student_env.py" in control
    assert not any(name.startswith(("demo/", "bench/", "grading/")) for name in got), sorted(got)
    # course/tools 里只有学生的 Jupyter 服务器要用的（Validate 对话框的中文，setup.py 的 SERVER_MODULES）
    assert sorted(n for n in got if n.startswith("tools/")) == ["tools/__init__.py", "tools/jupyter_ui.py",
                                                               "tools/validate_ui.py"], sorted(got)
    assert (student / "tools" / "jupyter_custom" / "custom.css").is_file()
    assert "__main__.py" not in got
    assert not [name for name, text in got.items() if "ALT = {" in text or "from .demo" in text], "学生版里有演示班级的答案写法"
    assert (student / "digits.npz").exists()  # 第 05 课的数据照装


# 各课练习要写的东西：学生版里哪个模块都不该有现成的（类、函数的定义）
ANSWERS = [re.compile(r"^\s*(class|def) %s\b" % name, re.M) for name in (
    "MulLayer", "AddLayer", "Relu", "Sigmoid", "Affine", "softmax", "cross_entropy_error", "SoftmaxWithLoss",
    "TwoLayerNet", "mlp_hinge_reference", "sgd_step",
    # 概念题的参考答案（course/reference/quizzes.py）：公开检查只带摘要
    "_l01_q1", "_l03_q2", "_l05_q2", "_l06_q1", "reference")] + [re.compile(r"^\s*REFERENCES\s*=", re.M)]


def test_student_build_has_no_reference_answers(student, full):
    got, control = _texts(student), _texts(full)
    # 对照：完整构建里有参考答案，每一条都找得到
    assert any(name.startswith("reference/") for name in control)
    assert all(any(a.search(text) for text in control.values()) for a in ANSWERS)
    assert not any(name.startswith("reference/") for name in got), sorted(got)
    found = sorted((name, a.pattern) for name, text in got.items() for a in ANSWERS if a.search(text))
    assert not found, "学生版里有参考答案：%s" % found


def test_student_build_refuses_a_module_that_imports_an_answer(tmp_path):
    """学生版要用的模块导入了答案文件夹，构建就停下来报错（不会悄悄把答案装进去）。"""
    import shutil
    copy = tmp_path / "repo"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "test-artifacts",
                                                             "autograded", "submitted", "feedback", "demo-run"),
                    symlinks=True)
    fmt = copy / "course" / "fmt.py"
    fmt.write_text(fmt.read_text(encoding="utf-8") + "\n\ndef _peek():\n    from .reference.layers import Relu\n",
                   encoding="utf-8")
    env = dict(os.environ, COURSE_BUILD="student")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(tmp_path / "t"), str(copy)],
                          env=env, capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    assert proc.returncode != 0
    assert "course/reference" in proc.stdout + proc.stderr and "fmt.py" in proc.stdout + proc.stderr


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
def test_visible_checks_run_with_the_student_build(student, assignment, tmp_path):
    import shutil
    work = tmp_path / assignment  # 学生拿到的作业文件夹：notebook 和随它发下的文件（第 05、06 课的 layers.py）
    shutil.copytree(ROOT / "release" / assignment, work)
    release = next(work.glob("*.ipynb"))
    source = ROOT / "source" / assignment / release.name
    nb = _visible_checks(nbformat.read(release, as_version=4), nbformat.read(source, as_version=4))
    probe = "import course, os\nassert course.__file__.startswith(%r), course.__file__" % str(student)
    nb.cells.insert(0, nbformat.v4.new_code_cell(probe))
    env = {k: v for k, v in os.environ.items() if k != "NBGRADER_EXECUTION"}
    env["PYTHONPATH"] = str(student.parent)
    env["NBGRADER_EXECUTION"] = "validate"  # 像 Validate 按钮那样：演示缩小，检查照常
    client = NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(work)}})
    client.execute(env=env)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert tests and all(not any(o.get("output_type") == "error" for o in c.outputs) for c in tests)


def test_class_binder_repo_holds_only_student_material(tmp_path):
    """python -m course class-binder：release/ 的各课、学生版 wheel（没有答案）、binder/ 配置，别的什么都没有。"""
    import zipfile
    from course.tools import student_env
    dest = student_env.class_binder(tmp_path / "class", log=lambda *_: None)
    lessons = sorted(p.name for p in (ROOT / "release").iterdir() if p.is_dir())
    assert sorted(p.name for p in dest.iterdir()) == sorted(lessons + ["README.md", "binder"])
    for lesson in lessons:  # 每一课和 release/ 里的一模一样
        want = sorted(p.name for p in (ROOT / "release" / lesson).iterdir())
        assert sorted(p.name for p in (dest / lesson).iterdir()) == want
        for name in want:
            assert (dest / lesson / name).read_bytes() == (ROOT / "release" / lesson / name).read_bytes()
    (wheel,) = (dest / "binder" / "wheels").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "course/checks/network.py" in names
    assert not [n for n in names if n.startswith(("course/reference/", "course/demo/"))]
    post = (dest / "binder" / "postBuild").read_text(encoding="utf-8")
    assert "binder/wheels/%s" % wheel.name in post
    # 课程包装在 Validate 对话框的中文设置（要导入 course.tools.validate_ui）之前
    assert post.index("binder/wheels/%s" % wheel.name) < post.index("course.tools.validate_ui --server-config")
    reqs = (dest / "binder" / "requirements.txt").read_text(encoding="utf-8")
    assert "nbgrader==" in reqs and "-e ." not in reqs
    with pytest.raises(SystemExit, match="不是空的"):  # 不覆盖已有的文件夹
        student_env.class_binder(dest, log=lambda *_: None)
