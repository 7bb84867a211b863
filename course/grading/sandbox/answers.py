"""评分内核看不到的课程模块：参考答案、检查函数、演示班级的答案写法，以及练习要写的算法。

测试单元在评分进程里运行（boundary.py）以后，学生的内核只需要课程给出的代码在评分时真正运行的模块。
所以不靠一张手写的“答案模块”清单，而是反过来：课程包里的每个模块（course/ 下任何一层的 .py）
默认都盖住，只有这一课给出的单元（非答案、非测试）评分时会导入的，连同它们（递归）导入的，
才照常可见。新加进课程包的模块不在哪一课的需要里，就自动看不到，放在哪个文件夹里都一样。
按模块算，不按文件夹算：第 01 课要用 course/graph/model.py 的 Graph，同一个文件夹里的 backprop.py
照样盖住；一个文件夹里的模块全都盖住时，盖的就是整个文件夹（沙箱里用空的 tmpfs 遮住）。

“会导入”按代码的语法树算，模块顶层和函数里面的 import 都算（函数迟早会被调用），只有两种不算：
- `if not grading_mode():` 里面的导入（评分时不运行的块；它的 else 分支照算）；
- `try:` 里面、由 `except ImportError`（或 ModuleNotFoundError）接住的导入：代码写明了没有这个模块也能运行，
  例如 Graph.backward() 评分时在内核里找不到 course.graph.backprop 就什么也不做。
画图和回放要用的模块里都有练习的答案（course.graph.backprop 的局部导数和反向传播、course.graph.trace 和
course.graph.engine 的遍历与拓扑排序、course.graph.svg 和 course.graph.layout 的分层布局），课程的辅助函数都按上面
两种写法在评分时不用它们，所以它们在每一课的评分内核里都盖住。演示班级（course.demo）任何时候都盖住；
内核一端的通信代码（course.boundary）内核要用来和评判进程通信，照常可见；评分插件本身（course.grading）也盖住。
"""
import ast
import functools
import glob
import os

from nbgrader import utils

from ..files.release import read_release

__all__ = ["ALWAYS_HIDDEN", "KERNEL_PARTS", "package_modules", "given_course_modules", "visible_closure",
           "hidden_parts", "all_hidden", "part_paths", "allow_lists", "compile_package"]

_PACKAGE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALWAYS_HIDDEN = ("demo",)  # 演示班级的答案写法：任何一课都用不着
KERNEL_PARTS = ("boundary",)  # 内核一端的通信代码（course.boundary）：评分内核总要导入


def package_modules(package=_PACKAGE):
    """课程包里的每个模块：{点分的名字（相对 course）: 文件}。子包的 __init__.py 记作子包的名字，
    课程包自己的 __init__.py 记作 "__init__"。"""
    out = {}
    for folder, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if os.path.isfile(os.path.join(folder, d, "__init__.py")))
        rel = os.path.relpath(folder, package)
        prefix = "" if rel == "." else rel.replace(os.sep, ".")
        for name in files:
            if not name.endswith(".py"):
                continue
            stem = name[:-3]
            if stem == "__init__":
                out[prefix or "__init__"] = os.path.join(folder, name)
            else:
                out[(prefix + "." if prefix else "") + stem] = os.path.join(folder, name)
    return out


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


