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
