"""演示班级的中文报告：成绩总览、每份作业的分数分布图、每个测试单元的通过率、
评分时出了问题的提交及原因（来自 course.grading.report 记下的评分事件）、缺交名单和各步用时。

写出 OUT/report/report.md、report.html（同样的内容）和 scores-<作业>.png。
"""
import html
import os
import statistics
import time

from ..grading.report import EVENT_TITLES, collect
from .students import lesson_key

__all__ = ["write_report", "EVENT_TITLES", "problem_rows"]


def _fmt(x):
    return "%g" % x if x is not None else "—"


def _what_was_submitted(pipeline, student, assignment, notebook):
    """缺 notebook 时，看看交上来的是什么文件（多半是改了名字）。"""
    folder = os.path.join(pipeline.work, "submitted", str(student), str(assignment))
    try:
        others = sorted(f for f in os.listdir(folder) if f.endswith(".ipynb") and f != "%s.ipynb" % notebook)
    except OSError:
        return ""
    return "（交上来的是 %s）" % "、".join(others) if others else ""


def problem_rows(pipeline):
    """[(学号, 作业, 问题, 说明)]：评分事件、nbgrader 命令失败、成绩库不一致。"""
    rows = []
    root = os.path.join(pipeline.work, "autograded")
    for rep in collect(root):
        for ev in rep.get("events", []):
            where = ev.get("grade_id") or ("第 %s 个单元" % ev["cell"] if ev.get("cell") is not None else "")
            detail = ev.get("detail", "")
            if ev.get("kind") == "unreadable":
                detail += _what_was_submitted(pipeline, rep.get("student"), rep.get("assignment"), rep.get("notebook"))
            rows.append((rep.get("student", "?"), rep.get("assignment", "?"),
                         EVENT_TITLES.get(ev.get("kind"), ev.get("kind", "?")),
                         ("%s：%s" % (where, detail)) if where else detail))
    for res in pipeline.failures:
        for sid in res.task.students or ("—",):
            rows.append((sid, "—", "nbgrader 命令失败", "%s，退出码 %d，日志 %s" % (res.task.label, res.returncode,
                                                                             os.path.relpath(res.log_path, pipeline.out))))
    for text in pipeline.problems:
        rows.append(("—", "—", "成绩库不一致", text))
    return rows


def _plot(path, assignment, scores, max_score):
    import numpy as np

    from ..plots import new_chart

    chart, ax = new_chart(1, figsize=(5.6, 3.2))
    top = max(max_score, 1)
    bins = np.arange(-0.5, top + 1.0, 1.0) if top <= 40 else np.linspace(0, top, 21)
    ax.hist(scores, bins=bins, color="#4c72b0", edgecolor="white")
    if scores:
        ax.axvline(statistics.mean(scores), color="#dd8452", linestyle="--", label="平均 %.1f" % statistics.mean(scores))
        ax.legend(loc="upper left")
    ax.set_xlim(-0.5, top + 0.5)
    ax.set_xlabel("总分（满分 %g）" % max_score)
    ax.set_ylabel("学生人数")
    ax.set_title("%s：%d 人提交" % (assignment, len(scores)))
    ax.yaxis.get_major_locator().set_params(integer=True)
    chart.savefig(path, dpi=100)


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in r) + " |")
    return lines


