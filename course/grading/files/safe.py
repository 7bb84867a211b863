"""评分程序碰学生文件夹时不上当：不跟随符号链接，不打开 FIFO、设备和套接字，复制有大小上限。

学生的文件夹有两处：提交的 submitted/<学生>/<作业>/，和评分时学生代码的工作目录
autograded/<学生>/<作业>/（沙箱里只有它可写）。学生在两处都可能留下：
- 指向文件夹外面的符号链接：nbgrader 复制附带文件、写评分后的 notebook、改权限、生成反馈时
  都会顺着链接走，于是改写、chmod 或复制文件夹外面的文件（成绩库、参考答案……）；
- FIFO：打开它读会一直等下去，整次 autograde 卡住；
- 很大的文件：生成反馈时被原样复制到 feedback/；
- 成千上万个（空）文件：nbgrader 0.9.6 列文件的 utils.find_all_files 对每个文件调用一次 is_ignored，
  而 is_ignored 每次都用 glob 把整个文件夹再列一遍，所以列文件的时间是文件数的平方
  （500 / 1000 / 2000 个文件：1.4 / 5.5 / 22 秒；60000 个文件 10 分钟没列完），一名学生就能卡住全班的
  autograde 和 generate_feedback。

course/grading/nbgrader_patches.py 在 nbgrader 进程里换掉 nbgrader 的几处文件操作，换上这里的做法（按 nbgrader 0.9.6
的代码写，requirements.txt 钉死了这个版本；升级 nbgrader 时要对照它的 converters/base.py、utils.py 重新检查）：
- 列文件：utils.find_all_files 换成 list_files（结果相同，时间与条目数成正比，文件名判断不再列文件夹）；
  列学生文件夹时最多看 MAX_ENTRIES 个条目；
- 复制附带文件（autograde：submitted → autograded；generate_feedback：autograded → feedback）：
  源文件用 O_NOFOLLOW | O_NONBLOCK 打开并确认是普通文件，目标先删掉再用 O_EXCL | O_NOFOLLOW 新建，
  最多复制 MAX_FILES 个、共 MAX_TOTAL_MB，超过上限的不复制；不复制的文件写明原因（超出个数的只记一条总数）；
- 每个文件夹里的 notebook 最多评 MAX_NOTEBOOKS 个（作业里有的 notebook 优先）；
- 写评分后的 notebook 和反馈 HTML 之前，目标位置上的符号链接或特殊文件先被删掉；
  反馈 HTML 还加上一条内容安全策略（feedback_html.with_csp）；
- 改权限之前清理评分程序自己的输出文件夹（autograded/<学生>/<作业>/ 和 feedback/<学生>/<作业>/）：删掉学生代码
  留下的符号链接和特殊文件，学生代码在工作目录里写下的文件超出个数或总大小上限的部分也删掉（prune）；
- 读 timestamp.txt 时只打开一次，在打开的文件上确认它是普通文件（检查和读取之间没有空当）。
读提交的 notebook 本身由 submissions.SafeNotebookExporter 用 open_regular() 打开。
收作业（nbgrader collect：交换目录 inbound → submitted/）用这里的 list_files、safe_copy（collect.py）。
不复制、被删掉的东西记为评分事件（python -m course grading-report 里的 “（文件）”）。
"""
import errno
import fnmatch
import glob
import os
import shutil
import stat

from .events import Report

__all__ = ["Refused", "open_regular", "safe_copy", "sweep", "prune", "list_files", "is_ignored", "read_timestamp",
           "FILES_NOTEBOOK", "FEEDBACK_FILES_NOTEBOOK", "MAX_FILES", "MAX_NOTEBOOKS", "MAX_ENTRIES"]

MAX_FILE_MB = 20  # 一个附带文件的上限（MiB）：课程的附带文件都很小
MAX_TOTAL_MB = 50  # 一份作业全部附带文件的上限（MiB）
MAX_FILES = 200  # 一份作业附带文件（notebook 以外）的个数上限，文件夹个数也是这个上限：课程的附带文件只有几个
MAX_ENTRIES = 20000  # 列学生文件夹时最多看这么多个条目（文件和文件夹），再多的不看
MAX_NOTEBOOKS = 20  # 一名学生一份作业最多评（或生成反馈）这么多个 notebook
MAX_DETAILS = 20  # 同一类文件事件最多逐条写这么多条，其余只记总数
NBGRADER_FILES = ("timestamp.txt", "submission_secret.txt")  # nbgrader 自己放在提交里的文件：先复制，不删
FILES_NOTEBOOK = "（文件）"  # 评分报告里文件事件的 “notebook” 名（autograde 时）
FEEDBACK_FILES_NOTEBOOK = "（反馈文件）"  # 同上，generate_feedback 时
_CHUNK = 1 << 20
STOCK = {}  # nbgrader_patches.install() 换掉之前 nbgrader 原来的函数（测试里的对照组用）


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


