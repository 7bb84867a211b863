"""课程包的结构，从代码的 import 读出来（顶层的和函数里的都算）：

- 各部分之间没有循环导入。部分是 course/ 下的每个文件夹和模块；course/grading/ 下的每个文件夹和模块也各算一部分；
- 没有超过 500 行的模块，course/ 顶层至多十二个模块；
- 协议（course/boundary/）只依赖标准库和 numpy，检查函数和评分插件都在它上面；
- 参考答案和演示班级的答案写法只在它们自己的文件夹和教师的命令里用到：检查函数、画图、控件都不导入它们。

每条规则先在一个故意写坏的小包上证明会报错（对照），再用到真正的课程包上。
"""
import ast
import os
import sys
from collections import defaultdict
from pathlib import Path

import pytest

COURSE = Path(__file__).resolve().parent.parent / "course"
SPLIT = ("grading",)  # 这些文件夹里的每个子文件夹、子模块各算一部分


def modules(root):
    """{点分模块名: 文件}，root 是包所在的文件夹（名字取 root 的最后一段）。"""
    out = {}
    base = root.parent
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for f in files:
            if f.endswith(".py"):
                rel = (Path(folder) / f).relative_to(base).with_suffix("")
                name = ".".join(rel.parts)
                out[name[:-9] if name.endswith(".__init__") else name] = Path(folder) / f
    return out


def imports(mods):
    """{模块: 它导入的包内模块}。"""
    edges = defaultdict(set)
    for name, path in mods.items():
        pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = pkg.split(".")
                    base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                targets = [base] + [base + "." + a.name for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != name:
                    edges[name].add(t)
    return edges


def part(name):
    bits = name.split(".")
    depth = 3 if len(bits) > 2 and bits[1] in SPLIT else 2
    return ".".join(bits[:depth])


def part_cycles(root):
    """部分之间的循环（每个循环是一组互相可达的部分）。包自己的 __init__ 不算一部分。"""
    mods = modules(root)
    top = root.name
    graph = defaultdict(set)
    for a, targets in imports(mods).items():
        for b in targets:
            pa, pb = part(a), part(b)
            if pa != pb and pb != top and pa != top:
                graph[pa].add(pb)
    # 两两可达的部分
    def reach(start):
        seen, todo = set(), [start]
        while todo:
            for n in graph[todo.pop()]:
                if n not in seen:
                    seen.add(n)
                    todo.append(n)
        return seen
    nodes = set(graph) | {b for bs in graph.values() for b in bs}
    closure = {n: reach(n) for n in nodes}
    groups = {frozenset({n} | {m for m in closure[n] if n in closure[m]}) for n in nodes}
    return sorted(sorted(g) for g in groups if len(g) > 1)


def test_the_cycle_finder_catches_a_cycle_between_parts(tmp_path):
    pkg = tmp_path / "course"
    for rel, text in {"__init__.py": "", "a/__init__.py": "", "a/x.py": "def f():\n    from ..b import y\n",
                      "b/__init__.py": "", "b/y.py": "from course.a import x\n", "c.py": "from .a import x\n",
                      "grading/__init__.py": "", "grading/p/__init__.py": "", "grading/p/m.py": "from ..q import n\n",
                      "grading/q/__init__.py": "", "grading/q/n.py": "from ..p import m\n"}.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text, encoding="utf-8")
    # 函数里的导入也算；grading 里的子文件夹各算一部分
    assert part_cycles(pkg) == [["course.a", "course.b"], ["course.grading.p", "course.grading.q"]]
    (pkg / "a" / "x.py").write_text("", encoding="utf-8")
    (pkg / "grading" / "q" / "n.py").write_text("", encoding="utf-8")
    assert part_cycles(pkg) == []


def test_no_import_cycle_between_the_parts_of_the_course_package():
    assert part_cycles(COURSE) == []


def test_no_module_is_too_long_and_the_top_level_stays_small():
    mods = modules(COURSE)
    long = {n: sum(1 for _ in p.open(encoding="utf-8")) for n, p in mods.items()}
    assert {n: k for n, k in long.items() if k > 500} == {}
    top = sorted(n for n, p in mods.items() if n.count(".") == 1 and p.name != "__init__.py")
    assert len(top) <= 12, top


def _stdlib(name):
    return name in sys.stdlib_module_names


def boundary_outside_imports(root):
    """course/boundary/ 导入的、标准库和 numpy 以外的东西：{(顶层包名, 是否写在函数里)}。"""
    outside = set()
    for name, path in modules(root).items():
        if not name.startswith(root.name + ".boundary"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        in_function = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                       for n in ast.walk(f)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = [node.module.split(".")[0]]
            elif isinstance(node, ast.ImportFrom):  # 相对导入：只能在 course.boundary 里面
                pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
                bits = pkg.split(".")
                target = ".".join(bits[:len(bits) - node.level + 1] + ([node.module] if node.module else []))
                roots = [] if target.startswith(root.name + ".boundary") else [root.name]
            else:
                continue
            outside |= {(r, id(node) in in_function) for r in roots if not _stdlib(r) and r != "numpy"}
    return outside


def test_the_boundary_depends_on_the_standard_library_and_numpy_only(tmp_path):
    """内核一端的代码在 IPython 内核里运行，从 IPython 取学生的命名空间：这一处导入写在函数里，评判一端不会执行。"""
    pkg = tmp_path / "course"
    for rel, text in {"__init__.py": "", "checks/__init__.py": "", "boundary/__init__.py": "",
                      "boundary/a.py": "import numpy\nfrom ..checks import x\nimport nbformat\n"}.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text, encoding="utf-8")
    assert boundary_outside_imports(pkg) == {("course", False), ("nbformat", False)}  # 对照
    assert boundary_outside_imports(COURSE) == {("IPython", True)}


ANSWERS = ("course.reference", "course.demo")
# 可以用到答案的：答案自己的文件夹，和教师的命令（第 05 课的基准测试要用参考网络，python -m course 要启动演示班级）
MAY_USE_ANSWERS = ("course.reference", "course.demo", "course.bench", "course.__main__")


def answer_users(root):
    out = set()
    for a, targets in imports(modules(root)).items():
        if a.startswith(MAY_USE_ANSWERS):
            continue
        if any(t.startswith(ANSWERS) for t in targets):
            out.add(a)
    return out


def test_answers_are_used_only_by_their_own_folders_and_the_instructor_commands(tmp_path):
    pkg = tmp_path / "course"
    for rel, text in {"__init__.py": "", "reference/__init__.py": "", "reference/layers.py": "",
                      "checks/__init__.py": "", "checks/x.py": "def f():\n    from ..reference import layers\n"}.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text, encoding="utf-8")
    assert answer_users(pkg) == {"course.checks.x"}  # 对照：函数里的导入也查得出
    assert answer_users(COURSE) == set()


@pytest.mark.parametrize("folder", ["graph", "widgets", "plots", "checks", "reference", "demo", "boundary", "grading",
                                    "grading/execute", "grading/sandbox", "grading/feedback", "grading/files",
                                    "grading/batch", "bench", "tools"])
def test_every_folder_is_in_the_readme_structure_table(folder):
    readme = (COURSE.parent / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("### 仓库结构"):]
    assert "`course/%s/`" % folder in table
