"""评分流程的自检：在临时文件夹里建一门只有一份小作业的课程，交上一组“坏”提交，
用真正的 nbgrader 命令评分。tests/test_sandbox.py、tests/test_hostile.py 用它；
教师在新服务器上也可以跑一遍（几十秒）：python -m course grading-selftest

作业 ps1/layers.ipynb：三个练习（mul_forward 2 分、add_backward 3 分、square_grad 5 分），
每个测试单元都有公开部分和隐藏部分（隐藏部分先调用 course.checks.guard.restore()）。
"""
import copy
import json
import os
import subprocess
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

__all__ = ["ASSIGNMENT", "NOTEBOOK", "POINTS", "SOLUTIONS", "build_course", "release_notebook", "answer",
           "submit", "run_nbgrader", "start_nbgrader", "scores", "autograded", "outputs_text", "find_cell",
           "sandbox_probe_code", "selftest"]

ASSIGNMENT, NOTEBOOK = "ps1", "layers"
POINTS = {"test_mul_forward": 2, "test_add_backward": 3, "test_square_grad": 5}
_GUARD = "from course.checks.guard import restore as _restore; _restore()"

SOLUTIONS = {
    "mul_forward": "    return x * y",
    "add_backward": "    return dout * 1, dout * 1",
    "square_grad": "    return 2 * x",
}
_SIGNATURES = {
    "mul_forward": 'def mul_forward(x, y):\n    """返回 x*y。"""\n',
    "add_backward": 'def add_backward(dout):\n    """加法节点的反向传播，返回 (dx, dy)。"""\n',
    "square_grad": 'def square_grad(x):\n    """sum(x**2) 关于 x 的梯度。"""\n',
}
_TESTS = {
    "test_mul_forward": (
        '"""mul_forward 的正向计算"""\n'
        'assert np.allclose(mul_forward(2.0, 3.0), 6.0), "mul_forward(2, 3) 应为 6"\n'
        "### BEGIN HIDDEN TESTS\n" + _GUARD + "\n"
        "import numpy as _np\n"
        "_rng = _np.random.default_rng(5)\n"
        "_x, _y = _rng.normal(size=(3, 4)), _rng.normal(size=(3, 4))\n"
        'assert _np.allclose(mul_forward(_x, _y), _x * _y), "隐藏测试：随机数组上的结果不对"\n'
        "### END HIDDEN TESTS"),
    "test_add_backward": (
        '"""add_backward 把上游梯度原样传给两个输入"""\n'
        "dx, dy = add_backward(1.5)\n"
        'assert dx == 1.5 and dy == 1.5, "dout=1.5 时 dx、dy 都应为 1.5"\n'
        "### BEGIN HIDDEN TESTS\n" + _GUARD + "\n"
        "import numpy as _np\n"
        "_d = _np.random.default_rng(7).normal(size=(2, 5))\n"
        "_dx, _dy = add_backward(_d)\n"
        'assert _np.allclose(_dx, _d) and _np.allclose(_dy, _d), "隐藏测试：dx、dy 应等于 dout"\n'
        "### END HIDDEN TESTS"),
    "test_square_grad": (
        '"""square_grad 与数值梯度一致"""\n'
        "from course.checks._core import expect_close\n"
        "from course.gradcheck import numerical_gradient\n"
        "x = np.array([1.0, -2.0, 3.0])\n"
        "want = numerical_gradient(lambda v: np.sum(v ** 2), x.copy())  # 先算好期望值，学生的函数拿到的是拷贝\n"
        'g = expect_close(square_grad(x.copy()), want, "square_grad")\n'
        "### BEGIN HIDDEN TESTS\n" + _GUARD + "\n"
        "from course.checks._core import expect_close as _expect_close\n"
        "import numpy as _np\n"
        "_x = _np.random.default_rng(11).normal(size=(4, 3))\n"
        '_g = _expect_close(square_grad(_x.copy()), 2 * _x, "square_grad（隐藏测试）")\n'
        "### END HIDDEN TESTS"),
}
_KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def _meta(grade_id, *, solution=False, grade=False, points=None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def source_notebook():
    cells = [new_markdown_cell("# 自检作业"), new_code_cell("import numpy as np")]
    for name, test in zip(SOLUTIONS, _TESTS):
        body = _SIGNATURES[name] + "    ### BEGIN SOLUTION\n" + SOLUTIONS[name] + "\n    ### END SOLUTION"
        cells.append(new_code_cell(body, metadata=_meta(name, solution=True)))
        cells.append(new_code_cell(_TESTS[test], metadata=_meta(test, grade=True, points=POINTS[test])))
    for i, cell in enumerate(cells):
        cell["id"] = "c%02d" % i
    return new_notebook(cells=cells, metadata={"kernelspec": _KERNELSPEC, "language_info": {"name": "python"}})


def _nbgrader_cmd(env):
    bindir = os.path.dirname(sys.executable)  # nbgrader 还要调用同一环境里的 alembic
    full_env = dict(os.environ, LANG="C.UTF-8")
    full_env.update(env or {})
    full_env["PATH"] = bindir + os.pathsep + full_env.get("PATH", "")
    return [sys.executable, "-m", "nbgrader"], full_env


def run_nbgrader(course, *args, env=None, timeout=900):
    """在课程文件夹里运行 nbgrader 子命令，返回 CompletedProcess（不检查退出码）。"""
    cmd, full_env = _nbgrader_cmd(env)
    return subprocess.run(cmd + list(args), cwd=course, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def start_nbgrader(course, *args, env=None):
    """同 run_nbgrader，但不等它结束（返回 Popen，用 communicate() 取输出）。"""
    cmd, full_env = _nbgrader_cmd(env)
    return subprocess.Popen(cmd + list(args), cwd=course, env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def build_course(root, config_py, extra_config=""):
    """复制课程配置到 root，写入作业 source/ps1/layers.ipynb，运行 generate_assignment。返回 root。"""
    os.makedirs(os.path.join(root, "source", ASSIGNMENT), exist_ok=True)
    with open(config_py, encoding="utf-8") as f:
        text = f.read()
    with open(os.path.join(root, "nbgrader_config.py"), "w", encoding="utf-8") as f:
        f.write(text + "\n# --- 自检课程的设置 ---\n" + extra_config + "\n")
    nbformat.write(source_notebook(), os.path.join(root, "source", ASSIGNMENT, NOTEBOOK + ".ipynb"))
    res = run_nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")
    if res.returncode != 0:
        raise RuntimeError("generate_assignment 失败：\n" + res.stdout + res.stderr)
    return root


def release_notebook(root):
    return nbformat.read(os.path.join(root, "release", ASSIGNMENT, NOTEBOOK + ".ipynb"), as_version=4)


def find_cell(nb, grade_id):
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
    raise KeyError(grade_id)


def answer(nb, solutions=None, prefix=None):
    """把学生版里的占位代码换成给定的实现（默认参考答案）；prefix 是加在某个练习单元前面的代码。"""
    solutions = dict(SOLUTIONS, **(solutions or {}))
    for name, body in solutions.items():
        cell = find_cell(nb, name)
        cell.source = (prefix or {}).get(name, "") + _SIGNATURES[name] + body
    return nb


def submit(root, student, nb=None, raw=None, filename=NOTEBOOK + ".ipynb"):
    """把提交放进 submitted/<student>/ps1/（nb 是 notebook，raw 是原始文本，用于损坏的文件）。"""
    folder = os.path.join(root, "submitted", student, ASSIGNMENT)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, filename)
    if raw is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(raw)
    else:
        nbformat.write(nb, path)
    with open(os.path.join(folder, "timestamp.txt"), "w") as f:
        f.write("2024-01-01 00:00:00.000000 UTC")
    return path


def grade_with_feedback(root, config_py, answers, extra_config=""):
    """建一门小课，交上 answers（{学生: (练习答案, 前缀)}，见 answer()），一次 autograde 再 generate_feedback。
    任何一步失败都抛 RuntimeError（带上输出的结尾）；返回课程根目录。"""
    root = build_course(root, config_py, extra_config)
    release = release_notebook(root)
    for student, (solutions, prefix) in answers.items():
        submit(root, student, answer(copy.deepcopy(release), solutions, prefix=prefix))
    for step in ("autograde", "generate_feedback"):
        res = run_nbgrader(root, step, ASSIGNMENT)
        if res.returncode != 0:
            raise RuntimeError("nbgrader %s 失败：\n%s" % (step, (res.stdout + res.stderr)[-6000:]))
    return root


def scores(root, student):
    """{grade_id: 自动评分分数}（从成绩库读）。"""
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///" + os.path.join(root, "gradebook.db")) as gb:
        sub = gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, student)
        return {g.name: g.auto_score for g in sub.grades}


def autograded(root, student):
    path = os.path.join(root, "autograded", student, ASSIGNMENT, NOTEBOOK + ".ipynb")
    return nbformat.read(path, as_version=4), path


def outputs_text(cell):
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") == "error":
            parts.append("%s: %s" % (out.get("ename"), out.get("evalue")))
        else:
            parts.append(str((out.get("data") or {}).get("text/plain", "")))
    return "".join(parts)


def sandbox_probe_code(root, other_student, port, grader_pid):
    """一段学生代码：尝试读答案、改成绩库、删别人的作业、往外写、联网……把结果打印成一行 JSON。"""
    paths = {
        "SRC": os.path.join(root, "source", ASSIGNMENT, NOTEBOOK + ".ipynb"),
        "DB": os.path.join(root, "gradebook.db"),
        "OTHER": os.path.join(root, "submitted", other_student, ASSIGNMENT, NOTEBOOK + ".ipynb"),
        "OTHER_GRADED": os.path.join(root, "autograded", other_student, ASSIGNMENT, NOTEBOOK + ".ipynb"),
        "OUTSIDE": os.path.join(root, "pwned.txt"),
        "RELEASE": os.path.join(root, "release", ASSIGNMENT, NOTEBOOK + ".ipynb"),
    }
    return (
        "import json as _j, os as _os, socket as _s\n"
        "_P = %s\n"
        "_res = {}\n"
        "def _try(name, fn):\n"
        "    try:\n"
        "        fn()\n"
        "        _res[name] = 'OK'\n"
        "    except BaseException as e:\n"
        "        _res[name] = 'FAIL ' + type(e).__name__\n"
        "_try('read_source', lambda: open(_P['SRC']).read())\n"
        "_try('list_source', lambda: _os.listdir(_os.path.dirname(_P['SRC'])))\n"
        "_try('read_release', lambda: open(_P['RELEASE']).read())\n"
        "_try('read_gradebook', lambda: open(_P['DB'], 'rb').read(16))\n"
        "_try('write_gradebook', lambda: open(_P['DB'], 'ab').write(b'x'))\n"
        "_try('delete_gradebook', lambda: _os.remove(_P['DB']))\n"
        "_try('delete_other', lambda: _os.remove(_P['OTHER']))\n"
        "_try('read_other_graded', lambda: open(_P['OTHER_GRADED']).read())\n"
        "_try('write_outside', lambda: open(_P['OUTSIDE'], 'w').write('x'))\n"
        "_try('network', lambda: _s.create_connection(('127.0.0.1', %d), timeout=3).close())\n"
        "_try('signal_grader', lambda: _os.kill(%d, 0))\n"
        "_try('env_secret', lambda: _os.environ['COURSE_SELFTEST_SECRET'])\n"
        # 课程包若从仓库里可编辑安装（或仓库在 PYTHONPATH 上），仓库自己的 source/ 就在包的旁边
        "import course as _c\n"
        "def _repo_source():\n"
        "    _d = _os.path.join(_os.path.dirname(_os.path.dirname(_os.path.abspath(_c.__file__))), 'source')\n"
        "    if not _os.listdir(_d):\n"
        "        raise FileNotFoundError('empty')\n"
        "_try('read_repo_source', _repo_source)\n"
        # 演示班级的答案写法（course/demo/styles.py）不能从学生的内核里导入
        "_try('import_demo_answers', lambda: __import__('course.demo.styles'))\n"
        # 测试单元在评分进程里运行，内核用不着参考实现和检查函数：它们也导入不了，字节码也读不到
        "_try('import_reference_layers', lambda: __import__('course.reference.layers', fromlist=['MulLayer']).MulLayer)\n"
        "_try('import_checks', lambda: __import__('course.checks._core', fromlist=['x']).expect_close)\n"
        "def _pyc():\n"
        "    import glob, importlib.machinery\n"
        "    _f = glob.glob(_os.path.join(_os.path.dirname(_c.__file__), 'reference', '__pycache__', 'layers.*.pyc'))[0]\n"
        "    return importlib.machinery.SourcelessFileLoader('_ref', _f).load_module().MulLayer\n"
        "_try('load_reference_bytecode', _pyc)\n"
        "_try('write_own', lambda: open('own.txt', 'w').write('ok'))\n"
        "print('SANDBOX_RESULT ' + _j.dumps(_res, sort_keys=True))\n"
    ) % (json.dumps(paths), port, grader_pid)


# 越权提交试的每一件事（sandbox_probe_code 里的名字）：自检时逐行用中文说明结果
PROBES = {
    "read_source": "读 source/ 里的答案",
    "list_source": "列出 source/ 文件夹",
    "read_release": "读课程文件夹里的学生版 release/",
    "read_gradebook": "读成绩库",
    "write_gradebook": "改写成绩库",
    "delete_gradebook": "删除成绩库",
    "delete_other": "删除别的学生的提交",
    "read_other_graded": "读别的学生的评分结果",
    "write_outside": "在自己的作业文件夹以外写文件",
    "network": "联网（连接评分程序开的端口）",
    "signal_grader": "给评分进程发信号",
    "env_secret": "读评分进程的环境变量",
    "read_repo_source": "从课程包旁边找到仓库的 source/",
    "import_demo_answers": "导入演示班级的答案写法 course.demo",
    "import_reference_layers": "导入参考实现的层",
    "import_checks": "导入检查函数 course.checks",
    "load_reference_bytecode": "直接加载参考实现的字节码",
}
ALLOWED = {"write_own": "在自己的作业文件夹里写文件"}  # 这一项应当做得到


def probe_lines(result, connected):
    """越权提交的结果，每项一行中文：挡住了（好）/ 没挡住（坏）；应当做得到的事做到了（好）/ 做不到（坏）。"""
    lines = []
    for key, value in sorted(result.items()):
        failed = value.startswith("FAIL")
        error = value.split(" ", 1)[1] if failed and " " in value else ""
        if key in ALLOWED:
            lines.append("  %s %s：%s" % ("✔" if not failed else "✘", ALLOWED[key],
                                         "可以（应当可以）" if not failed else "做不到（%s），评分时学生代码写不了自己的文件夹" % error))
        else:
            what = PROBES.get(key, key)
            lines.append("  %s %s：%s" % ("✔" if failed else "✘", what,
                                         "被挡住了（%s），好" % error if failed else "没有挡住！"))
    lines.append("  %s %s：%s" % ("✘" if connected else "✔", "联网（评分程序那边是否收到连接）",
                                  "收到了连接！" if connected else "没有收到，好"))
    return lines


def selftest(tmp, config):
    """在 tmp 里建课程（用 config 这份 nbgrader_config.py），交参考答案和一份试图越权的提交，
    评分并打印结果。返回是否一切如预期。"""
    import copy
    import socket

    from ..sandbox import bubblewrap as sandbox

    root = build_course(os.path.join(tmp, "course"), config, "c.Execute.timeout = 20\n")
    rel = release_notebook(root)
    submit(root, "honest", answer(copy.deepcopy(rel)))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.1)
    port = listener.getsockname()[1]
    hostile = answer(copy.deepcopy(rel),
                     prefix={"mul_forward": sandbox_probe_code(root, "honest", port, os.getpid())})
    submit(root, "prober", hostile)
    res = run_nbgrader(root, "autograde", ASSIGNMENT, env={"COURSE_SELFTEST_SECRET": "s3cret"})
    try:
        listener.accept()
        connected = True
    except OSError:
        connected = False
    nb, _ = autograded(root, "prober")
    line = [x for x in outputs_text(find_cell(nb, "mul_forward")).splitlines() if x.startswith("SANDBOX_RESULT ")]
    result = json.loads(line[0].split(" ", 1)[1]) if line else {}
    print(sandbox.describe()[1])
    print("nbgrader autograde 退出码：%d" % res.returncode)
    print("参考答案得分：%s" % scores(root, "honest"))
    print("一份越权提交试着做这些事（✔ 表示结果如预期：越权的被挡住，写自己的文件夹可以）：")
    for line in probe_lines(result, connected):
        print(line)
    ok = (res.returncode == 0 and sum(scores(root, "honest").values()) == 10 and not connected
          and all(v.startswith("FAIL") for k, v in result.items() if k != "write_own")
          and result.get("write_own") == "OK")
    listener.close()
    return ok