def is_ignored(name, ignore_globs):
    """和 nbgrader.utils.is_ignored 的判断相同（只看名字本身），但不列文件夹，时间与模式个数成正比。

    nbgrader 用 glob.glob(文件夹/模式) 列出整个文件夹再看名字在不在里面；glob 的规则是：没有通配符的模式
    就是名字本身；有通配符的模式按 fnmatch 区分大小写地匹配，但不以点开头的模式匹配不到以点开头的名字；
    含路径分隔符的模式匹配不到单个名字。学生起名时用了 [ ] * ? 也不影响这里（nbgrader 会把所在文件夹的路径
    也当成模式）。"""
    for expr in ignore_globs or ():
        if not expr or os.sep in expr:
            continue
        if not glob.has_magic(expr):
            if name == expr:
                return True
        elif fnmatch.fnmatchcase(name, expr) and (expr.startswith(".") or not name.startswith(".")):
            return True
    return False


def _walk(top, visit, max_entries=None):
    """不递归地走遍 top（os.scandir 加一个栈，时间与条目数成正比）：对每个条目调用 visit(entry)，
    它返回真时进入这个文件夹。同一层的文件夹按名字顺序进入。看过 max_entries 个条目就停；返回是否全部看完。"""
    seen, stack = 0, [top]
    while stack:
        folder = stack.pop()
        try:
            it = os.scandir(folder)
        except OSError:
            continue
        subdirs = []
        with it:
            for entry in it:
                seen += 1
                if max_entries is not None and seen > max_entries:
                    return False
                if visit(entry):
                    subdirs.append(entry.path)
        stack.extend(sorted(subdirs, reverse=True))
    return True


def list_files(path, exclude=None, max_entries=None):
    """path 下不被 exclude 排除的所有文件：与 nbgrader.utils.find_all_files 列出的相同（被排除的文件夹整个跳过，
    不进入指向文件夹的符号链接），只是时间与条目数成正比，不用递归。

    max_entries：最多看这么多个条目（文件和文件夹都算），看到上限就停。返回 (文件路径列表, 是否全部看完)。"""
    files = []
    if is_ignored(os.path.basename(os.path.normpath(path)), exclude):
        return files, True

    def visit(entry):
        try:
            is_dir = entry.is_dir()  # 和 os.walk 一样：指向文件夹的符号链接算文件夹，但不进入
        except OSError:
            is_dir = False
        if is_ignored(entry.name, exclude):
            return False
        if not is_dir:
            files.append(entry.path)
        return is_dir and not entry.is_symlink()

    complete = _walk(path, visit, max_entries)
    return files, complete


def find_all_files(path, exclude=None):
    """代替 nbgrader.utils.find_all_files（同样的参数和结果，线性时间）。"""
    return list_files(path, exclude)[0]


def _lstat_entries(top, on_entry):
    """走遍 top（不跟随符号链接）：对每个条目调用 on_entry(entry, lstat 结果)，进入真正的文件夹。"""

    def visit(entry):
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            return False
        on_entry(entry, st)
        return stat.S_ISDIR(st.st_mode)

    _walk(top, visit)


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

    def on_entry(entry, st):
        why = _remove_special(entry.path, st)
        if why:
            removed.append((os.path.relpath(entry.path, folder), why))

    _lstat_entries(folder, on_entry)
    return removed


def _summarised(details, what):
    """最多保留 MAX_DETAILS 条说明，其余合成一条总数。"""
    if len(details) <= MAX_DETAILS:
        return details
    return details[:MAX_DETAILS] + ["另有 %d 个%s，不再逐个列出" % (len(details) - MAX_DETAILS, what)]


