"""评分时要读的学生版 notebook（release/<作业>/<notebook>.ipynb）：找到它，每个进程每份只读一次。

单元顺序的复原（sanitize.py）、评分内核盖住哪些答案模块（answers.py、kernel_control.py）、
可疑代码扫描里哪些行是课程给出的（execute.py）都以学生版为准。
"""
import functools
import os

import nbformat

__all__ = ["coursedir_of", "release_notebook_path", "read_release", "assignment_notebooks"]


def coursedir_of(obj):
    """沿 parent 链找到 nbgrader 的 CourseDirectory（预处理器 → 导出器 → Autograde）。"""
    while obj is not None:
        if getattr(obj, "coursedir", None) is not None:
            return obj.coursedir
        obj = getattr(obj, "parent", None)
    return None


def release_notebook_path(obj, resources):
    """这份提交对应的学生版 notebook 的路径；不知道时返回 ""。"""
    cd, info = coursedir_of(obj), (resources or {}).get("nbgrader", {})
    if cd is None or "assignment" not in info:
        return ""
    return os.path.join(cd.format_path(cd.release_directory, ".", info["assignment"]),
                        info.get("notebook", "") + ".ipynb")


def assignment_notebooks(release_root, assignment):
    """学生版里这份作业的 notebook（release_root/<作业>/*.ipynb，不含符号链接），按名字排好的完整路径。"""
    folder = os.path.join(release_root, assignment)
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [os.path.join(folder, n) for n in names
            if n.endswith(".ipynb") and os.path.isfile(os.path.join(folder, n))
            and not os.path.islink(os.path.join(folder, n))]


def read_release(path):
    """学生版 notebook；读不到时返回 None。文件没变就用上次读到的（调用者不要改动它）。"""
    try:
        stamp = os.stat(path).st_mtime_ns
    except (OSError, ValueError):
        return None
    return _read(path, stamp)


@functools.lru_cache(maxsize=64)
def _read(path, stamp):
    try:
        return nbformat.read(path, as_version=4)
    except Exception:
        return None
