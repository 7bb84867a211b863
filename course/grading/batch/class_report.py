"""班级报告：python -m course class-report [作业|all] [--course DIR] [--out DIR]

读成绩库（nbgrader 的 Gradebook API，sqlite 或 PostgreSQL）和评分报告（autograded/.grading-reports/，
course.grading.files.events），写出一页中文 HTML（图是内嵌的 SVG，离线打开，不连任何网址）和几份 CSV：

    OUT/index.html          报告
    OUT/scores.csv          每名学生每份作业的分数（一行一份作业，与 nbgrader export 的分数相同）
    OUT/students.csv        每名学生一行：各作业的分数、合计、是否需要帮助及原因
    OUT/tests.csv           每个测试单元的通过率
    OUT/mistakes.csv        全班常见错误：检查自己的诊断（提示）、多少名学生、哪个测试单元、是谁
    OUT/events.csv          评分时的异常事件（超时、内核重启、单元被复原……）
    OUT/missing.csv         缺交名单

常见错误来自评分报告里的 mistakes（course/grading/execute/mistakes.py；读数据和分析在 class_data.py）：评判进程从检查函数自己的异常对象上
读出的检查名和提示，不看学生的输出，学生打印的“检查没有通过”不算。只统计成绩库里确实没拿满分的
测试单元。

“需要帮助”：某份交了的作业得分率低于 --threshold（默认 60%），缺交，或者同一个误解（MISCONCEPTIONS，
按提示里的关键词归类）在两份以上作业里出现。
"""
import csv
import datetime
import html
import os
import statistics
import time

from .class_data import NO_HINT, ClassData, _pct, analyse, load_class, misconception

__all__ = ["ClassData", "load_class", "analyse", "write_report", "add_arguments", "run", "misconception"]


# ---------------------------------------------------------------- 图
def _svg(chart):
    text = chart.to_svg()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def _histogram(a, entry):
    import numpy as np

    from ...plots.charts import new_chart
    from ...plots.fonts import label

    vals = [entry["scores"][s] for s in entry["submitted"]]
    chart, ax = new_chart(1, figsize=(5.6, 3.0))
    top = max(entry["max"], 1)
    bins = np.arange(-0.5, top + 1.0, 1.0) if top <= 40 else np.linspace(0, top, 21)
    ax.hist(vals, bins=bins, color="#4c72b0", edgecolor="white")
    if vals:
        m = statistics.mean(vals)
        ax.axvline(m, color="#dd8452", linestyle="--", label=label("平均 %.1f", "mean %.1f") % m)
        ax.legend(loc="upper left")
    ax.set_xlim(-0.5, top + 0.5)
    ax.set_xlabel(label("总分（满分 %g）", "score (out of %g)") % entry["max"])
    ax.set_ylabel(label("学生人数", "students"))
    ax.set_title(label("%s：%d 人提交", "%s: %d submitted") % (a, len(vals)))
    ax.yaxis.get_major_locator().set_params(integer=True)
    return _svg(chart)


def _course_chart(data, result):
    from ...plots.charts import new_chart
    from ...plots.fonts import label

    chart, ax = new_chart(1, figsize=(max(4.0, 1.1 * len(data.assignments) + 2), 3.0))
    series = []
    for a in data.assignments:
        e = result["assignments"][a]
        series.append([_pct(e["scores"][s], e["max"]) for s in e["submitted"]] or [float("nan")])
    ax.boxplot(series, showmeans=True)
    ax.set_xticks(range(1, len(data.assignments) + 1), [a[:14] for a in data.assignments], rotation=20, ha="right")
    ax.axhline(100 * result["threshold"], color="#d1242f", linestyle="--", linewidth=0.8,
               label=label("需要帮助的线 %.0f%%", "help line %.0f%%") % (100 * result["threshold"]))
    ax.set_ylim(-5, 105)
    ax.set_ylabel(label("得分率（%）", "score (%)"))
    ax.set_title(label("各作业的得分率", "scores per assignment"))
    ax.legend(loc="lower left", fontsize=8)
    return _svg(chart)


