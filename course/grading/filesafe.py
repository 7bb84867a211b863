"""评分程序碰学生文件夹时不上当：不跟随符号链接，不打开 FIFO、设备和套接字，复制有大小上限。

学生的文件夹有两处：提交的 submitted/<学生>/<作业>/，和评分时学生代码的工作目录
autograded/<学生>/<作业>/（沙箱里只有它可写）。学生在两处都可能留下：
- 指向文件夹外面的符号链接：nbgrader 复制附带文件、写评分后的 notebook、改权限、生成反馈时
  都会顺着链接走，于是改写、chmod 或复制文件夹外面的文件（成绩库、参考答案……）；
- FIFO：打开它读会一直等下去，整次 autograde 卡住；
- 很大的文件：生成反馈时被原样复制到 feedback/。

install() 在 nbgrader 进程里（nbgrader_config.py 调用）换掉 nbgrader 的几处文件操作：
- 复制附带文件（autograde：submitted → autograded；generate_feedback：autograded → feedback）：
  源文件用 O_NOFOLLOW | O_NONBLOCK 打开并确认是普通文件，目标先删掉再用 O_EXCL | O_NOFOLLOW 新建，
  超过上限的不复制；每个不复制的文件都写明原因；
- 写评分后的 notebook 和反馈 HTML 之前，目标位置上的符号链接或特殊文件先被删掉；
  反馈 HTML 还加上一条内容安全策略（feedback_html.with_csp）；
- 改权限之前清理 autograded/<学生>/<作业>/：删掉学生代码留下的符号链接和特殊文件；
- 读 timestamp.txt 时只打开一次，在打开的文件上确认它是普通文件（检查和读取之间没有空当）。
读提交的 notebook 本身由 submissions.SafeNotebookExporter 用 open_regular() 打开。
不复制、被删掉的东西记为评分事件（python -m course grading-report 里的 “（文件）”）。
"""
import errno
import os
import stat

from .feedback_html import with_csp
from .report import Report

__all__ = ["Refused", "open_regular", "safe_copy", "sweep", "read_timestamp", "install", "FILES_NOTEBOOK", "FEEDBACK_FILES_NOTEBOOK"]

MAX_FILE_MB = 20  # 一个附带文件的上限（MiB）：课程的附带文件都很小
MAX_TOTAL_MB = 50  # 一份作业全部附带文件的上限（MiB）
FILES_NOTEBOOK = "（文件）"  # 评分报告里文件事件的 “notebook” 名（autograde 时）
FEEDBACK_FILES_NOTEBOOK = "（反馈文件）"  # 同上，generate_feedback 时
_CHUNK = 1 << 20


class Refused(Exception):
    """这个文件不读、不复制；str(exc) 是中文原因。"""


def _kind(mode):
    if stat.S_ISLNK(mode):
        return "符号链接"
    if stat.S_ISFIFO(mode):
        return "FIFO（命名管道）"
    if stat.S_ISSOCK(mode):
        return "套接字"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "设备文件"
    return "特殊文件"


def open_regular(path, max_bytes=None):
    """以只读方式打开一个普通文件，返回文件描述符；符号链接、特殊文件、超过 max_bytes 的文件抛 Refused。"""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Refused("%s 是符号链接，评分程序不跟随" % os.path.basename(path)) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Refused("%s 是%s，不是普通文件" % (os.path.basename(path), _kind(st.st_mode)))
        if max_bytes is not None and st.st_size > max_bytes:
            raise Refused("%s 有 %.1f MiB，超过上限 %.0f MiB" % (os.path.basename(path), st.st_size / 2 ** 20,
                                                             max_bytes / 2 ** 20))
        os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise


def _unlink_entry(path):
    """删掉 path 处的符号链接或文件（不跟随链接）；是目录时抛 Refused。"""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise Refused("%s 处是一个文件夹" % os.path.basename(path))
    os.unlink(path)


def safe_copy(src, dst, max_bytes):
    """复制一个普通文件，返回复制的字节数；不跟随两头的符号链接，最多复制 max_bytes 字节。"""
    fd = open_regular(src, max_bytes)
    try:
        os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
        _unlink_entry(dst)
        out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        copied = 0
        try:
            while True:
                chunk = os.read(fd, _CHUNK)
                if not chunk:
                    break
                copied += len(chunk)
                if copied > max_bytes:  # 打开之后文件还在长
                    raise Refused("%s 在复制时超过了上限" % os.path.basename(src))
                os.write(out, chunk)
        finally:
            os.close(out)
        return copied
    except Refused:
        _unlink_entry(dst)
        raise
    finally:
        os.close(fd)


def _entries(folder):
    """folder 下的所有条目（不进入符号链接指向的文件夹）：[(路径, lstat 结果)]。"""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            try:
                out.append((path, os.lstat(path)))
            except FileNotFoundError:
                pass
    return out


def _remove_special(path, st):
    """path 处是符号链接或特殊文件时删掉它（不跟随链接），返回原因；普通文件和文件夹不动，返回 None。"""
    if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
        return None
    try:
        os.unlink(path)
    except OSError as exc:
        return "是%s，删除失败（%s）" % (_kind(st.st_mode), exc)
    return "是%s，学生代码留下的，已删除" % _kind(st.st_mode)


def sweep(folder):
    """删掉 folder 里的符号链接和特殊文件（评分程序自己的输出文件夹里不该有它们），返回 [(相对路径, 原因)]。"""
    removed = []
    for path, st in _entries(folder):
        why = _remove_special(path, st)
        if why:
            removed.append((os.path.relpath(path, folder), why))
    return removed


