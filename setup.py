"""学生版的课程包：COURSE_BUILD=student pip install .（或 pip wheel），只装 release/ 里的 notebook 真正用到的模块。

自学（pip install -r requirements.txt）照常装整个课程包，这个文件什么也不改。学生版按 release/ 里每一课的
代码单元（课程给出的和公开的检查单元；学生版里没有答案）导入的 course 模块，连同它们（顶层和函数里）导入的，
算出要装的部分；其余的一律不装：评测和演示用的命令（course/bench/backprop.py …）都不在里面。
答案所在的文件夹（ANSWER_FOLDERS：course/reference 的参考实现、course/demo 的各种答案写法）按文件夹排除：
学生版要用的模块哪怕只在函数里导入了它们，构建就停下来报错，而不是悄悄把答案装进去。
另外总带着学生的 Jupyter 服务器要用的 SERVER_MODULES（Validate 对话框的中文），它们不导入别的课程模块。
"""
import ast
import glob
import json
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.join(HERE, "course")


def _course_imports(tree, level):
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("course."))
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.split(".")[0] == "course":
                parts = node.module.split(".")
                out.update([parts[1]] if len(parts) > 1 else [a.name for a in node.names])
            elif level and node.level == level:
                out.update([node.module.split(".")[0]] if node.module else [a.name for a in node.names])
    return out


ANSWER_FOLDERS = ("reference", "demo")
# notebook 不导入、学生的 Jupyter 服务器却要用的几个模块和文件（子包名 -> 模块名）：Validate 对话框的中文
# （course/tools/validate_ui.py，由 jupyter_ui.py 或 JupyterHub 的配置打开；custom.css 是包里的数据文件）
SERVER_MODULES = {"tools": {"__init__", "jupyter_ui", "validate_ui"}}
SERVER_FILES = ("tools/jupyter_custom/",)


def _files(part):
    path = os.path.join(PACKAGE, part + ".py")
    return ([path], 1) if os.path.isfile(path) else (sorted(glob.glob(os.path.join(PACKAGE, part, "*.py"))), 2)


def student_parts():
    """release/ 里的 notebook 用到的课程包部分（course/ 下的模块名或子包名）。"""
    todo = {"__init__"}
    for path in glob.glob(os.path.join(HERE, "release", "*", "*.ipynb")):
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                try:
                    todo |= _course_imports(ast.parse("".join(cell["source"])), None)
                except SyntaxError:
                    pass
    seen, needed_by = set(), {}
    while todo:
        part = todo.pop()
        if part in seen:
            continue
        if part in ANSWER_FOLDERS:
            raise SystemExit("学生版的课程包不能含答案：course/%s 被 %s 导入了（setup.py 的 ANSWER_FOLDERS）"
                             % (part, needed_by.get(part, "release/ 里的 notebook")))
        seen.add(part)
        files, level = _files(part)
        for f in files:
            with open(f, encoding="utf-8") as fh:
                found = _course_imports(ast.parse(fh.read()), level)
            for name in found - seen:
                needed_by.setdefault(name, os.path.relpath(f, HERE))
            todo |= found
    return seen


class StudentBuildPy(build_py):
    """COURSE_BUILD=student 时只复制 student_parts() 里的模块和子包。"""

    def initialize_options(self):
        super().initialize_options()
        self.student = os.environ.get("COURSE_BUILD") == "student"

    def finalize_options(self):
        super().finalize_options()
        if self.student:
            self.parts = student_parts()

    def _keep(self, package, module):
        if not self.student:
            return True
        sub = package.split(".")
        if len(sub) > 1 and module in SERVER_MODULES.get(sub[1], ()):
            return True
        return (sub[1] if len(sub) > 1 else module) in self.parts or (len(sub) == 1 and module == "__init__")

    def find_package_modules(self, package, package_dir):
        return [m for m in super().find_package_modules(package, package_dir) if self._keep(m[0], m[1])]

    def _get_data_files(self):
        data = super()._get_data_files()
        if not self.student:
            return data
        out = []
        for package, src, build, names in data:
            sub = package.split(".")
            if len(sub) > 1 and sub[1] not in self.parts and sub[1] not in SERVER_MODULES:
                continue
            if len(sub) == 1:  # 不再算作子包的文件夹（course/demo/…）会当成 course 的数据文件：一并去掉
                names = [n for n in names if self._keep_file(n)]
            out.append((package, src, build, names))
        return out

    def _keep_file(self, name):
        if name.replace(os.sep, "/").startswith(SERVER_FILES):
            return True
        top = name.replace(os.sep, "/").split("/")[0]
        part = top[:-3] if top.endswith(".py") else top
        code = top.endswith(".py") or "/" in name.replace(os.sep, "/")
        return not code or part == "__init__" or part in self.parts

    def run(self):
        if self.student:  # 先清空构建目录里的课程包：不让以前完整构建留下的文件混进来
            shutil.rmtree(os.path.join(self.build_lib, "course"), ignore_errors=True)
        if self.student and self.packages:
            self.packages = [p for p in self.packages if len(p.split(".")) == 1 or p.split(".")[1] in self.parts
                             or p.split(".")[1] in SERVER_MODULES]
        super().run()


setup(cmdclass={"build_py": StudentBuildPy})