# ---------------------------------------------------------------- 写出
def _e(x):
    return html.escape("" if x is None else str(x))


def _table(header, rows, cls=""):
    head = "".join("<th>%s</th>" % _e(h) for h in header)
    body = "".join("<tr>%s</tr>" % "".join("<td>%s</td>" % c for c in r) for r in rows)
    return "<table%s><thead><tr>%s</tr></thead><tbody>%s</tbody></table>" % (
        ' class="%s"' % cls if cls else "", head, body)


def _bar(rate):
    return ('<span class="bar"><span style="width:%.0f%%"></span></span> %.0f%%' % (rate, rate))


STYLE = """
body{font-family:'Noto Sans CJK SC','Noto Sans SC','PingFang SC','Microsoft YaHei',sans-serif;max-width:74em;
margin:1.5em auto;padding:0 1em;line-height:1.6;color:#1f2328;background:#fff}
h1{font-size:1.6em;border-bottom:2px solid #4c72b0}h2{margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left;
vertical-align:top}th{background:#f3f3f3}td.num{text-align:right}.low{background:#fde2e1}.miss{color:#8a8a8a}
.bar{display:inline-block;width:6em;height:.7em;background:#eee;vertical-align:middle}
.bar span{display:block;height:100%;background:#4c72b0}.note{color:#57606a;font-size:.92em}
svg{max-width:100%;height:auto}code{background:#f3f3f3;padding:0 .2em}.hint{max-width:40em}
nav a{margin-right:1em}table.mistakes td:first-child{white-space:nowrap}
"""


