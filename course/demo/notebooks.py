"""从教师版（source/）和学生拿到的学生版（release/）拼出一份“学生写过的” notebook。

教师版的练习单元里，每段答案夹在 `### BEGIN SOLUTION` / `### END SOLUTION` 之间；学生版在同一位置
是一段占位代码（raise NotImplementedError）。一段答案归属于它前面最近的、缩进更浅的 def 或 class，
例如 MulLayer 单元里的 "forward" 和 "backward"。

fill(release_nb, source_nb, answers) 按 {(练习单元的 grade_id, 函数名): 代码} 把学生版里的占位代码
换成给定的代码；代码写成顶格（不缩进）的字符串，这里按占位代码的缩进排好。没有给出的部分保持占位代码，
就像学生还没动过它。单元的 id、元数据和其余内容都来自学生版，与学生真正交上来的文件一样。
"""
import re
import textwrap

__all__ = ["REF", "Region", "regions", "solution_cells", "fill", "find_cell", "DemoError"]

REF = object()  # 用教师版的参考答案
_BEGIN = re.compile(r"^(\s*)### BEGIN SOLUTION\s*$")
_END = re.compile(r"^\s*### END SOLUTION\s*$")
_OWNER = re.compile(r"^(\s*)(?:async\s+)?(?:def|class)\s+(\w+)")


class DemoError(Exception):
    """演示班级的学生答案与课程对不上（课程改了，course/demo 需要跟着改）。"""


class Region:
    """一段答案：first/last 是 BEGIN/END 标记所在的行号，indent 是标记的缩进，owner 是所属的函数名。"""

    def __init__(self, first, last, indent, owner, body):
        self.first, self.last, self.indent, self.owner, self.body = first, last, indent, owner, body

    def __repr__(self):
        return "Region(%r, lines %d-%d)" % (self.owner, self.first, self.last)


def regions(source):
    """教师版练习单元里的各段答案，按出现的顺序。"""
    lines = source.split("\n")
    out, i = [], 0
    while i < len(lines):
        m = _BEGIN.match(lines[i])
        if not m:
            i += 1
            continue
        indent = m.group(1)
        j = i + 1
        while j < len(lines) and not _END.match(lines[j]):
            j += 1
        if j == len(lines):
            raise DemoError("有一段答案只有 BEGIN SOLUTION，没有 END SOLUTION")
        owner = None
        for k in range(i - 1, -1, -1):
            mo = _OWNER.match(lines[k])
            if mo and len(mo.group(1)) < len(indent):
                owner = mo.group(2)
                break
        body = textwrap.dedent("\n".join(lines[i + 1:j]))
        out.append(Region(i, j, indent, owner or "<顶层>", body))
        i = j + 1
    return out


def _grade_id(cell):
    return (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id")


def solution_cells(nb):
    """{grade_id: 单元}，只含练习（solution）单元。"""
    return {_grade_id(c): c for c in nb.cells if (c.get("metadata", {}).get("nbgrader") or {}).get("solution")}


def find_cell(nb, grade_id):
    for cell in nb.cells:
        if _grade_id(cell) == grade_id:
            return cell
    raise DemoError("notebook 里没有 grade_id 为 %r 的单元" % grade_id)


def _stubs(source_text, release_text, regs, grade_id):
    """学生版里与每段答案对应的占位代码（按行）。"""
    src, rel = source_text.split("\n"), release_text.split("\n")
    chunks, prev = [], 0
    for r in regs:
        chunks.append(src[prev:r.first])
        prev = r.last + 1
    chunks.append(src[prev:])
    stubs, pos = [], 0
    for k, chunk in enumerate(chunks):
        if rel[pos:pos + len(chunk)] != chunk:
            raise DemoError("练习单元 %r 的学生版与教师版对不上（先重新运行 generate_assignment）" % grade_id)
        pos += len(chunk)
        if k == len(regs):
            break
        nxt = chunks[k + 1]
        end = pos
        while end <= len(rel) and rel[end:end + len(nxt)] != nxt:
            end += 1
        if end > len(rel):
            raise DemoError("练习单元 %r 的学生版里找不到第 %d 段占位代码" % (grade_id, k + 1))
        if k + 1 == len(regs) and end + len(nxt) != len(rel):
            # 最后一段之后的内容必须正好到单元末尾
            end = len(rel) - len(nxt)
        stubs.append(rel[pos:end])
        pos = end
    return stubs


def fill(release_nb, source_nb, answers):
    """返回 release_nb 的副本，其中 answers 指定的部分换成了代码。

    answers：{(grade_id, 函数名): 代码字符串 或 REF}；函数名写 "*" 表示这个单元的每一段。
    """
    import copy

    nb = copy.deepcopy(release_nb)
    src_cells, rel_cells = solution_cells(source_nb), solution_cells(nb)
    wanted = dict(answers)
    for grade_id, src_cell in src_cells.items():
        regs = regions(src_cell.source)
        if grade_id not in rel_cells:
            raise DemoError("学生版里没有练习单元 %r" % grade_id)
        rel_cell = rel_cells[grade_id]
        stubs = _stubs(src_cell.source, rel_cell.source, regs, grade_id)
        owners = {r.owner for r in regs}
        for (gid, owner) in list(wanted):
            if gid == grade_id and owner != "*" and owner not in owners:
                raise DemoError("练习单元 %r 里没有函数 %r（有的是 %s）" % (grade_id, owner, "、".join(sorted(owners))))
        lines = src_cell.source.split("\n")
        out, prev = [], 0
        for r, stub in zip(regs, stubs):
            out += lines[prev:r.first]
            code = wanted.get((grade_id, r.owner), wanted.get((grade_id, "*")))
            if code is None:
                out += stub
            else:
                text = r.body if code is REF else textwrap.dedent(code).strip("\n")
                out += [(r.indent + ln) if ln.strip() else "" for ln in text.split("\n")]
            prev = r.last + 1
        out += lines[prev:]
        rel_cell.source = "\n".join(out)
        for key in [k for k in wanted if k[0] == grade_id]:
            del wanted[key]
    if wanted:
        raise DemoError("这些练习单元在课程里不存在：%s" % ", ".join(sorted({k[0] for k in wanted})))
    return nb