def _imported(tree, here):
    """代码里导入的 course 模块（点分、相对 course 的名字；`from x import y` 里的 y 可能是模块，也记下
    x.y，不是模块的名字以后丢掉），跳过评分时不运行的块和写明可以没有的导入。

    here：这段代码所在的包（相对 course 的点分名字，course/ 顶层为 ""），用来解析相对导入；
    notebook 里的代码为 None，只认绝对导入。
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
                if alias.name.startswith("course."):
                    out.add(alias.name[len("course."):])
        elif isinstance(node, ast.ImportFrom):
            base = None
            if node.level == 0 and node.module and (node.module + ".").startswith("course."):
                base = node.module[len("course."):]
            elif node.level and here is not None:
                parts = here.split(".") if here else []
                if node.level - 1 <= len(parts):
                    parts = parts[:len(parts) - (node.level - 1)] + (node.module.split(".") if node.module else [])
                    base = ".".join(parts)
            if base is not None:
                if base:
                    out.add(base)
                out.update((base + "." if base else "") + a.name for a in node.names)
        stack.extend(ast.iter_child_nodes(node))
    return out


def _imports(tree):
    """notebook 单元里导入的 course 模块。"""
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


def _parents(name):
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@functools.lru_cache(maxsize=None)
def _module_deps(name, package=_PACKAGE):
    """模块 name 导入的其他 course 模块：顶层的和函数里的都算；导入一个子模块也就导入了它上面的各层包。"""
    modules = package_modules(package)
    path = modules[name]
    here = name if os.path.basename(path) == "__init__.py" and name != "__init__" else \
        ("" if name == "__init__" else name.rpartition(".")[0])
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
    except (OSError, SyntaxError):
        return frozenset()
    deps = {d for d in _imported(tree, here) if d in modules}
    deps |= {p for d in deps for p in _parents(d)}
    return frozenset(deps - {name})


def visible_closure(names, package=_PACKAGE):
    """names 连同它们（递归）依赖的 course 模块；不是模块的名字（例如 from course import Graph 的 Graph）丢掉。"""
    modules = package_modules(package)
    seen, todo = set(), [n for n in names if n in modules]
    todo += [p for n in list(todo) for p in _parents(n)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_module_deps(name, package))
    return seen


def _under(name, parts):
    return any(name == p or name.startswith(p + ".") for p in parts)


def _compress(hidden, modules):
    """盖住的模块写成尽量少的部分：一个文件夹里（连同子文件夹）的模块全盖住，就写文件夹本身。"""
    out = []
    for name in sorted(hidden):
        if any(_under(name, [p]) for p in out):
            continue
        parts = name.split(".")
        top = name
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            inside = [m for m in modules if _under(m, [prefix])]
            if prefix in modules and os.path.basename(modules[prefix]) == "__init__.py" and \
                    all(m in hidden for m in inside):
                top = prefix
                break
        if not any(_under(top, [p]) for p in out):
            out = [p for p in out if not _under(p, [top])] + [top]
    return sorted(out)


def _hideable(modules):
    return {m for m in modules if m not in ("__init__", "__main__") and not _under(m, KERNEL_PARTS)}


def all_hidden(package=_PACKAGE):
    """读不到学生版时盖住的部分：除了课程包本身和内核一端的通信代码，全部。"""
    modules = package_modules(package)
    return _compress(_hideable(modules), modules)


def hidden_parts(release_path, trusted_tests=True, package=_PACKAGE):
    """这份作业的评分内核要盖住的部分（点分的名字：文件夹或模块）。读不到学生版时全部盖住。"""
    if not trusted_tests:  # 测试单元在内核里运行，检查函数和参考实现都要用
        return list(ALWAYS_HIDDEN)
    nb = read_release(release_path)
    if nb is None:
        return all_hidden(package)
    modules = package_modules(package)
    needed = visible_closure(given_course_modules(nb.cells) | {"__init__"}, package)  # 包本身总会被导入
    hidden = {m for m in _hideable(modules) if _under(m, ALWAYS_HIDDEN) or m not in needed}
    return _compress(hidden, modules)


def part_paths(package_dir, parts):
    """要盖住的部分在某个课程包目录里的路径：文件夹本身，或者 .py 文件和它在 __pycache__ 里的字节码。"""
    out = []
    for part in parts:
        *above, last = part.split(".")
        where = os.path.join(package_dir, *above)
        folder = os.path.join(where, last)
        if os.path.isdir(folder):
            out.append(folder)
        module = folder + ".py"
        if os.path.lexists(module):
            out.append(module)
        out.extend(sorted(glob.glob(os.path.join(where, "__pycache__", last + ".*.pyc"))))
    return out


def allow_lists(paths):
    """课程包里直接含有要盖住的模块文件（不是整个文件夹被盖住）的文件夹，和它们的 __pycache__：沙箱里这些
    文件夹换成一层空的只读 tmpfs，只把评分开始时已经在、又不用盖住的东西一项项挂回去（白名单，而不是只把要盖的
    几个文件盖上 /dev/null）。这样评分途中才出现的文件——教师那边的进程导入参考实现时写下的字节码、
    编辑器整个换掉的 .py——在沙箱里都看不到：文件一换，原来盖在上面的 /dev/null 就会从所有挂载命名空间里
    脱落，而白名单里本来就没有它。

    反过来，评分途中整个换掉一个挂回去的文件时，沙箱里看到的是一个空文件（挂载点）：评分途中改课程包本来就会让
    不同的学生用到不同的代码，不要这样做。

    paths 是 part_paths(课程包目录, 要盖住的部分) 的结果。返回 [(文件夹, [挂回去的路径])]，父文件夹在前。
    __pycache__ 里挂回去的只是不用盖住的模块的字节码。"""
    hidden = {os.path.normpath(p) for p in paths}
    folders = sorted({os.path.dirname(p) for p in hidden if p.endswith(".py") and not os.path.isdir(p)},
                     key=lambda f: (f.count(os.sep), f))
    out = []
    for folder in folders:
        if any(folder == h or folder.startswith(h + os.sep) for h in hidden):
            continue  # 整个文件夹已经盖住了
        stems = {os.path.basename(p)[:-3] for p in hidden if p.endswith(".py") and os.path.dirname(p) == folder}
        cache = os.path.join(folder, "__pycache__")
        keep = []
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if path in hidden or name == "__pycache__" or not _mountable(path):
                continue
            keep.append(path)
        out.append((folder, keep))
        if os.path.isdir(cache) and not os.path.islink(cache):
            out.append((cache, [os.path.join(cache, n) for n in sorted(os.listdir(cache))
                                if n.split(".")[0] not in stems and _mountable(os.path.join(cache, n))]))
    return out


def _mountable(path):
    """能原样挂回去的：普通文件、文件夹、符号链接（套接字、FIFO 之类不挂）。"""
    import stat

    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)


def compile_package(package=_PACKAGE):
    """把课程包编译成字节码（写进各个 __pycache__，已经是新的就跳过）。评分内核和评判进程在沙箱里只读地
    看到课程包、也不写字节码，没有编译好的 .pyc 时每个进程都要把导入的课程模块从源码重新编译一遍；工人和批量
    评分开始时各调用一次。课程包所在的目录写不进去（例如装在只读的位置）时什么也不做。
    要盖住的模块的字节码同样会写下，沙箱按 allow_lists 只挂回不用盖住的那些。返回是否全部编译成功。"""
    import compileall

    try:
        return bool(compileall.compile_dir(package, quiet=2, workers=1))
    except (OSError, ValueError):
        return False