def _html(data, result, title, extra_html):
    a_list = data.assignments
    parts = ["<h1>%s</h1>" % _e(title),
             '<p>%d 名学生，%d 份作业；课程 %s；成绩库：%s；生成于 %s。</p>' % (
                 len(data.students), len(a_list), _e(data.course_id), _e(data.db_label),
                 datetime.datetime.now().strftime("%Y-%m-%d %H:%M")),
             '<p class="note">CSV（可以用表格软件排序）：scores.csv、students.csv、tests.csv、mistakes.csv、events.csv、'
             'missing.csv。常见错误按检查自己的诊断（评分时测试没通过给出的提示）归类；学生打印的文字不算。</p>',
             "<nav>%s</nav>" % "".join('<a href="#a-%s">%s</a>' % (_e(a), _e(a)) for a in a_list)]
    # 需要帮助
    parts.append("<h2>需要帮助的学生</h2>")
    parts.append('<p class="note">得分率低于 %.0f%%、缺交，或者同一个误解出现在两份以上作业里。</p>'
                 % (100 * result["threshold"]))
    if result["help"]:
        parts.append(_table(["学号", "姓名", "原因"], [[_e(r["id"]), _e(r["name"]), "<br>".join(_e(x) for x in r["reasons"])]
                                                  for r in result["help"]]))
    else:
        parts.append("<p>没有。</p>")
    # 全班成绩
    parts.append("<h2>每名学生的成绩</h2>")
    if a_list:
        parts.append(_course_chart(data, result))
    rows = []
    for r in result["students"]:
        cells = [_e(r["id"]), _e(r["name"])]
        for a in a_list:
            got, top = r["scores"][a], data.max[a]
            if got is None:
                cells.append('<span class="miss">缺交</span>')
            else:
                low = top and got < result["threshold"] * top
                cells.append('<span class="%s">%g/%g</span>' % ("low" if low else "", got, top))
        cells.append("%g/%g" % (r["total"], result["total_max"]))
        rows.append(cells)
    parts.append(_table(["学号", "姓名"] + a_list + ["合计"], rows, "scores"))
    # 各作业
    for a in a_list:
        e = result["assignments"][a]
        parts.append('<h2 id="a-%s">%s</h2>' % (_e(a), _e(a)))
        if e["submitted"]:
            parts.append("<p>提交 %d 人（共 %d 人），平均 %.1f，中位数 %g，满分 %g，拿满分的 %d 人。</p>" % (
                len(e["submitted"]), len(data.students), e["mean"], e["median"], e["max"], e["full"]))
            parts.append(_histogram(a, e))
        else:
            parts.append("<p>没有人提交。</p>")
        parts.append("<h3>各测试单元的通过率</h3>")
        parts.append('<p class="note">通过 = 拿到这个测试单元的全部分值；分母是交了这份作业的人数。</p>')
        parts.append(_table(["测试单元", "分值", "通过", "通过率"], [
            [_e(t["grade_id"]), '%g' % t["points"], "%d/%d" % (t["passed"], t["submitted"]),
             _bar(t["rate"]) if t["submitted"] else "—"] for t in e["tests"]], "tests"))
        parts.append("<h3>最常见的错误</h3>")
        if e["mistakes"]:
            rows = []
            for g in e["mistakes"]:
                ex = ("期望 <code>%s</code><br>得到 <code>%s</code>" % (_e(g["example"][0]), _e(g["example"][1]))
                      if g["example"] else ('<span class="note">隐藏测试，不记录值</span>' if g["hidden"] else "—"))
                rows.append(['<b>%d</b> 人' % len(g["students"]), _e(g["grade_id"]),
                             '<div class="hint">%s</div>' % _e(g["hint"] or NO_HINT),
                             _e(g["misconception"] or ""), _e("、".join(sorted(g["checks"]))), ex])
            parts.append(_table(["学生", "测试单元", "检查的诊断", "误解", "检查", "一个例子（不具名）"], rows, "mistakes"))
        else:
            parts.append("<p>没有记录到检查的诊断。</p>")
        parts.append("<h3>缺交</h3>")
        names = dict(data.students)
        parts.append("<p>%s</p>" % ("、".join("%s（%s）" % (_e(s), _e(names.get(s, ""))) if names.get(s) else _e(s)
                                             for s in e["missing"]) or "没有。"))
        parts.append("<h3>评分时出了问题的提交</h3>")
        if e["events"]:
            parts.append(_table(["学号", "notebook", "问题", "单元", "说明"], [
                [_e(ev["student"]), _e(ev["notebook"]), _e(ev["title"]), _e(ev["grade_id"]), _e(ev["detail"])]
                for ev in e["events"]], "events"))
        else:
            parts.append("<p>没有。</p>")
    parts.append(extra_html or "")
    return ('<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1"><title>%s</title><style>%s</style>'
            '</head><body>\n%s\n</body></html>\n' % (_e(title), STYLE, "\n".join(parts)))


def _write_csv(path, header, rows):
    # utf-8-sig：Excel 打开时认得出中文
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _num(x):
    return "" if x is None else "%g" % x


def write_csvs(folder, data, result):
    names = dict(data.students)
    paths = []
    rows = []
    for a in data.assignments:
        e = result["assignments"][a]
        for sid, name in data.students:
            got = e["scores"].get(sid)
            rows.append([a, sid, name, "是" if got is not None else "否", _num(got), _num(e["max"]),
                         "%.1f" % _pct(got, e["max"]) if got is not None else ""])
    paths.append(_write_csv(os.path.join(folder, "scores.csv"),
                            ["assignment", "student_id", "name", "submitted", "score", "max_score", "percent"], rows))
    paths.append(_write_csv(os.path.join(folder, "students.csv"),
                            ["student_id", "name"] + data.assignments + ["total", "total_max", "needs_help", "reasons"],
                            [[r["id"], r["name"]] + [_num(r["scores"][a]) for a in data.assignments] +
                             [_num(r["total"]), _num(result["total_max"]), "是" if r["reasons"] else "否",
                              "；".join(r["reasons"])] for r in result["students"]]))
    paths.append(_write_csv(os.path.join(folder, "tests.csv"),
                            ["assignment", "notebook", "grade_id", "points", "submitted", "passed", "pass_rate"],
                            [[a, t["notebook"], t["grade_id"], _num(t["points"]), t["submitted"], t["passed"],
                              "%.1f" % t["rate"]] for a in data.assignments for t in result["assignments"][a]["tests"]]))
    paths.append(_write_csv(os.path.join(folder, "mistakes.csv"),
                            ["assignment", "grade_id", "students", "hint", "misconception", "checks", "hidden_only",
                             "example_expected", "example_got", "student_ids"],
                            [[a, g["grade_id"], len(g["students"]), g["hint"] or NO_HINT, g["misconception"] or "",
                              " ".join(sorted(g["checks"])), "是" if g["hidden"] else "否",
                              g["example"][0] if g["example"] else "", g["example"][1] if g["example"] else "",
                              " ".join(sorted(g["students"]))]
                             for a in data.assignments for g in result["assignments"][a]["mistakes"]]))
    paths.append(_write_csv(os.path.join(folder, "events.csv"),
                            ["assignment", "student_id", "notebook", "kind", "title", "grade_id", "detail"],
                            [[a, ev["student"], ev["notebook"], ev["kind"], ev["title"], ev["grade_id"], ev["detail"]]
                             for a in data.assignments for ev in result["assignments"][a]["events"]]))
    paths.append(_write_csv(os.path.join(folder, "missing.csv"), ["assignment", "student_id", "name"],
                            [[a, s, names.get(s, "")] for a in data.assignments
                             for s in result["assignments"][a]["missing"]]))
    return paths