def _markdown(pipeline, scores, images):
    p = pipeline
    names = {sid: persona for sid, persona in p.roster}
    db = "sqlite（%s）" % os.path.relpath(p.db_url[len("sqlite:///"):], p.out) if p.db_url.startswith("sqlite:///") \
        else p.db_url.split("://", 1)[0]
    lines = ["# 演示班级评分报告", "",
             "%d 名学生，%d 份作业；成绩库：%s；评分时 %d 个 nbgrader 进程同时运行；整个流程用了 %.0f 秒。"
             % (len(p.roster), len(p.assignments), db, p.jobs, time.perf_counter() - p.started), "",
             "成绩表：`grades.csv`（`nbgrader export`）；每条命令的完整输出：`logs/`；评分后的 notebook："
             "`course/autograded/`；学生取回的反馈：`students/<学号>/backprop-zh/<作业>/feedback/`。", "",
             "## 成绩总览", ""]
    header = ["学号", "姓名", "情况"] + [lesson_key(a) for a in p.assignments] + ["合计"]
    rows = []
    total_max = sum(scores.get(a, {}).get("max", 0) for a in p.assignments)
    for sid, persona in p.roster:
        cells, total = [], 0.0
        for a in p.assignments:
            got = scores.get(a, {}).get("scores", {}).get(sid)
            if got is None:
                cells.append("缺交" if sid not in p.submitted.get(a, ()) else "没有分数")
            else:
                cells.append("%g/%g" % (got, scores[a]["max"]))
                total += got
        rows.append([sid, persona.name, persona.role] + cells + ["%g/%g" % (total, total_max)])
    lines += _table(header, rows) + [""]
    detailed = [(sid, persona) for sid, persona in p.roster if persona.details and sid == persona.id]
    if detailed:
        lines += ["各课的具体情况：", ""]
        for sid, persona in detailed:
            lines.append("- %s（%s）：%s" % (sid, persona.name, "；".join(
                "%s %s" % (k, persona.details[k]) for k in sorted(persona.details)
                if any(lesson_key(a) == k for a in p.assignments))))
        lines.append("")
    if p.feedback:
        lines += ["学生取回的反馈（HTML）份数：%s。改了文件名的 notebook 取不回反馈：nbgrader 按提交的文件"
                  "找对应的反馈。" % "、".join("%s %d" % (s, n) for s, n in p.feedback.items()), ""]
    lines += ["## 各作业的分数分布", ""]
    for a in p.assignments:
        entry = scores.get(a, {"scores": {}, "max": 0})
        vals = list(entry["scores"].values())
        if vals:
            full = sum(1 for v in vals if v == entry["max"])
            lines += ["### %s" % a, "", "提交 %d 人，平均 %.1f，中位数 %g，满分 %d 人。" % (
                len(vals), statistics.mean(vals), statistics.median(vals), full), "",
                "![%s 的分数分布](%s)" % (a, images[a]), ""]
        else:
            lines += ["### %s" % a, "", "没有人提交。", ""]
    lines += ["## 各测试单元的通过率", "", "通过 = 这个测试单元拿到了全部分值；分母是交了这份作业的人数。", ""]
    for a in p.assignments:
        entry = scores.get(a)
        if not entry or not entry["scores"]:
            continue
        n = len(entry["scores"])
        rows = []
        for gid, points in entry["cells"]:
            k = sum(1 for s in entry["cell_scores"].values() if s.get(gid) is not None and s[gid] >= points)
            rows.append([gid, _fmt(points), "%d/%d" % (k, n), "%.0f%%" % (100.0 * k / n)])
        lines += ["### %s" % a, ""] + _table(["测试单元", "分值", "通过", "通过率"], rows) + [""]
    lines += ["## 评分时出了问题的提交", "",
              "来自评分时记下的事件（`python -m course grading-report`）和 nbgrader 命令的退出码。", ""]
    problems = problem_rows(p)
    lines += (_table(["学号", "作业", "问题", "说明"], problems) if problems else ["没有。"]) + [""]
    lines += ["## 缺交", ""]
    missing = [(a, [sid for sid, _ in p.roster if sid not in p.submitted.get(a, ())]) for a in p.assignments]
    missing = [(a, who) for a, who in missing if who]
    lines += (["- %s：%s" % (a, "、".join("%s（%s）" % (s, names[s].name) for s in who)) for a, who in missing]
              if missing else ["没有。"]) + [""]
    lines += ["## 各步用时", ""] + _table(["步骤", "秒"], [[t, "%.1f" % s] for t, s in p.steps]) + [""]
    return "\n".join(lines)


def _html(markdown_text):
    try:
        import mistune

        body = mistune.create_markdown(plugins=["table"])(markdown_text)
    except Exception:  # 没有 mistune 时退回到原样显示
        body = "<pre>%s</pre>" % html.escape(markdown_text)
    style = ("body{font-family:'Noto Sans CJK SC','PingFang SC','Microsoft YaHei',sans-serif;max-width:70em;"
             "margin:2em auto;padding:0 1em;line-height:1.6}table{border-collapse:collapse;margin:.5em 0}"
             "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left;vertical-align:top}"
             "th{background:#f3f3f3}img{max-width:100%}code{background:#f3f3f3;padding:0 .2em}")
    return ("<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>演示班级评分报告</title>"
            "<style>%s</style></head><body>\n%s</body></html>\n" % (style, body))


def write_report(pipeline):
    """写出报告，返回 {"md": 路径, "html": 路径, "png": [路径]}。"""
    from .pipeline import read_scores

    folder = os.path.join(pipeline.out, "report")
    os.makedirs(folder, exist_ok=True)
    scores = read_scores(pipeline.db_url)
    images, pngs = {}, []
    for a in pipeline.assignments:
        entry = scores.get(a)
        if entry and entry["scores"]:
            name = "scores-%s.png" % a
            _plot(os.path.join(folder, name), a, list(entry["scores"].values()), entry["max"])
            images[a] = name
            pngs.append(os.path.join(folder, name))
    text = _markdown(pipeline, scores, images)
    md, page = os.path.join(folder, "report.md"), os.path.join(folder, "report.html")
    with open(md, "w", encoding="utf-8") as f:
        f.write(text)
    with open(page, "w", encoding="utf-8") as f:
        f.write(_html(text))
    return {"md": md, "html": page, "png": pngs}
