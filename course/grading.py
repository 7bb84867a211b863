"""给 nbgrader 用的两个小预处理器（在 nbgrader_config.py 中按名字注册）。

DeduplicateGradeIds
    学生复制粘贴单元格时，grade_id 也被复制。nbgrader 自带的 DeduplicateIds 会把重复单元的
    元数据改成空字典 {}，随后 CheckCellMetadata 把它当成“旧版本元数据”，整份作业评分失败。
    这里保留最后一个副本（它一定不早于原单元的位置），其余副本删除 nbgrader 元数据，
    变回普通单元：照常执行，但不计分，也不会搞坏整个提交。重复的 nbformat 单元 id 也一并修复。

HideHiddenTests
    生成反馈时，把隐藏测试从源码中删掉（任何代码单元），并把含隐藏测试的单元里的 traceback 换成一行
    “异常类型: 说明”，因为 traceback 会原样显示测试代码。检查函数的中文说明保留。
"""
import uuid

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

__all__ = ["DeduplicateGradeIds", "HideHiddenTests"]


class DeduplicateGradeIds(NbGraderPreprocessor):
    def preprocess(self, nb, resources):
        seen = set()
        for cell in reversed(nb.cells):
            meta = cell.metadata.get("nbgrader")
            if not meta or not (utils.is_grade(cell) or utils.is_solution(cell) or utils.is_locked(cell)):
                continue
            grade_id = meta.get("grade_id")
            if grade_id in seen:
                self.log.warning("单元 '%s' 出现了不止一次（复制粘贴？），只按最后一个副本评分", grade_id)
                del cell.metadata["nbgrader"]
                cell.metadata.pop("deletable", None)
                cell.metadata.pop("editable", None)
            else:
                seen.add(grade_id)
        ids = set()
        for cell in nb.cells:
            if "id" in cell and cell["id"] in ids:
                cell["id"] = uuid.uuid4().hex[:12]
            ids.add(cell.get("id"))
        return nb, resources


class HideHiddenTests(NbGraderPreprocessor):
    begin = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end = Unicode("END HIDDEN TESTS").tag(config=True)
    notice = Unicode("# （这里还有隐藏测试，反馈中不显示）").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        # 不只看测试单元：任何单元里出现的隐藏测试都不该进入反馈
        if cell.cell_type != "code" or self.begin not in cell.source:
            return cell, resources
        kept, hidden = [], False
        for line in cell.source.split("\n"):
            if self.begin in line:
                hidden = True
                kept.append(line[: len(line) - len(line.lstrip())] + self.notice)
            elif self.end in line:
                hidden = False
            elif not hidden:
                kept.append(line)
        cell.source = "\n".join(kept)
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                out["traceback"] = ["%s: %s" % (out.get("ename", "Error"), out.get("evalue", ""))]
        return cell, resources
