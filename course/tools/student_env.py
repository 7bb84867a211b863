"""python -m course student-env DIR：给上课评分的学生建一个单独的 Python 环境；
python -m course class-binder DIR：给一个班用的 Binder 仓库（只有学生版的 notebook 和课程包）。

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

__all__ = ["build", "check", "class_binder", "REPO"]

REPO = Path(__file__).resolve().parents[2]


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
    "reference": importlib.util.find_spec("course.reference") is not None,
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
    if info["reference"]:
        problems.append("学生环境里有 course.reference（参考答案）")
    if not info["checks"]:
        problems.append("学生环境里没有 course.checks：公开的检查单元运行不了")
    return problems


# requirements.txt 里 Binder 的学生用不上的行：课程包另装学生版，本机的界面配置由 postBuild 代替
_LOCAL_ONLY = ("-e .", "./jupyter-config")
_BINDER_README = """# 《计算图与误差反向传播法》：本班的作业

每一课一个文件夹，打开里面的 notebook，按顺序往下做；写完一个练习就运行它下面的检查单元。
这个仓库由课程仓库的 `python -m course class-binder` 生成：只有学生版的 notebook（没有答案和隐藏测试）
和学生版的课程包（binder/wheels/，没有参考答案），交作业按老师说的方式（nbgrader 或学习平台）。
"""


def class_binder(dest, repo=REPO, log=print):
    """在 dest 生成给一个班用的 Binder 仓库：release/ 的各课、学生版课程包的 wheel、binder/ 配置。返回 dest。"""
    import shutil
    import zipfile

    dest, repo = Path(dest).resolve(), Path(repo)
    if not (repo / "setup.py").is_file() or not (repo / "release").is_dir():
        raise SystemExit("%s 不是课程仓库（要有 setup.py 和 release/）" % repo)
    if dest.exists() and any(dest.iterdir()):
        raise SystemExit("%s 已经存在而且不是空的：换一个文件夹，或者先清空它" % dest)
    lessons = sorted(p for p in (repo / "release").iterdir() if p.is_dir())
    for lesson in lessons:
        shutil.copytree(lesson, dest / lesson.name)
    wheels = dest / "binder" / "wheels"
    log("构建学生版的课程包（COURSE_BUILD=student）")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(repo)],
         env=dict(os.environ, COURSE_BUILD="student"))
    (wheel,) = wheels.glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        leaked = sorted(n for n in z.namelist() if n.startswith(("course/reference/", "course/demo/")))
    if leaked:
        raise SystemExit("学生版的 wheel 里有答案，没有生成：%s" % ", ".join(leaked[:5]))
    lines = (repo / "requirements.txt").read_text(encoding="utf-8").splitlines()
    keep = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#") and ln.strip() not in _LOCAL_ONLY]
    binder = dest / "binder"
    (binder / "requirements.txt").write_text(
        "# 课程的依赖（课程仓库的 requirements.txt，去掉可编辑安装的课程包）和 JupyterLab 的简体中文界面\n"
        + "\n".join(keep + ["jupyterlab-language-pack-zh-CN>=4.2,<5"]) + "\n", encoding="utf-8")
    shutil.copy(repo / "binder" / "apt.txt", binder / "apt.txt")
    post = (repo / "binder" / "postBuild").read_text(encoding="utf-8")
    # 学生版的课程包先装：postBuild 后面的步骤（Validate 对话框的中文设置）要用到它
    install = ("\n# 学生版的课程包：没有参考答案和演示班级的答案写法（python -m course class-binder 生成）\n"
               "python -m pip install --no-deps binder/wheels/%s\n" % wheel.name)
    head, marker, rest = post.partition("\nPREFIX=")
    if not marker:
        raise SystemExit("binder/postBuild 里找不到 PREFIX= 那一行，不知道把课程包的安装放在哪里")
    line, _, rest = rest.partition("\n")
    post = head + marker + line + "\n" + install + rest
    (binder / "postBuild").write_text(post, encoding="utf-8")
    (binder / "postBuild").chmod(0o755)
    (dest / "README.md").write_text(_BINDER_README, encoding="utf-8")
    log("生成好了：%s（%d 课，课程包 %s）。把它推到一个新的 git 仓库，用那个仓库的 Binder 链接发给学生。"
        % (dest, len(lessons), wheel.name))
    return dest


def main(args):
    build(args.dest, share_packages=args.share_packages)


def binder_main(args):
    class_binder(args.dest)
