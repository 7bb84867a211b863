"""评分内核看不到的课程模块：参考答案、检查函数、演示班级的答案写法，以及练习要写的算法。

测试单元在评分进程里运行（boundary.py）以后，学生的内核只需要课程给出的代码在评分时真正运行的模块。
所以不靠一张手写的“答案模块”清单，而是反过来：课程包里的每个模块（course/ 下的 .py 和子包）
默认都盖住，只有这一课给出的单元（非答案、非测试）评分时会导入的，连同它们（递归）导入的，
才照常可见。新加进课程包的模块不在哪一课的需要里，就自动看不到。

“会导入”按代码的语法树算，模块顶层和函数里面的 import 都算（函数迟早会被调用），只有两种不算：
- `if not grading_mode():` 里面的导入（评分时不运行的块；它的 else 分支照算）；
- `try:` 里面、由 `except ImportError`（或 ModuleNotFoundError）接住的导入：代码写明了没有这个模块也能运行，
  例如 Graph.backward() 评分时在内核里找不到 course.backprop 就什么也不做。
画图和回放要用的模块里都有练习的答案（course.backprop 的局部导数和反向传播、course.trace 和
course.value_graph 的遍历与拓扑排序、course.svg 和 course.layout 的分层布局），课程的辅助函数都按上面
两种写法在评分时不用它们，所以它们在每一课的评分内核里都盖住。演示班级（course.demo）任何时候都盖住；
内核一端的通信代码（course.boundary）内核要用来和评判进程通信，照常可见；评分插件本身（course.grading）也盖住。
"""
import ast
import functools
import glob
import os

from nbgrader import utils

from .release import read_release

__all__ = ["ANSWER_PARTS", "ALWAYS_HIDDEN", "KERNEL_PARTS", "package_parts", "given_course_modules",
           "visible_closure", "hidden_parts", "part_paths"]

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALWAYS_HIDDEN = ("demo",)  # 演示班级的答案写法：任何一课都用不着
KERNEL_PARTS = ("boundary",)  # 内核一端的通信代码（course.boundary）：评分内核总要导入


def package_parts(package=_PACKAGE):
    """课程包里的各个部分：course/<名字>.py 和含 __init__.py 的 course/<名字>/（不含包本身的 __init__、__main__）。"""
    out = set()
    for entry in os.listdir(package):
        path = os.path.join(package, entry)
        if entry.endswith(".py") and os.path.isfile(path) and entry not in ("__init__.py", "__main__.py"):
            out.add(entry[:-3])
        elif os.path.isfile(os.path.join(path, "__init__.py")):
            out.add(entry)
    return tuple(sorted(out))


# 评分内核默认看不到的部分：课程包里除了评分插件以外的一切（哪一课要用的，hidden_parts 再放出来）
ANSWER_PARTS = tuple(p for p in package_parts() if p not in KERNEL_PARTS)


def _grading_guard(node):
    """`if not grading_mode():`（评分时不运行的块）。"""
    test = getattr(node, "test", None)
    return (isinstance(node, ast.If) and isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
            and isinstance(test.operand, ast.Call) and getattr(test.operand.func, "id", "") == "grading_mode")


def _catches_import_error(node):
    """`try: ... except ImportError:`（或 ModuleNotFoundError，或写在元组里）。"""
    if not isinstance(node, ast.Try):
        return False
    for handler in node.handlers:
        kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if any(getattr(k, "id", "") in ("ImportError", "ModuleNotFoundError") for k in kinds):
            return True
    return False


def _imported(tree, package_level):
    """代码里导入的 course 子模块名（跳过评分时不运行的块和写明可以没有的导入）。

    package_level：这段代码自己在课程包里的深度，用来解析相对导入（notebook 里的代码为 None，只认绝对导入；
    course/x.py 为 1，course/sub/x.py 为 2）。
    """
    out = set()
    stack = list(ast.iter_child_nodes(tree))
    while stack:
        node = stack.pop()
        if _grading_guard(node):
            stack.extend(node.orelse)
            continue
        if _catches_import_error(node):
            for part in (node.handlers, node.orelse, node.finalbody):
                stack.extend(part)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "course" and len(parts) > 1:
                    out.add(parts[1])
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                parts = node.module.split(".")
                if parts[0] == "course":
                    out.update([parts[1]] if len(parts) > 1 else [a.name for a in node.names])
            elif package_level and node.level == package_level:  # 从课程包的顶层导入：from . / from ..
                base = node.module.split(".")[0] if node.module else None
                out.update([base] if base else [a.name for a in node.names])
        stack.extend(ast.iter_child_nodes(node))
    return out


def _imports(tree):
    """notebook 单元里导入的 course 子模块名。"""
    return _imported(tree, None)


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
    """course/<name>.py（或 course/<name>/ 里的各个文件）导入的其他 course 子模块：顶层的和函数里的都算。"""
    path = os.path.join(package, name + ".py")
    inside = not os.path.isfile(path)
    files = [path] if not inside else sorted(glob.glob(os.path.join(package, name, "*.py")))
    deps = set()
    for f in files:
        try:
            with open(f, encoding="utf-8") as fh:
                tree = ast.parse(fh.read())
        except (OSError, SyntaxError):
            continue
        deps |= _imported(tree, 2 if inside else 1)
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
    """这份作业的评分内核要盖住的部分。读不到学生版时全部盖住（评分插件本身除外）。"""
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
