"""收作业（nbgrader collect，c.ExchangeFactory.collect）：一份提交只影响它自己。

交换目录的 inbound/ 谁都能写：学生不经 `nbgrader submit` 也能在那里放一个文件夹。nbgrader 0.9.6 收作业时
用 shutil.copytree 复制整个文件夹：
- 顺着符号链接复制，指向教师文件（成绩库、source/ 里的答案）的链接被复制成 submitted/ 里的普通文件；
- 文件个数没有上限；
- 文件夹超过 max_dir_size 时抛 RuntimeError，整次 collect 停在这名学生，排在后面的学生都没收；
- 学号取自文件夹名 “学号+作业+时间”，名为 “..” 的文件夹会被收到 submitted/ 外面去。
这里先丢掉学号不是普通名字的记录（写明原因），再换掉复制这一步（copy_submission）：不跟随链接、个数有上限，超出大小的文件不收，
没收的写进日志和评分报告（python -m course grading-report 里的 “（收作业）”），其余照 nbgrader 原样。
"""
import fnmatch
import os

from nbgrader.exchange.default.collect import ExchangeCollect

from .files.safe import (MAX_ENTRIES, MAX_FILES, MAX_NOTEBOOKS, NBGRADER_FILES, Refused, _summarised, list_files,
                       safe_copy)
from .files.events import Report

__all__ = ["Collect", "copy_submission", "plain_name", "COLLECT_NOTEBOOK"]

COLLECT_NOTEBOOK = "（收作业）"  # 评分报告里这类事件的 “notebook” 名


def copy_submission(src, dest, exclude, max_file_bytes, max_total_bytes, include=("*",)):
    """收作业：把交换目录里的一份提交 src 复制成 dest（dest 还不存在），返回 [没有复制的说明]。

    nbgrader 自己的文件（timestamp.txt ……）先复制，再是 notebook（最多 MAX_NOTEBOOKS 个），再是其余文件
    （最多 MAX_FILES 个），都按名字顺序；符号链接和特殊文件不复制；单个文件超过 max_file_bytes、
    累计超过 max_total_bytes 的不复制。时间与条目数成正比，最多看 MAX_ENTRIES 个条目。"""
    files, complete = list_files(src, list(exclude), MAX_ENTRIES)
    if tuple(include) != ("*",):
        files = [f for f in files if any(fnmatch.fnmatch(os.path.basename(f), g) for g in include)]
    rel = {f: os.path.relpath(f, src) for f in files}
    own = sorted(f for f in files if rel[f] in NBGRADER_FILES)
    notebooks = sorted(f for f in files if f.endswith(".ipynb") and f not in own)
    others = sorted(f for f in files if f not in own and not f.endswith(".ipynb"))
    notes = []
    if not complete:
        notes.append("文件夹里的文件和文件夹超过 %d 个：只看了前 %d 个" % (MAX_ENTRIES, MAX_ENTRIES))
    for group, limit, what in ((notebooks, MAX_NOTEBOOKS, "notebook"), (others, MAX_FILES, "附带文件")):
        if len(group) > limit:
            notes.append("%s最多收 %d 个：另外 %d 个没有收（例如 %s）" % (what, limit, len(group) - limit,
                                                                rel[group[limit]]))
            del group[limit:]
    os.makedirs(dest, exist_ok=True)
    total, refused = 0, []
    for path in own + notebooks + others:
        try:
            total += safe_copy(path, os.path.join(dest, rel[path]), min(max_file_bytes, max_total_bytes - total))
        except Refused as exc:
            refused.append("%s 没有收：%s" % (rel[path], exc))
        except OSError as exc:
            refused.append("%s 没有收（%s）" % (rel[path], exc))
    return notes + _summarised(refused, "文件没有收")


def plain_name(name):
    """学号能不能当作 submitted/ 下面的一个文件夹名：非空，不是 . 或 ..，不含路径分隔符和控制字符。"""
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\0") \
        and all(c.isprintable() for c in name)


class Collect(ExchangeCollect):
    """同 nbgrader 的 ExchangeCollect，只是丢掉学号不对的记录，每份提交用 copy_submission 复制。"""

    def init_src(self):
        super().init_src()
        bad = [r for r in self.src_records if not plain_name(r["username"])]
        if bad:
            self.log.warning("交换目录里有 %d 个提交的学号不是普通的名字，没有收：%s",
                             len(bad), "、".join(repr(r["filename"]) for r in bad[:5]))
        self.src_records = [r for r in self.src_records if plain_name(r["username"])]

    def do_copy(self, src, dest, log=None):
        cd = self.coursedir
        notes = copy_submission(src, dest, cd.ignore, cd.max_file_size * 1000, cd.max_dir_size * 1000,
                                include=cd.include)
        if not notes:
            return
        student = os.path.basename(os.path.dirname(os.path.normpath(dest)))
        report = Report(self.log, student, cd.assignment_id, COLLECT_NOTEBOOK)
        for note in notes:
            self.log.warning("[收作业 %s/%s] %s", student, cd.assignment_id, note)
            report.events.append({"kind": "file-refused", "cell": None, "grade_id": None, "detail": note})
        try:
            report.write(os.path.normpath(cd.format_path(cd.autograded_directory, ".", ".")))
        except OSError as exc:
            self.log.warning("收作业的事件写不进报告：%s", exc)