def _record(converter, assignment_id, student_id, details):
    """把这一轮（这个转换器、这名学生、这份作业）的文件事件写进评分报告；同一轮里的事件累积在一份报告里。"""
    if not details:
        return
    feedback = type(converter).__name__ == "GenerateFeedback"
    events = converter.__dict__.setdefault("_course_file_events", {}).setdefault((assignment_id, student_id), [])
    events.extend(details)
    report = Report(converter.log, student_id, assignment_id, FEEDBACK_FILES_NOTEBOOK if feedback else FILES_NOTEBOOK)
    for detail in events:
        report.events.append({"kind": "file-refused", "cell": None, "grade_id": None, "detail": detail})
    for detail in details:
        converter.log.warning("[评分 %s/%s] %s", student_id, assignment_id, detail)
    cd = converter.coursedir
    try:
        report.write(os.path.normpath(cd.format_path(cd.autograded_directory, ".", ".")))
    except OSError as exc:
        converter.log.warning("评分事件写不进报告：%s", exc)


def _copy_extra_files(converter, assignment_id, student_id):
    """代替 BaseConverter.init_assignment：同样的文件（notebook 以外、不在 ignore 里的），只是安全地复制。"""
    from nbgrader.utils import find_all_files

    source = converter._format_source(assignment_id, student_id)
    dest = converter._format_dest(assignment_id, student_id)
    refused, total, budget = [], 0, MAX_TOTAL_MB * 2 ** 20
    for path in sorted(find_all_files(source, converter.coursedir.ignore + ["*.ipynb"])):
        rel = os.path.relpath(path, source)
        target = os.path.join(dest, rel)
        try:
            total += safe_copy(path, target, min(MAX_FILE_MB * 2 ** 20, budget - total))
            converter.log.info("Copying %s -> %s", path, target)
        except Refused as exc:
            refused.append("%s 没有复制：%s" % (rel, exc))
        except OSError as exc:
            refused.append("%s 没有复制（%s）" % (rel, exc))
    _record(converter, assignment_id, student_id, refused)


def _clear_target(path):
    """写文件之前：目标位置上是符号链接或特殊文件时先删掉，免得写穿到别处或一直等下去。返回事件说明或 None。"""
    try:
        why = _remove_special(path, os.lstat(path))
    except FileNotFoundError:
        return None
    return "%s %s，之后才写入评分结果" % (os.path.basename(path), why) if why else None


MAX_TIMESTAMP_BYTES = 4096  # timestamp.txt 里只有一行时间


def read_timestamp(coursedir, dest_path):
    """代替 CourseDirectory.get_existing_timestamp：只打开一次（不跟随符号链接、不等 FIFO），在同一个文件描述符上
    确认是普通文件再读，检查和读取之间没有空当让人把文件换掉。不是普通文件、太大或是空的：警告并按没有提交时间处理；
    写的不是时间：和 nbgrader 一样不评这份提交，只是报错说得明白。"""
    from nbgrader.utils import parse_utc

    path = os.path.join(dest_path, "timestamp.txt")
    try:
        fd = open_regular(path, MAX_TIMESTAMP_BYTES)
    except FileNotFoundError:
        return None
    except (Refused, OSError) as exc:
        coursedir.log.warning("%s 不读取（%s）：按没有提交时间处理", path, exc)
        return None
    with os.fdopen(fd, "rb") as fh:
        text = fh.read(MAX_TIMESTAMP_BYTES).decode("utf-8", "replace").strip()
    if not text:
        coursedir.log.warning("Empty timestamp file: %s", path)
        return None
    try:
        return parse_utc(text)
    except (ValueError, OverflowError):  # nbgrader 0.9.6 在这里调用 CourseDirectory 上并不存在的 fail()
        raise RuntimeError("%s 里写的不是时间（%r）：这份提交不评，请检查或删掉这个文件" % (path, text[:60])) from None


def install():
    """换掉 nbgrader 转换器里会跟随符号链接的文件操作（重复调用无害）。"""
    from nbgrader.converters.base import BaseConverter
    from nbgrader.coursedir import CourseDirectory

    if getattr(BaseConverter, "_course_filesafe", False):
        return
    write_notebook, set_permissions = BaseConverter.write_single_notebook, BaseConverter.set_permissions

    def init_assignment(self, assignment_id, student_id):
        _copy_extra_files(self, assignment_id, student_id)

    def write_single_notebook(self, output, resources):
        info = resources["nbgrader"]
        folder = self._format_dest(info["assignment"], info["student"])
        cleared = _clear_target(os.path.join(folder, resources["unique_key"] + resources.get("output_extension", "")))
        _record(self, info["assignment"], info["student"], [cleared] if cleared else [])
        if resources.get("output_extension") == ".html":  # 反馈：浏览器只运行模板自己的脚本
            output = with_csp(output)
        return write_notebook(self, output, resources)

    def set_permissions_safely(self, assignment_id, student_id):
        dest = os.path.normpath(self._format_dest(assignment_id, student_id))
        if os.path.isdir(dest) and not os.path.islink(dest):
            _record(self, assignment_id, student_id, ["%s %s" % item for item in sweep(dest)])
        return set_permissions(self, assignment_id, student_id)

    def get_existing_timestamp(self, dest_path):
        return read_timestamp(self, dest_path)

    BaseConverter.init_assignment = init_assignment
    BaseConverter.write_single_notebook = write_single_notebook
    BaseConverter.set_permissions = set_permissions_safely
    CourseDirectory.get_existing_timestamp = get_existing_timestamp
    BaseConverter._course_filesafe = True
