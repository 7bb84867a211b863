"""评分内核看不到的课程模块：参考答案、检查函数和演示班级的答案写法。

测试单元在评分进程里运行（boundary.py）以后，内核不再需要 course.checks；参考实现
（course.layers、course.net）和演示班级的答案写法（course.demo）也不该让学生的代码导入：
`class MulLayer(course.layers.MulLayer): pass` 这样的“答案”在沙箱里根本拿不到父类。

有的课给出的代码本身就要用其中的模块（第 05 课用参考的层搭网络，第 06 课用参考的层对照），
所以按作业决定：学生版里课程给出的单元（非答案、非测试）导入了哪些课程模块，连同它们依赖的
课程模块，这些照常可见，其余的答案模块一律盖住。`if not grading_mode():` 里的导入只在
JupyterLab 里运行，不算。
"""
import ast
import functools
import glob
import os

from nbgrader import utils

from .release import read_release

__all__ = ["ANSWER_PARTS", "ALWAYS_HIDDEN", "given_course_modules", "visible_closure", "hidden_parts", "part_paths"]

# 课程包里含答案的部分（文件夹或模块），评分内核默认看不到
ANSWER_PARTS = ("checks", "layers", "net", "diagnosis", "mlp_view", "demo")
ALWAYS_HIDDEN = ("demo",)  # 演示班级的答案写法：任何一课都用不着
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _grading_guard(node):
    """`if not grading_mode():`（评分时不运行的块）。"""
    test = getattr(node, "test", None)
    return (isinstance(node, ast.If) and isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
            and isinstance(test.operand, ast.Call) and getattr(test.operand.func, "id", "") == "grading_mode")


def _imports(tree):
    """代码里导入的 course 子模块名（跳过评分时不运行的块）。"""
    out = set()
    stack = list(ast.iter_child_nodes(tree))
    while stack:
        node = stack.pop()
        if _grading_guard(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "course" and len(parts) > 1:
                    out.add(parts[1])
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] == "course":
                out.update([parts[1]] if len(parts) > 1 else [a.name for a in node.names])
        stack.extend(ast.iter_child_nodes(node))
    return out


def given_course_modules(cells):
    """课程给出的代码单元（非答案、非测试）导入的 course 子模块。"""
    out = set()
    for cell in cells:
        if cell.cell_type != "code" or utils.is_solution(cell) or utils.is_grade(cell):
            continue
        try:
            out |= _imports(ast.parse(cell.source))
        except SyntaxError:
            continue
    return out


@functools.lru_cache(maxsize=None)
def _module_deps(name, package=_PACKAGE):
    """course/<name>.py（或 course/<name>/）在模块顶层导入的其他 course 子模块。"""
    path = os.path.join(package, name + ".py")
    files = [path] if os.path.isfile(path) else sorted(glob.glob(os.path.join(package, name, "*.py")))
    deps = set()
    for f in files:
        try:
            with open(f, encoding="utf-8") as fh:
                tree = ast.parse(fh.read())
        except (OSError, SyntaxError):
            continue
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.level:
                base = node.module.split(".")[0] if node.module else None
                inside = os.path.isdir(os.path.join(package, name))
                if node.level == 1 and not inside:
                    deps.update([base] if base else [a.name for a in node.names])
                elif node.level == 2 and inside:
                    deps.update([base] if base else [a.name for a in node.names])
    return frozenset(deps - {name})


def visible_closure(names, package=_PACKAGE):
    """names 连同它们（递归）依赖的 course 子模块。"""
    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_module_deps(name, package))
    return seen


def hidden_parts(release_path, trusted_tests=True):
    """这份作业的评分内核要盖住的答案部分。读不到学生版时全部盖住（只留 ALWAYS_HIDDEN 之外课程必需的）。"""
    if not trusted_tests:  # 测试单元在内核里运行，检查函数和参考实现都要用
        return list(ALWAYS_HIDDEN)
    nb = read_release(release_path)
    needed = set() if nb is None else visible_closure(given_course_modules(nb.cells) | {"__init__"})  # 包本身总会被导入
    return [p for p in ANSWER_PARTS if p in ALWAYS_HIDDEN or p not in needed]


def part_paths(package_dir, parts):
    """答案部分在某个课程包目录里的路径：文件夹本身，或者 .py 文件和它在 __pycache__ 里的字节码。"""
    out = []
    for part in parts:
        folder = os.path.join(package_dir, part)
        if os.path.isdir(folder):
            out.append(folder)
        module = folder + ".py"
        if os.path.lexists(module):
            out.append(module)
        out.extend(sorted(glob.glob(os.path.join(package_dir, "__pycache__", part + ".*.pyc"))))
    return out
