"""评分前清理提交（c.Autograde.sanitize_preprocessors）：复制粘贴出来的重复 grade_id，被挪动的单元。

DeduplicateGradeIds
    学生复制粘贴单元格时，grade_id 也被复制。nbgrader 自带的 DeduplicateIds 会把重复单元的
    元数据改成空字典 {}，随后 CheckCellMetadata 把它当成“旧版本元数据”，整份作业评分失败。
    这里保留最后一个副本（它一定不早于原单元的位置），其余副本删除 nbgrader 元数据，
    变回普通单元：照常执行，但不计分，也不会搞坏整个提交。重复的 nbformat 单元 id 也一并修复。

OverwriteCells
    代替 nbgrader 的 OverwriteCells（同样的配置节 c.OverwriteCells）：测试和只读单元照样换回原样、删掉的测试单元
    照样补回，只是
    - 没动过的测试单元不再报 “Attribute 'checksum' for cell … has changed!”。成绩库里的校验和是按 source/ 里的
      单元（带隐藏测试）算的，学生版里的同一个单元去掉了隐藏测试，所以每份提交的每个带隐藏测试的测试单元都会
      “变了”，这条警告说的并不是学生改了什么。这里拿提交里的单元和学生版里的比：一样就不报；
    - 真被改动、被删掉的测试单元记下来（notebook 元数据 GRADING_META 的 "restored"），评分报告里写一条
      cells-restored，python -m course grading-report 会列出来。

RestoreCellOrder
    答案、测试和只读单元放回学生版里的顺序，删掉的只读单元补回（见类的说明）。
"""
import copy
import uuid

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.preprocessors import OverwriteCells as _StockOverwriteCells

from .files.release import read_release, release_notebook_path
from .submissions import GRADING_META

__all__ = ["DeduplicateGradeIds", "OverwriteCells", "RestoreCellOrder"]


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


def _note_restored(nb, **found):
    """把复原了什么记进 notebook 元数据（RobustExecute 据此在评分报告里写 cells-restored）。"""
    nb.metadata.setdefault(GRADING_META, {}).setdefault("restored", {}).update(found)


class OverwriteCells(_StockOverwriteCells):
    """nbgrader 的 OverwriteCells，校验和的警告只在学生真改了单元时出现，改动和删掉的测试单元记进评分报告（见模块说明）。

    类名与 nbgrader 的相同，配置（c.OverwriteCells.add_missing_cells 等）照常生效。学生版读不到时和原版一样。"""

    def preprocess(self, nb, resources):
        release = read_release(release_notebook_path(self, resources))
        self._released = {} if release is None else {
            _tracked_id(c): c.source for c in release.cells if utils.is_locked(c) and _tracked_id(c) is not None}
        self._changed = []
        info = resources.get("nbgrader", {})
        self._who = "%s/%s/%s" % (info.get("student", "?"), info.get("assignment", "?"), info.get("notebook", "?"))
        present = {_tracked_id(c) for c in nb.cells if utils.is_grade(c)}
        nb, resources = super().preprocess(nb, resources)
        deleted = [gid for gid in self._released if gid not in present and
                   any(utils.is_grade(c) and _tracked_id(c) == gid for c in release.cells)] if release else []
        if deleted:
            self.log.warning("[%s] 提交里缺了测试单元 %s：评分时已补回，照常计分", self._who, "、".join(deleted))
        found = {"tests_changed": self._changed, "tests_deleted": deleted}
        if any(found.values()):
            _note_restored(nb, **{k: v for k, v in found.items() if v})
        return nb, resources

    def add_missing_grade_cells(self, nb, resources):
        """补回被删的测试单元，插在学生版里它前面最近的、还在提交里的单元（答案、测试或只读单元）后面。

        nbgrader 0.9.6 的同名方法只记答案和测试单元的位置，被删的测试单元前面若是只读单元（例如第 05 课找错练习
        给出的网络），就抛出 KeyError，整份 notebook 被当成损坏、记 0 分。位置不必精确：RestoreCellOrder 随后
        按学生版的顺序重排。"""
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        source_cells = source_nb.source_cells
        order = [c.name for c in source_cells]
        solutions = {c.name for c in source_nb.solution_cells}
        for grade_cell in source_nb.grade_cells:
            present = {}
            for i, c in enumerate(nb.cells):
                present.setdefault(_tracked_id(c), i)
            if grade_cell.name in present or grade_cell.name not in order:
                continue
            k = order.index(grade_cell.name)
            cell = self.missing_cell_transform(source_cells[k], grade_cell.max_score,
                                               is_solution=grade_cell.name in solutions)
            before = next((present[n] for n in reversed(order[:k]) if n in present), None)
            nb.cells.insert(0 if before is None else before + 1, cell)
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        gid = _tracked_id(cell)
        self._untouched = self._released.get(gid) == cell.source if gid in self._released else None
        return super().preprocess_cell(cell, resources, index)

    def report_change(self, name, attr, old, new):
        if attr != "checksum":
            return super().report_change(name, attr, old, new)
        if self._untouched:  # 和学生版里的一样：差的只是学生版里去掉的隐藏测试
            self.log.debug("单元 %s 与学生版相同（校验和不同只因为隐藏测试），换回带隐藏测试的原样", name)
            return
        if self._untouched is False or not self._released:
            self.log.warning("[%s] 单元 %s 的内容被改动过：评分时已换回原样", self._who, name)
            if name not in self._changed:
                self._changed.append(name)


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
            _note_restored(nb, moved=moved, read_only=restored)
        return nb, resources
