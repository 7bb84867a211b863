"""python -m course student-env DIR：给上课评分的学生建一个单独的 Python 环境。

学生的 JupyterHub 服务器（hub/jupyterhub_config.py）、给一个班用的机房电脑都从这个环境启动。它和教师的
环境不同的地方只有一处：课程包是**学生版**（COURSE_BUILD=student，见 setup.py），不是指向教师课程文件夹的
可编辑安装，所以学生的代码既读不到 source/（答案和隐藏测试），也导入不了 course.demo（演示班级的各种答案写法）。

两种建法：
- 默认：新建一个虚拟环境，按 hub/student-requirements.txt 从软件包仓库装好 JupyterLab、nbgrader 等，
  再装学生版的课程包；
- --share-packages：不重新下载，新环境通过一个 .pth 文件共用当前环境里的第三方包（numpy、JupyterLab……），
  只有课程包是它自己的学生版。适合同一台机器上的 Hub（和本仓库的测试）；当前环境升级了，学生环境跟着变。
"""
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

__all__ = ["build", "check", "REPO"]

REPO = Path(__file__).resolve().parent.parent


def _site_packages(prefix):
    return Path(sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)}))


def _run(argv, env=None):
    res = subprocess.run(argv, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit("命令失败（退出码 %d）：%s\n%s" % (res.returncode, " ".join(map(str, argv)),
                                                     (res.stderr or res.stdout)[-3000:]))
    return res


def build(dest, share_packages=False, repo=REPO, log=print):
    """在 dest 建学生环境，返回它的 python 路径。"""
    dest = Path(dest).resolve()
    if not (Path(repo) / "setup.py").is_file() or not (Path(repo) / "release").is_dir():
        raise SystemExit("%s 不是课程仓库（要有 setup.py 和 release/）" % repo)
    log("建虚拟环境：%s" % dest)
    venv.EnvBuilder(with_pip=not share_packages, clear=False, symlinks=os.name != "nt").create(dest)
    python = dest / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = _site_packages(dest)
    env = dict(os.environ, COURSE_BUILD="student")
    if share_packages:
        # 当前环境的第三方包目录写进 .pth：只加进 sys.path，那里的 .pth（包括课程包的可编辑安装）不会执行
        shared = [p for p in {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")} if p]
        (site / "_course_shared_packages.pth").write_text("\n".join(sorted(shared)) + "\n", encoding="utf-8")
        # Jupyter 的扩展配置和 JupyterLab 的前端扩展（nbgrader 的作业面板……）在 sys.prefix 下面，也共用
        for sub in ("etc/jupyter", "share/jupyter"):
            src, link = Path(sys.prefix) / sub, dest / sub
            if src.is_dir() and not link.exists():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(src, target_is_directory=True)
        log("共用当前环境的第三方包：%s" % "、".join(sorted(shared)))
        _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--upgrade", "--target", str(site),
              str(repo)], env=env)
    else:
        log("安装 JupyterLab、nbgrader 等（hub/student-requirements.txt）")
        _run([str(python), "-m", "pip", "install", "-q", "-r", str(Path(repo) / "hub" / "student-requirements.txt")])
        _run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(repo)], env=env)
    problems = check(python)
    if problems:
        raise SystemExit("学生环境建好了，但不对：\n" + "\n".join(problems))
    log("学生环境就绪：%s（JupyterHub 里设 COURSE_HUB_STUDENT_ENV=%s）" % (python, dest))
    return python


CHECK = r"""
import importlib.util, json, os, course
root = os.path.dirname(course.__file__)
print(json.dumps({
    "course": root,
    "editable": os.path.isdir(os.path.join(os.path.dirname(root), "source")),
    "demo": importlib.util.find_spec("course.demo") is not None,
    "checks": importlib.util.find_spec("course.checks") is not None,
    "singleuser": importlib.util.find_spec("jupyterhub") is not None,
}))
"""


def check(python):
    """学生环境里的课程包是学生版吗：返回问题的列表（空表示没问题）。"""
    import json

    res = subprocess.run([str(python), "-I", "-c", CHECK], capture_output=True, text=True, cwd="/")
    if res.returncode != 0:
        return ["在学生环境里导入不了课程包：%s" % res.stderr.strip()[-500:]]
    info = json.loads(res.stdout)
    problems = []
    if info["editable"]:
        problems.append("课程包就在一个课程仓库里（%s）：学生能读到 source/" % info["course"])
    if info["demo"]:
        problems.append("学生环境里有 course.demo（演示班级的答案写法）")
    if not info["checks"]:
        problems.append("学生环境里没有 course.checks：公开的检查单元运行不了")
    return problems


def main(args):
    build(args.dest, share_packages=args.share_packages)
