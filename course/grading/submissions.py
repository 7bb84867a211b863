"""读不了、找不到的提交：按缺交处理（0 分），写明原因，整次 autograde 照常进行。

nbgrader 0.9.6 遇到 JSON 损坏或空的 notebook 会让这位学生的整份作业评分失败（没有分数，
autograded/ 里也没有文件）；学生把唯一的 notebook 改了名字时，它报 “No notebooks found”，
同样没有分数。这里：

SafeNotebookExporter（c.Autograde.exporter_class）
    读不了的提交（文件不存在、空文件、JSON 损坏、结构损坏、超过大小上限、符号链接、FIFO 之类的特殊文件）换成一份“占位 notebook”：
    开头一段说明原因，后面是成绩库里记录的全部评分单元（学生版内容）。RobustExecute（execute.py）看到
    元数据 course_grading.unreadable 就不运行它，所有测试单元记 0 分。submitted/ 里的原文件不动。

expect_all_notebooks（c.Autograde.pre_convert_hook）
    把作业应有、但提交里没有的 notebook 也加进待评分列表（它们会变成占位 notebook，0 分），
    并在日志里列出学生交上来的、成绩库不认识的 notebook（多半是改了名字）。
"""
import datetime
import os
import re

import nbformat
from nbconvert.exporters import NotebookExporter
from nbformat.v4 import new_markdown_cell, new_notebook
from traitlets import Integer
from traitlets.config import Application

from .files.safe import Refused, open_regular

__all__ = ["SafeNotebookExporter", "expect_all_notebooks", "GRADING_META"]

GRADING_META = "course_grading"  # notebook 元数据里的键：{"unreadable": 原因}，只有评分程序自己能写


class SafeNotebookExporter(NotebookExporter):
    max_submission_mb = Integer(100, help="超过这个大小（MiB）的提交不读取，按无法读取处理").tag(config=True)

    def _sanitizing(self):
        return getattr(self.parent, "_sanitizing", True)

    def from_filename(self, filename, resources=None, **kw):
        if not self._sanitizing():
            return super().from_filename(filename, resources=resources, **kw)
        if resources is None:
            resources = {}
        meta = resources.setdefault("metadata", {})
        path, basename = os.path.split(filename)
        meta["name"] = os.path.splitext(basename)[0]
        meta["path"] = path
        meta["modified_date"] = datetime.date.today().strftime("%B %d, %Y")
        nb, reason = None, None
        try:
            # 不跟随符号链接、不打开 FIFO 之类的特殊文件（filesafe.open_regular），大小有上限
            with open(open_regular(filename, self.max_submission_mb * 1024 * 1024), encoding="utf-8") as f:
                if os.fstat(f.fileno()).st_size == 0:
                    reason = "提交的 %s 是空文件" % basename
                else:
                    nb = nbformat.read(f, as_version=4)
                    if not isinstance(nb.get("cells"), list):
                        raise ValueError("没有 cells 列表")
        except FileNotFoundError:
            reason = "没有提交 %s" % basename
        except Refused as exc:
            reason = "提交的 %s" % exc
        except Exception as exc:  # 任何读取错误都只影响这一份提交
            reason = "提交的 %s 不是有效的 notebook（%s: %s）" % (basename, type(exc).__name__, str(exc)[:200])
        if reason is None:
            nb.metadata.pop(GRADING_META, None)  # 只有评分程序自己能写这个键
            try:
                return self.from_notebook_node(nb, resources, **kw)
            except Exception as exc:  # 能解析但结构坏到 nbgrader 处理不了
                reason = "提交的 %s 结构损坏，无法评分（%s: %s）" % (basename, type(exc).__name__, str(exc)[:200])
        self.log.error("[评分 %s] %s：按缺交处理，所有测试 0 分", _who(resources), reason)
        return self.from_notebook_node(self._placeholder(resources, reason), resources, **kw)

    def _placeholder(self, resources, reason):
        from nbgrader.api import Gradebook

        info = resources.get("nbgrader", {})
        note = new_markdown_cell("**评分说明**：%s。这份作业按缺交处理，所有测试 0 分。" % reason)
        cells = [note]
        with Gradebook(info["db_url"]) as gb:
            nbrec = gb.find_notebook(info["notebook"], info["assignment"])
            grades = {c.name: c.max_score for c in nbrec.grade_cells}
            solutions = {c.name for c in nbrec.solution_cells}
            tasks = {c.name for c in nbrec.task_cells}
            for src in nbrec.source_cells:
                meta = {"grade": src.name in grades, "solution": src.name in solutions, "task": src.name in tasks,
                        "locked": bool(src.locked), "grade_id": src.name, "schema_version": 3}
                if src.name in grades:
                    meta["points"] = grades[src.name]
                if src.checksum:
                    meta["checksum"] = src.checksum
                cell = nbformat.from_dict({"cell_type": src.cell_type, "source": src.source, "id": _cell_id(src.name),
                                           "metadata": {"nbgrader": meta}})
                if src.cell_type == "code":
                    cell.update(outputs=[], execution_count=None)
                cells.append(cell)
        nb = new_notebook(cells=cells)
        nb.metadata[GRADING_META] = {"unreadable": reason}
        return nb


def _cell_id(name):
    return (re.sub(r"[^A-Za-z0-9_-]", "-", name) or "cell")[:64]


def _who(resources):
    info = resources.get("nbgrader", {})
    return "%s/%s/%s" % (info.get("student", "?"), info.get("assignment", "?"), info.get("notebook", "?"))


def _coursedir():
    app = Application.instance() if Application.initialized() else None
    while app is not None:
        if getattr(app, "coursedir", None) is not None:
            return app.coursedir, app.log
        app = getattr(app, "subapp", None)
    return None, None


_EXPECTED = {}  # {(成绩库, 课程, 作业): [notebook 名]}：评分期间作业的 notebook 不会变


def expect_all_notebooks(assignment=None, student=None, notebooks=None, **_):
    """nbgrader 的 pre_convert_hook：补上缺交的 notebook（就地修改 nbgrader 传来的列表）。"""
    if notebooks is None or not notebooks:
        return
    coursedir, log = _coursedir()
    if coursedir is None:
        return
    from nbgrader.api import Gradebook, MissingEntry

    folder = os.path.dirname(notebooks[0])
    parts = os.path.normpath(folder).split(os.sep)
    student_id, assignment_id = parts[-2], parts[-1]
    key = (coursedir.db_url, coursedir.course_id, assignment_id)
    if key not in _EXPECTED:  # 每个进程每份作业只查一次：打开一次成绩库要零点一秒以上
        try:
            with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
                _EXPECTED[key] = [n.name for n in gb.find_assignment(assignment_id).notebooks]
        except MissingEntry:
            return
    expected = _EXPECTED[key]
    present = {os.path.splitext(os.path.basename(p))[0] for p in notebooks}
    unknown = sorted(present - set(expected))
    for name in expected:
        if name not in present:
            log.warning("[评分 %s/%s] 没有找到 %s.ipynb%s：按缺交处理，0 分", student_id, assignment_id, name,
                        "（交上来的是 %s，改了名字？）" % ", ".join(u + ".ipynb" for u in unknown) if unknown else "")
            notebooks.append(os.path.join(folder, name + ".ipynb"))
