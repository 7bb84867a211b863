"""测试共用：仓库位置、作业列表、在子进程里运行 nbgrader。"""
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "source"
RELEASE = ROOT / "release"


def student(obj):
    """让测试里定义的类和函数看起来像是在 notebook 里写的（own_class 只接受 __main__ 里的类和函数）。"""
    obj.__module__ = "__main__"
    return obj


def assignments():
    return sorted(p.name for p in SOURCE.iterdir() if p.is_dir()) if SOURCE.exists() else []


def source_notebooks():
    return sorted(SOURCE.glob("*/*.ipynb"))


def read_nb(path):
    return nbformat.read(str(path), as_version=4)


def nbgrader(*args, cwd, timeout=1800, check=True, env=None):
    """在 cwd（一个课程文件夹）里运行 nbgrader，返回 CompletedProcess。"""
    # nbgrader 会以子进程调用 alembic 等命令：让它们来自同一个环境
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    full_env = dict(os.environ, LANG="C.UTF-8", PYTHONUNBUFFERED="1", PATH=path)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=full_env,
        capture_output=True, text=True, timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError("nbgrader %s 失败 (exit %d)\n%s\n%s" % (" ".join(args), proc.returncode, proc.stdout[-4000:], proc.stderr[-6000:]))
    return proc


@pytest.fixture(scope="session")
def repo_root():
    return ROOT


# ---- 测试的层 ----------------------------------------------------------------------------
# 每个测试模块恰好属于一层，层名就是 pytest 的 marker（在 pyproject.toml 里声明，--strict-markers）：
#   python -m pytest -m unit        # 只跑这一层；不带 -m 时全部运行（CI 就是这样）
# 新加测试文件时，把它的模块名写进下面的一层；没写进来时收集阶段就报错停下（tests/test_layers.py
# 还核对每个模块恰好出现一次、表里没有已经删掉的文件、层名与 pyproject.toml 的声明一致）。
# unit 层只收整个模块都不启动内核、不运行 nbgrader、不开浏览器的模块：有一个测试用到了，整个模块就归别的层。
# 别的层按模块的主要内容归：test_filesafe（评分流程）也在 Chromium 里打开一次反馈页面，仍归 pipeline。
LAYERS = {
    # 在 pytest 进程里直接调用课程代码：检查函数、计算图与排版、控件的 Python 一侧、数值微分、数据、
    # 评分边界的协议（两端都在本进程，中间一个套接字）。不启动 Jupyter 内核，不运行 nbgrader 命令，
    # 不起服务器和浏览器；个别测试起一个几秒内结束的 Python 子进程（如 course.bench.backprop --help）。
    "unit": (
        "test_architecture",
        "test_tools_procs",
        "test_checks_activations",
        "test_checks_affine",
        "test_checks_autodiff",
        "test_checks_autodiff_mlp",
        "test_checks_autodiff_styles",
        "test_checks_chain_rule",
        "test_checks_concepts",
        "test_checks_network",
        "test_checks_simple_layers",
        "test_checks_softmax",
        "test_checks_softmax_loss",
        "test_data",
        "test_diagnosis",
        "test_execute_parts",
        "test_feedback_render",
        "test_validate_ui",
        "test_gradcheck",
        "test_grade_signing",
        "test_grading",
        "test_graph",
        "test_layers",
        "test_lesson_helpers",
        "test_lesson_interaction",
        "test_nbgrader_config",
        "test_net",
        "test_notebook_lint",
        "test_peer",
        "test_plotting",
        "test_stepper",
    ),
    # 用 Jupyter 内核（nbclient）把课的 notebook 从头到尾执行：每一课画出的图、Run All 的样子、评分内核里盖住的答案
    "notebooks": (
        "test_answers_hidden",
        "test_graph_layout",
        "test_run_all",
        "test_widgets",
    ),
    # 真正的评分流程：nbgrader 命令、沙箱（bubblewrap、cgroup）、评判进程、演示班级、学生版的构建、
    # Binder 的安装、JupyterHub、PostgreSQL
    "pipeline": (
        "test_autograde",
        "test_binder",
        "test_boundary_attacks",
        "test_bounded_cost",
        "test_cgroup",
        "test_class_report",
        "test_collect",
        "test_deleted_cells",
        "test_demo_bench",
        "test_demo_class",
        "test_demo_parts",
        "test_filesafe",
        "test_grade_celery",
        "test_grade_celery_real",
        "test_grade_service",
        "test_grade_standby",
        "test_grade_service_bench",
        "test_hidden_leaks",
        "test_hostile",
        "test_instructor_workflow",
        "test_jupyterhub",
        "test_pipeline",
        "test_postgres",
        "test_redteam_boundary",
        "test_redteam_lessons",
        "test_redteam_service",
        "test_sandbox",
        "test_student_build",
    ),
    # 无头 Chromium（Playwright）：JupyterLab 里的学生操作、浏览器里量出的计算图、不联网打开的反馈 HTML
    "browser": (
        "test_browser",
        "test_feedback_offline",
        "test_graph_browser",
    ),
}


def layer_table():
    """模块名 -> 层；同一个模块写进表里不止一次时抛 ValueError。"""
    table = {}
    for layer, modules in LAYERS.items():
        for module in modules:
            if module in table:
                raise ValueError("%s 在测试分层表（tests/conftest.py 的 LAYERS）里出现了不止一次：%s 和 %s"
                                 % (module, table[module], layer))
            table[module] = layer
    return table


@pytest.hookimpl(tryfirst=True)  # 在 -m 按 marker 挑选之前
def pytest_collection_modifyitems(config, items):
    try:
        table = layer_table()
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None
    missing = set()
    for item in items:
        module = item.path.stem
        layer = table.get(module)
        if layer is None:
            missing.add(str(item.path.relative_to(ROOT)) if item.path.is_relative_to(ROOT) else str(item.path))
            continue
        item.add_marker(getattr(pytest.mark, layer))
    if missing:
        raise pytest.UsageError(
            "这些测试文件还没有分层：%s\n在 tests/conftest.py 的 LAYERS 里把模块名写进 %s 中的一层"
            "（说明见 README 的“运行测试”）。" % ("、".join(sorted(missing)), "、".join(LAYERS)))
