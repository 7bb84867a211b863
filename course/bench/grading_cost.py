"""基准测试：一名学生的文件夹里有很多文件时，列文件要多久（nbgrader 0.9.6 原来的做法和 filesafe 的做法）。

    python -m course.bench.grading_cost                 # 500 / 1000 / 2000 个文件对比，再单独测 60000 个
    python -m course.bench.grading_cost --sizes 1000 --big 0

原来的 find_all_files 对每个文件用 glob 把整个文件夹再列一遍（平方时间），太慢的规模只测新的做法。
测试（tests/test_bounded_cost.py）只数条目，不看时间；时间只在这里打印。
"""
import argparse
import os
import shutil
import tempfile
import time

from ..grading.files.safe import MAX_ENTRIES, find_all_files, list_files

IGNORE = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.md", "*.py", "*.bak", "*~", ".*", "*.ipynb"]


def _folder(n):
    path = tempfile.mkdtemp(prefix="cost-bench-")
    for i in range(n):
        open(os.path.join(path, "f%06d.txt" % i), "w").close()
    return path


def _time(fn, *args):
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main(argv=None):
    from nbgrader import utils

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[500, 1000, 2000],
                        help="两种做法都测的文件个数")
    parser.add_argument("--big", type=int, default=60000, help="只测新做法的文件个数（0 表示不测）")
    args = parser.parse_args(argv)
    stock = utils.find_all_files
    print("%8s  %16s  %16s  %18s" % ("文件数", "nbgrader 原来（秒）", "filesafe（秒）", "有上限的列举（秒）"))
    for n in args.sizes + ([args.big] if args.big else []):
        path = _folder(n)
        try:
            old = "%.3f" % _time(stock, path, IGNORE) if n in args.sizes else "（太慢，不测）"
            new = _time(find_all_files, path, IGNORE)
            capped = _time(list_files, path, IGNORE, MAX_ENTRIES)
            print("%8d  %16s  %16.3f  %18.3f" % (n, old, new, capped))
        finally:
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
