"""任务里的文件：作业包和提交，都是纯数据（{相对路径: base64 文本}），有大小和个数上限。

作业包是一份作业评分时要的课程文件：nbgrader_config.py、source/<作业>/、release/<作业>/，再加上成绩库里这份
作业的截止时间（迟交扣分要用）。它的名字是内容的散列：工人按散列缓存，同一份作业只准备一次。

读文件都不跟随符号链接、不打开特殊文件（course/grading/files/safe.py 的 open_regular）；写文件时路径必须是
相对路径、不含 “..”，目标用 O_EXCL | O_NOFOLLOW 新建：任务里的名字骗不了工人写到别处去。
"""
import base64
import hashlib
import json
import os

from ..files.safe import MAX_ENTRIES, Refused, list_files, open_regular

__all__ = ["BundleError", "read_folder", "write_files", "make_bundle", "files_size", "BUNDLE_MAX_BYTES",
           "SKIP_NAMES"]

BUNDLE_MAX_BYTES = 64 * 2 ** 20  # 一份作业包（课程给的文件）的上限
SKIP_NAMES = [".ipynb_checkpoints", "__pycache__", "*.pyc", ".git"]


class BundleError(Exception):
    """作业包或提交里的文件不对（中文说明）。"""


def _read(path, max_bytes):
    fd = open_regular(path, max_bytes)
    with os.fdopen(fd, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise Refused("%s 在读取时超过了上限" % os.path.basename(path))
    return data


def read_folder(folder, *, max_bytes, exclude=SKIP_NAMES, max_files=1000, prefix=""):
    """folder 下的普通文件：({prefix + 相对路径: base64}, [没有读的说明])。符号链接和特殊文件不读。"""
    files, notes, total = {}, [], 0
    if not os.path.isdir(folder):
        return files, notes
    paths, complete = list_files(folder, list(exclude), MAX_ENTRIES)
    if not complete:
        notes.append("%s 里的条目超过 %d 个，只看了前面的" % (folder, MAX_ENTRIES))
    for path in sorted(paths)[:max_files]:
        rel = os.path.relpath(path, folder).replace(os.sep, "/")
        try:
            data = _read(path, max_bytes - total)
        except Refused as exc:
            notes.append("%s 没有带上：%s" % (rel, exc))
            continue
        except OSError as exc:
            notes.append("%s 没有带上（%s）" % (rel, exc))
            continue
        total += len(data)
        files[prefix + rel] = base64.b64encode(data).decode("ascii")
    if len(paths) > max_files:
        notes.append("文件超过 %d 个：另外 %d 个没有带上" % (max_files, len(paths) - max_files))
    return files, notes


def files_size(files):
    return sum(len(v) * 3 // 4 for v in files.values())


def _check_rel(rel):
    if not isinstance(rel, str) or not rel or rel.startswith("/") or "\\" in rel or "\0" in rel:
        raise BundleError("文件名不对：%r" % (rel,))
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise BundleError("文件名不对：%r" % (rel,))
    return parts


def write_files(files, dest, max_bytes):
    """把 {相对路径: base64} 写进 dest（dest 下原来没有这些文件）。路径不对、总量超过 max_bytes 时抛 BundleError。"""
    if not isinstance(files, dict):
        raise BundleError("文件表应当是 dict")
    total = 0
    for rel, text in sorted(files.items()):
        parts = _check_rel(rel)
        if not isinstance(text, str):
            raise BundleError("%s 的内容不是 base64 文本" % rel)
        data = base64.b64decode(text.encode("ascii"), validate=True)
        total += len(data)
        if total > max_bytes:
            raise BundleError("文件加起来超过了上限 %.0f MiB" % (max_bytes / 2 ** 20))
        folder = dest
        for part in parts[:-1]:  # 一级一级建，每一级都不能是符号链接
            folder = os.path.join(folder, part)
            try:
                os.mkdir(folder)
            except FileExistsError:
                if os.path.islink(folder) or not os.path.isdir(folder):
                    raise BundleError("%s 不是文件夹" % rel) from None
        path = os.path.join(folder, parts[-1])
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    return total


def make_bundle(course, root, assignment, *, course_id, source_dir="source", release_dir="release", duedate=None):
    """课程 course（nbgrader_config.py 所在的文件夹；课程文件在 root 下）里 assignment 的作业包。"""
    files, notes = {}, []
    config = os.path.join(course, "nbgrader_config.py")
    try:
        files["nbgrader_config.py"] = base64.b64encode(_read(config, 2 ** 20)).decode("ascii")
    except (OSError, Refused) as exc:
        raise BundleError("读不了课程配置 %s：%s" % (config, exc)) from None
    for kind, sub in (("source", source_dir), ("release", release_dir)):
        folder = os.path.join(root, sub, assignment)
        got, why = read_folder(folder, max_bytes=BUNDLE_MAX_BYTES - files_size(files), prefix=kind + "/" + assignment + "/")
        if kind == "source" and not any(k.endswith(".ipynb") for k in got):
            raise BundleError("%s 里没有 notebook：这份作业还没有 source/" % folder)
        files.update(got)
        notes += why
    if notes:
        raise BundleError("作业 %s 的课程文件带不全：%s" % (assignment, "；".join(notes[:5])))
    meta = {"assignment": assignment, "course_id": course_id, "duedate": duedate}
    digest = hashlib.sha256(json.dumps([meta, sorted(files.items())], sort_keys=True).encode()).hexdigest()
    return dict(meta, hash=digest[:32], files=files)
