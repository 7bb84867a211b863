"""评分前清理提交：复制粘贴出来的重复 grade_id（c.Autograde.sanitize_preprocessors）。

DeduplicateGradeIds
    学生复制粘贴单元格时，grade_id 也被复制。nbgrader 自带的 DeduplicateIds 会把重复单元的
    元数据改成空字典 {}，随后 CheckCellMetadata 把它当成“旧版本元数据”，整份作业评分失败。
    这里保留最后一个副本（它一定不早于原单元的位置），其余副本删除 nbgrader 元数据，
    变回普通单元：照常执行，但不计分，也不会搞坏整个提交。重复的 nbformat 单元 id 也一并修复。
"""
import uuid

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor

__all__ = ["DeduplicateGradeIds"]


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
