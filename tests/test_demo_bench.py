"""基准脚本 `python -m course.demo.bench` 能跑完并打印它的数字和比值（用最小的设置；不断言快慢）。"""
import os
import re
import subprocess
import sys

from conftest import ROOT


def _bench(*args, timeout=900):
    env = dict(os.environ, LANG="C.UTF-8", PYTHONUNBUFFERED="1")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.pop("COURSE_DB_URL", None)
    return subprocess.run([sys.executable, "-m", "course.demo.bench", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_bench_prints_seconds_per_student_for_serial_parallel_and_floor():
    proc = _bench("--students", "2", "--assignments", "01", "--jobs", "2", "--timeout", "30")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    table = out.split("整门课的自动评分：", 1)[1]
    assert table.startswith("2 名学生、1 份作业、共 2 份 notebook")
    rows = re.findall(r"^\s*([\d.]+)\s+([\d.]+)\s+(\S.*)$", table, flags=re.M)
    labels = [label for _, _, label in rows]
    assert [lab.split("：")[0] for lab in labels] == ["串行", "并行", "原版，串行", "原版，并行", "下限，串行", "下限，并行",
                                                     "原版下限，串行", "原版下限，并行"], labels
    for total, per_student, _ in rows:  # 每名学生的用时 = 总用时 / 2（总用时只印到 0.1 秒）
        assert abs(float(total) / 2 - float(per_student)) <= 0.031
    assert re.search(r"并行比串行快 [\d.]+ 倍", out)
    assert "每名学生每个测试单元的得分都相同" in out and "并行评分后的成绩库：一致" in out
    # 比值与目标都打印出来（只打印，不断言快慢）；参考答案本身的执行时间，平时和评分时各一列
    for label in ("并行 / 下限（课程配置，并行）", "下限：课程配置 / 原版配置（串行）", "下限：课程配置 / 原版配置（并行）"):
        assert re.search(re.escape(label) + r"\s+[\d.]+ ×\s+目标 ≤ [\d.]+ ×", out), label
    lesson = re.search(r"^(01-\S+)\s+([\d.]+)\s+([\d.]+)$", out, flags=re.M)
    assert lesson and float(lesson.group(2)) > 0 and float(lesson.group(3)) > 0, out[-2000:]


def test_bench_rejects_bad_arguments_in_chinese():
    proc = _bench("--students", "0", timeout=120)
    assert proc.returncode == 2 and "正整数" in proc.stderr and "Traceback" not in proc.stderr