def prune(folder, keep=(), max_files=MAX_FILES, max_bytes=MAX_TOTAL_MB * 2 ** 20):
    """给评分程序自己的输出文件夹限量（学生代码在工作目录里写下的东西都在这里），返回 [说明]：
    删掉符号链接和特殊文件（同 sweep）；文件夹最多留 max_files 个（浅的、名字靠前的先留），多出来的连同里面的东西删掉；
    keep（相对路径：评分后的 notebook、教师的文件、nbgrader 自己的文件）以外的普通文件按名字顺序最多留 max_files 个、
    共 max_bytes 字节，其余删掉。时间与条目数成正比（学生写下这些条目花的时间只会更多）。"""
    keep = {os.path.normpath(k) for k in keep}
    folder = os.path.normpath(folder)
    start = len(os.path.join(folder, ""))  # entry.path 去掉这么多个字符就是相对路径（比 relpath 快得多）
    specials, dirs, files = [], [], []

    def on_entry(entry, st):
        rel = entry.path[start:]
        if stat.S_ISDIR(st.st_mode):
            dirs.append(rel)
        elif stat.S_ISREG(st.st_mode):
            files.append((rel, st.st_size))
        else:
            why = _remove_special(entry.path, st)
            if why:
                specials.append("%s %s" % (rel, why))

    _lstat_entries(folder, on_entry)
    details = _summarised(specials, "符号链接或特殊文件被删除")
    dirs.sort(key=lambda d: (d.count(os.sep), d))
    gone = set()

    def removed_with_parent(rel):
        parent = os.path.dirname(rel)
        while parent:
            if parent in gone:
                return True
            parent = os.path.dirname(parent)
        return False

    for rel in dirs[max_files:]:  # 浅的先排：父文件夹总在子文件夹之前
        if not removed_with_parent(rel):
            shutil.rmtree(os.path.join(folder, rel), ignore_errors=True)
            gone.add(rel)
    if gone:
        details.append("学生代码建了 %d 个文件夹，超过上限 %d 个：多出来的连同里面的文件已删除（例如 %s）"
                       % (len(dirs), max_files, sorted(gone)[0]))
    count = total = removed = removed_bytes = 0
    for rel, size in sorted(files):
        if rel in keep or removed_with_parent(rel):
            continue
        if count < max_files and total + size <= max_bytes:
            count, total = count + 1, total + size
            continue
        try:
            os.unlink(os.path.join(folder, rel))
        except OSError:
            continue
        removed, removed_bytes = removed + 1, removed_bytes + size
    if removed:
        details.append("文件太多或太大（上限 %d 个、共 %d MiB）：删掉了 %d 个文件，共 %.1f MiB"
                       % (max_files, max_bytes // 2 ** 20, removed, removed_bytes / 2 ** 20))
    return details


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


def _as_submitted(converter, assignment_id, student_id, source, files):
    """反馈只带学生自己交上来的文件：autograded/ 里与 submitted/ 里同名同内容的普通文件。
    评分时内核新写的、改过的文件（可能带着隐藏测试的输入）不进反馈。返回 (留下的, 不要的相对路径)。"""
    cd = converter.coursedir
    submitted = cd.format_path(cd.submitted_directory, student_id, assignment_id)
    keep, out = [], []
    for path in files:
        rel = os.path.relpath(path, source)
        # nbgrader 自己的 timestamp.txt、submission_secret.txt 也一样：release_feedback 要的是提交里的那一份，
        # 提交里没有的，就是评分时学生代码写出来的
        if _same_bytes(path, os.path.join(submitted, rel)):
            keep.append(path)
        else:
            out.append(rel)
    return keep, out


def _same_bytes(a, b, limit=MAX_FILE_MB * 2 ** 20):
    try:
        fa = open_regular(a, limit)
    except (Refused, OSError):
        return False
    try:
        fb = open_regular(b, limit)
    except (Refused, OSError):
        os.close(fa)
        return False
    try:
        while True:
            ca, cb = os.read(fa, _CHUNK), os.read(fb, _CHUNK)
            if ca != cb:
                return False
            if not ca:
                return True
    finally:
        os.close(fa)
        os.close(fb)


def _copy_extra_files(converter, assignment_id, student_id):
    """代替 BaseConverter.init_assignment：同样的文件（notebook 以外、不在 ignore 里的），只是安全地复制，个数和大小有上限。"""
    source = converter._format_source(assignment_id, student_id)
    dest = converter._format_dest(assignment_id, student_id)
    refused, total, budget = [], 0, MAX_TOTAL_MB * 2 ** 20
    files, complete = list_files(source, converter.coursedir.ignore + ["*.ipynb"], MAX_ENTRIES)
    files.sort(key=lambda p: (os.path.relpath(p, source) not in NBGRADER_FILES, p))
    if converter._output_directory == converter.coursedir.feedback_directory:
        files, kept_out = _as_submitted(converter, assignment_id, student_id, source, files)
        if kept_out:
            refused.append("评分时学生代码写出或改动的 %d 个文件不放进反馈（例如 %s）：它们可能带着隐藏测试的输入"
                           % (len(kept_out), kept_out[0]))
    if len(files) > MAX_FILES:
        refused.append("附带文件最多复制 %d 个：另外 %d 个没有复制（例如 %s）" % (
            MAX_FILES, len(files) - MAX_FILES, os.path.relpath(files[MAX_FILES], source)))
        files = files[:MAX_FILES]
    if not complete:
        refused.append("文件夹里的文件和文件夹超过 %d 个：只看了前 %d 个，其余的没有复制" % (MAX_ENTRIES, MAX_ENTRIES))
    instructor = converter._input_directory == converter.coursedir.source_directory
    for path in files:
        rel = os.path.relpath(path, source)
        target = os.path.join(dest, rel)
        try:
            origin = _course_link(path, converter.coursedir.root) if instructor else path
            total += safe_copy(origin, target, min(MAX_FILE_MB * 2 ** 20, budget - total))
            converter.log.info("Copying %s -> %s", path, target)
        except Refused as exc:
            refused.append("%s 没有复制：%s" % (rel, exc))
        except OSError as exc:
            refused.append("%s 没有复制（%s）" % (rel, exc))
    _record(converter, assignment_id, student_id, refused)


def _course_link(path, root):
    """教师的 source/ 里指向课程文件夹以内一个普通文件的符号链接，换成它指向的文件（例如第 05、06 课的
    layers.py 指向 course/reference/layers.py）；别的路径原样返回（是链接的，safe_copy 照样拒绝）。"""
    if not os.path.islink(path):
        return path
    target, top = os.path.realpath(path), os.path.realpath(root)
    inside = os.path.commonpath([target, top]) == top
    return target if inside and os.path.isfile(target) and not os.path.islink(target) else path


def _keep_in_output(converter, assignment_id, student_id):
    """输出文件夹里不删的文件（相对路径）：评分后的 notebook（或反馈 HTML）、nbgrader 自己的文件、教师的文件。"""
    ext = getattr(converter.exporter, "file_extension", ".ipynb") if getattr(converter, "exporter", None) else ".ipynb"
    keep = set(NBGRADER_FILES)
    keep.update(os.path.splitext(os.path.basename(nb))[0] + ext for nb in getattr(converter, "notebooks", None) or [])
    if type(converter).__name__ == "Autograde":  # Autograde.init_assignment 用 source/ 里的文件盖过学生的
        cd = converter.coursedir
        source = cd.format_path(cd.source_directory, ".", assignment_id)
        keep.update(os.path.relpath(p, source) for p in list_files(source, cd.ignore + ["*.ipynb"])[0])
    return keep


def _limit_notebooks(converter):
    """每个文件夹最多 MAX_NOTEBOOKS 个 notebook：作业里有的先留（成绩库里的名字），其余按名字顺序。"""
    for folder, found in list(converter.assignments.items()):
        if len(found) <= MAX_NOTEBOOKS:
            continue
        expected = set(_assignment_notebooks(converter, os.path.basename(os.path.normpath(folder))))
        ordered = sorted(found, key=lambda p: (os.path.splitext(os.path.basename(p))[0] not in expected, p))
        converter.assignments[folder] = ordered[:MAX_NOTEBOOKS]
        parts = os.path.normpath(folder).split(os.sep)
        student, assignment = parts[-2] if len(parts) > 1 else "?", parts[-1]
        _record(converter, assignment, student, ["文件夹里有 %d 个 notebook，超过上限 %d 个：只处理其中 %d 个"
                                                 % (len(found), MAX_NOTEBOOKS, MAX_NOTEBOOKS)])


def _assignment_notebooks(converter, assignment_id):
    """成绩库里这份作业的 notebook 名字；查不到时是空列表。"""
    try:
        from nbgrader.api import Gradebook

        cd = converter.coursedir
        with Gradebook(cd.db_url, cd.course_id) as gb:
            return [n.name for n in gb.find_assignment(assignment_id).notebooks]
    except Exception:  # 成绩库里没有这份作业（例如 generate_assignment 之前）：不分先后
        return []


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
