"""评分前清理提交（c.Autograde.sanitize_preprocessors）：复制粘贴出来的重复 grade_id，被挪动的单元。

DeduplicateGradeIds
    学生复制粘贴单元格时，grade_id 也被复制。nbgrader 自带的 DeduplicateIds 会把重复单元的
    元数据改成空字典 {}，随后 CheckCellMetadata 把它当成“旧版本元数据”，整份作业评分失败。
    这里保留最后一个副本（它一定不早于原单元的位置），其余副本删除 nbgrader 元数据，
    变回普通单元：照常执行，但不计分，也不会搞坏整个提交。重复的 nbformat 单元 id 也一并修复。

RestoreCellOrder
    答案、测试和只读单元放回学生版里的顺序，删掉的只读单元补回（见类的说明）。
"""
import copy
import uuid

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor

from .release import read_release, release_notebook_path
from .submissions import GRADING_META

__all__ = ["DeduplicateGradeIds", "RestoreCellOrder"]


class DeduplicateGradeIds(NbGraderPreprocessor):
    def preprocess(self, nb, resources):
        seen = set()
        for cell in reversed(nb.cells):
            grade_id = _tracked_id(cell)
            if grade_id is None:
                continue
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


def _tracked_id(cell):
    """nbgrader 管着的单元（答案、测试、只读）的 grade_id；别的单元返回 None。"""
    meta = cell.get("metadata", {}).get("nbgrader") or {}
    if utils.is_grade(cell) or utils.is_solution(cell) or utils.is_locked(cell):
        return meta.get("grade_id")
    return None


class RestoreCellOrder(NbGraderPreprocessor):
    """nbgrader 管着的单元按学生版里的顺序排好，删掉的只读单元从学生版补回。

    nbgrader 按 grade_id 复原测试和只读单元的内容，却不管它们的位置。第 05 课的找错练习给出一个
    去掉 gradient 的参考网络（只读单元，在练习 1 的测试之后）：学生把它挪到练习 1 前面，就能继承它
    白拿 predict、loss 的分。这里把每个管着的单元连同它后面学生自己加的单元（直到下一个管着的单元）
    当作一段，按学生版的顺序重排；第一个管着的单元之前的单元留在最前面。不小心把测试挪到答案前面的
    学生也因此照常得分。学生版读不到时什么都不做，只在日志里说明。

    要排在 OverwriteCells 之后（它补回被删的测试单元）、CheckCellMetadata 之前。
    """

    def preprocess(self, nb, resources):
        path = release_notebook_path(self, resources)
        release = read_release(path)
        if release is None:
            self.log.warning("读不到学生版 %s，不检查单元顺序", path or "（路径未知）")
            return nb, resources
        order, read_only = {}, {}
        for cell in release.cells:
            gid = _tracked_id(cell)
            if gid is not None and gid not in order:
                order[gid] = len(order)
                if utils.is_locked(cell) and not (utils.is_grade(cell) or utils.is_solution(cell)):
                    read_only[gid] = cell
        head, segments, present = [], [], set()
        for cell in nb.cells:
            gid = _tracked_id(cell)
            if gid in order and gid not in present:
                segments.append((gid, [cell]))
                present.add(gid)
            elif segments:
                segments[-1][1].append(cell)
            else:
                head.append(cell)
        ranks = [order[gid] for gid, _ in segments]
        moved = ranks != sorted(ranks)
        restored = [gid for gid in read_only if gid not in present]
        segments += [(gid, [copy.deepcopy(read_only[gid])]) for gid in restored]  # 学生版有缓存，放进提交的是副本
        segments.sort(key=lambda seg: order[seg[0]])
        if restored or moved:
            if restored:
                self.log.warning("提交里缺了只读单元 %s，已从学生版补回", "、".join(restored))
            if moved:
                self.log.warning("提交里的单元顺序被打乱，已按学生版复原")
            nb.cells = head + [cell for _, cells in segments for cell in cells]
            meta = nb.metadata.setdefault(GRADING_META, {})
            meta["restored"] = {"moved": moved, "read_only": restored}
        return nb, resources