def write_report(out, data, threshold=0.6, title="班级评分报告", extra_html="", filename="index.html"):
    """写出 OUT/index.html 和 CSV。返回 {"html": 路径, "csv": [路径], "result": analyse 的结果}。
    extra_html：接在报告末尾的几节（演示班级的各步用时之类，调用者负责转义）。"""
    os.makedirs(out, exist_ok=True)
    result = analyse(data, threshold)
    page = os.path.join(out, filename)
    with open(page, "w", encoding="utf-8") as f:
        f.write(_html(data, result, title, extra_html))
    return {"html": page, "csv": write_csvs(out, data, result), "result": result}


# ---------------------------------------------------------------- 命令行
def _fraction(text):
    import argparse

    try:
        value = float(text.rstrip("%")) / (100.0 if text.endswith("%") or float(text.rstrip("%")) > 1 else 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError("应当是 0 到 1 之间的数或百分数（如 0.6 或 60%%），收到的是 %r" % text) from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("应当在 0 到 1（0%% 到 100%%）之间，收到的是 %r" % text)
    return value


def add_arguments(p):
    p.add_argument("assignment", nargs="?", default="all", help="只看这份作业（默认 all：全部）")
    p.add_argument("--course", default=".", help="课程根目录（默认当前文件夹）")
    p.add_argument("--out", default=None, help="输出文件夹（默认是课程文件夹里的 class-report/，已被 git 忽略）")
    p.add_argument("--threshold", type=_fraction, default=0.6,
                   help="得分率低于它就列进“需要帮助”（默认 0.6，也可以写 60%%）")


def run(args):
    course = os.path.abspath(args.course)
    if not os.path.isdir(course):
        raise SystemExit("课程文件夹不存在：%s" % course)
    out = os.path.abspath(args.out) if args.out else os.path.join(course, "class-report")
    start = time.perf_counter()
    data = load_class(course, [args.assignment])
    paths = write_report(out, data, args.threshold)
    result = paths["result"]
    print("班级报告：%s（%d 名学生，%d 份作业，用了 %.1f 秒）" % (paths["html"], len(data.students), len(data.assignments),
                                                       time.perf_counter() - start))
    for a in data.assignments:
        e = result["assignments"][a]
        top = e["mistakes"][0] if e["mistakes"] else None
        print("  %s：提交 %d 人，缺交 %d 人，评分事件 %d 条%s" % (
            a, len(e["submitted"]), len(e["missing"]), len(e["events"]),
            "；最常见的错误（%d 人）：%s" % (len(top["students"]), (top["hint"] or NO_HINT)[:60]) if top else ""))
    print("  需要帮助：%d 人；CSV 在 %s" % (len(result["help"]), out))
    return 0
