"""python -m course.bench.grade_service --quick：交上来就评分的基准在最小的规模上跑通，每个数字都打印出来。

只查有没有打印、成绩是否与 python -m course autograde 相同（退出码 0），不查快慢：目标只由基准打印。
"""
import os
import re
import shutil
import subprocess
import sys
import time

from conftest import ROOT
from course.bench.grade_service import busy_cpu_seconds, percentile, speedup_ceiling


def test_busy_cpu_seconds_counts_this_process_spinning():
    before = busy_cpu_seconds()
    if before is None:
        return  # 不是 Linux：基准不打印 CPU 那一行
    end = time.process_time() + 0.3
    while time.process_time() < end:  # 忙 0.3 CPU 秒
        pass
    used = busy_cpu_seconds() - before
    assert used >= 0.25, used  # 整台机器的数：至少有这个进程自己忙的那些


def test_percentile_is_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    values = [float(v) for v in range(1, 21)]  # 1..20
    assert percentile(values, 50) == 10.0 and percentile(values, 95) == 19.0 and percentile(values, 100) == 20.0


def test_speedup_ceiling_is_the_cores_over_the_cores_one_worker_keeps_busy():
    assert speedup_ceiling(15.0, 10.0, 2) == 2 / 1.5  # 1 个工人忙着 1.5 个核：2 个核最多 1.33 ×
    assert speedup_ceiling(10.0, 10.0, 4) == 4.0
    assert speedup_ceiling(None, 10.0, 2) is None and speedup_ceiling(0.0, 10.0, 2) is None
    assert speedup_ceiling(5.0, 0.0, 2) is None


def test_quick_benchmark_prints_every_figure(tmp_path):
    env = dict(os.environ, LANG="C.UTF-8", PYTHONUNBUFFERED="1")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.pop("COURSE_DB_URL", None)
    res = subprocess.run([sys.executable, "-m", "course.bench.grade_service", "--quick", "--out", str(tmp_path / "b")],
                         cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=1500)
    out = res.stdout
    assert res.returncode == 0, out[-4000:] + res.stderr[-4000:]
    assert "Traceback" not in out + res.stderr
    number = r"\s+\d+\.\d+\s+\d+\.\d+\s+"
    for label in ("原版 nbgrader autograde", "python -m course autograde all", "grade-service --once，本机 1 个工人",
                  "grade-service --once，本机 2 个工人", "grade-service 一直运行，1 个工人，全班第二次一齐提交",
                  "grade-service 一直运行，2 个工人，全班第二次一齐提交"):
        assert re.search(number + re.escape(label), out), (label, out)
    if shutil.which("redis-server"):
        assert re.search(number + re.escape("grade-service --once --broker，Celery"), out), out
        assert "成绩（Celery）与 python -m course autograde：每个测试单元都相同" in out
    for figure in (r"服务（1 个工人）/ 原版\s+\d+\.\d+ ×\s+目标 ≤ 0\.5 ×",
                   r"服务（1 个工人）/ python -m course autograde\s+\d+\.\d+ ×",
                   r"含服务启动：grade-service --once（1 个工人）/ 原版\s+\d+\.\d+ ×",
                   r"2 个工人 / 1 个工人\s+\d+\.\d+ ×\s+目标 ≥ 1\.6 ×",
                   # --quick 只用一课：推算那一行说明它只按这一课推算
                   r"1200 份 notebook）\s+\d+\.\d+ 分钟 目标 ≤ 8 分钟.*只按 01-graph-chain-rule 推算.*--assignments all",
                   r"提交 → 反馈发布（2 份）\s+p50 \d+\.\d+ 秒，p95 \d+\.\d+ 秒\s+目标 p95 ≤ 10 秒",
                   r"工人评分 \d+\.\d+ 秒，写成绩库、生成并发布反馈 \d+\.\d+ 秒",
                   r"每份 notebook 用掉的 CPU（一直运行、2 个工人）\s+\d+\.\d+ CPU 秒.*200 × 6 至少 \d+\.\d+ 分钟",
                   r"1 个工人时整台机器平均忙着的核\s+\d+\.\d+ 个核 （每份 notebook 用掉 \d+\.\d+ CPU 秒）"):
        assert re.search(figure, out), (figure, out)
    for workers in (1, 2):
        assert "成绩（本机 %d 个工人）与 python -m course autograde：每个测试单元都相同" % workers in out
        assert "成绩（一直运行、%d 个工人）与 python -m course autograde：每个测试单元都相同" % workers in out
