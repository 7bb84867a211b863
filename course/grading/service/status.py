"""python -m course grade-status [--history]：评分服务的记录，中文。

    排队中、评分中（哪个工人、评了多久）、评好了（延迟：从服务收到提交到反馈发布，中位数和 95% 分位）、
    没评上（原因）、超出评分次数的；--history 按学生和作业列出每一次提交（时间、状态、分数、是否计分）。
"""
import datetime
import os
import time

from .state import STATE_DIR, State

__all__ = ["percentile", "status_text", "history_text", "add_arguments", "run"]

TITLES = {"queued": "排队中", "running": "评分中", "done": "评好了", "failed": "没评上", "over-limit": "超出评分次数",
          "refused": "不收"}


def percentile(values, q):
    """values 的 q 分位（0–100，最近秩法）；空时 None。"""
    values = sorted(values)
    if not values:
        return None
    rank = max(1, -(-len(values) * q // 100))
    return values[int(rank) - 1]


def _when(ts):
    return datetime.datetime.fromtimestamp(ts).strftime("%m-%d %H:%M:%S") if ts else "—"


def _score(row):
    return "%g / %g" % (row["score"], row["max_score"]) if row["score"] is not None else ""


def status_text(rows, now=None, listed=20):
    now = now or time.time()
    by = {k: [r for r in rows if r["status"] == k] for k in TITLES}
    lines = ["评分服务：%s。" % "、".join("%s %d 份" % (TITLES[k], len(v)) for k, v in by.items())]
    done = [r for r in by["done"] if r["counted"] and r["released"]]
    lat = [r["released"] - r["discovered"] for r in done]
    if lat:
        lines.append("从收到提交到反馈发布：中位数 %.1f 秒，95%% 分位 %.1f 秒，最长 %.1f 秒（%d 份）。"
                     % (percentile(lat, 50), percentile(lat, 95), max(lat), len(lat)))
    grading = [r["seconds"] for r in by["done"] if r["seconds"]]
    if grading:
        lines.append("工人评一份提交：中位数 %.1f 秒。" % percentile(grading, 50))
    for r in by["queued"][:listed]:
        lines.append("  排队中  %-16s %-24s 已等 %.0f 秒" % (r["student"], r["assignment"], now - r["discovered"]))
    for r in by["running"][:listed]:
        lines.append("  评分中  %-16s %-24s 已评 %.0f 秒（%s，第 %d 次派发）" % (
            r["student"], r["assignment"], now - (r["started"] or now), r["worker"] or "工人", r["dispatches"]))
    for r in sorted(by["done"], key=lambda r: -(r["graded"] or 0))[:listed]:
        took = "%.1f 秒" % (r["released"] - r["discovered"]) if r["released"] else "反馈未发布"
        lines.append("  评好了  %-16s %-24s %-10s %s%s" % (r["student"], r["assignment"], _score(r), took,
                                                       "" if r["counted"] else "（较早的提交，不计分）"))
    for r in by["failed"][:listed]:
        lines.append("  没评上  %-16s %-24s %s" % (r["student"], r["assignment"], (r["error"] or "")[:200]))
    for r in by["over-limit"][:listed]:
        lines.append("  超出次数 %-15s %-24s %s 交的，没有评分（提交留在 %s）" % (
            r["student"], r["assignment"], _when(r["discovered"]), os.path.join(STATE_DIR, "submissions", r["id"])))
    for r in by["refused"][:listed]:
        lines.append("  不收    %-16s %-24s %s" % (r["student"], r["assignment"], (r["error"] or "")[:200]))
    if by["failed"] or by["over-limit"] or by["refused"]:
        lines.append("每次提交的记录：python -m course grade-status --history")
    return "\n".join(lines)


def history_text(rows):
    if not rows:
        return "还没有提交。"
    lines = []
    key = None
    for r in sorted(rows, key=lambda r: (r["student"], r["assignment"], r["order_ts"], r["discovered"])):
        if (r["student"], r["assignment"]) != key:
            key = (r["student"], r["assignment"])
            lines.append("%s / %s" % key)
        mark = "计分" if r["counted"] and r["id"] == _latest(rows, key)["id"] else ""
        lines.append("  收到 %s  %-8s %-10s %-4s %s" % (_when(r["discovered"]), TITLES.get(r["status"], r["status"]),
                                                    _score(r), mark, (r["error"] or "")[:120]))
    return "\n".join(lines)


def _latest(rows, key):
    counted = [r for r in rows if (r["student"], r["assignment"]) == key and r["counted"]]
    return max(counted, key=lambda r: r["order_ts"]) if counted else {"id": None}


def add_arguments(p):
    p.add_argument("--course", default=".", help="课程根目录（默认当前文件夹）")
    p.add_argument("--history", action="store_true", help="按学生和作业列出每一次提交")


def run(args):
    from ..batch.autograde import UsageError, _course_config

    course = os.path.abspath(args.course)
    try:
        cfg = _course_config(course)
    except UsageError as exc:
        print("python -m course grade-status：%s" % exc)
        return 2
    root = cfg.get("CourseDirectory", {}).get("root") or course
    path = os.path.join(root, STATE_DIR, "state.db")
    if not os.path.isfile(path):
        print("这门课还没有运行过评分服务（没有 %s）：python -m course grade-service" % path)
        return 1
    state = State(path)
    try:
        rows = state.jobs()
    finally:
        state.close()
    print(history_text(rows) if args.history else status_text(rows))
    return 0
