"""演示班级的中文报告：就是 python -m course class-report（course/grading/batch/class_report.py）在演示班级上运行的结果，
末尾加上只有演示才有的几节：每名演示学生的情况、nbgrader 命令的失败和成绩库的不一致、学生取回的反馈、各步用时。

写出 OUT/report/report.html 和 class-report 的 CSV（scores.csv、mistakes.csv……）。
"""
import html
import os

from ..grading.files.events import EVENT_TITLES
from .students import lesson_key

__all__ = ["write_report", "EVENT_TITLES", "problem_rows"]


def problem_rows(pipeline):
    """[(学号, 作业, 问题, 说明)]：nbgrader 命令失败、成绩库不一致（评分事件在班级报告的各作业一节里）。"""
    rows = []
    for res in pipeline.failures:
        for sid in res.task.students or ("—",):
            rows.append((sid, "—", "nbgrader 命令失败", "%s，退出码 %d，日志 %s" % (res.task.label, res.returncode,
                                                                             os.path.relpath(res.log_path, pipeline.out))))
    for text in pipeline.problems:
        rows.append(("—", "—", "成绩库不一致", text))
    return rows


def _table(header, rows):
    e = html.escape
    return "<table><thead><tr>%s</tr></thead><tbody>%s</tbody></table>" % (
        "".join("<th>%s</th>" % e(str(h)) for h in header),
        "".join("<tr>%s</tr>" % "".join("<td>%s</td>" % e(str(c)) for c in r) for r in rows))


def _demo_sections(pipeline):
    p, e = pipeline, html.escape
    db = "sqlite" if p.db_url.startswith("sqlite:///") else p.db_url.split("://", 1)[0]
    parts = ["<h2>演示班级</h2>",
             "<p>成绩库：%s；评分时 %d 个 nbgrader 进程同时运行。成绩表：<code>grades.csv</code>（<code>nbgrader export</code>）；"
             "每条命令的完整输出：<code>logs/</code>；评分后的 notebook：<code>course/autograded/</code>；学生取回的反馈："
             "<code>students/&lt;学号&gt;/backprop-zh/&lt;作业&gt;/feedback/</code>。这一页就是在 <code>course/</code> 里运行 "
             "<code>python -m course class-report</code> 得到的报告，加上下面几节。</p>" % (e(db), p.jobs)]
    rows = []
    for sid, persona in p.roster:
        details = "；".join("%s %s" % (k, persona.details[k]) for k in sorted(persona.details or {})
                           if any(lesson_key(a) == k for a in p.assignments)) if sid == persona.id else ""
        rows.append([sid, persona.name, persona.role, details])
    parts += ["<h3>每名演示学生的情况</h3>", _table(["学号", "姓名", "情况", "各课的具体情况"], rows)]
    if p.feedback:
        parts.append("<p>学生取回的反馈（HTML）份数：%s。改了文件名的 notebook 取不回反馈：nbgrader 按提交的文件找对应的反馈。</p>"
                     % e("、".join("%s %d" % (s, n) for s, n in p.feedback.items())))
    problems = problem_rows(p)
    parts += ["<h3>nbgrader 命令和成绩库的问题</h3>",
              _table(["学号", "作业", "问题", "说明"], problems) if problems else "<p>没有。</p>"]
    parts += ["<h3>各步用时</h3>", _table(["步骤", "秒"], [[t, "%.1f" % s] for t, s in p.steps])]
    return "\n".join(parts)


def write_report(pipeline):
    """写出报告，返回 {"html": 路径, "csv": [路径]}。"""
    from ..grading.batch.class_report import load_class, write_report as write_class_report
    from .pipeline import COURSE_ID

    folder = os.path.join(pipeline.out, "report")
    data = load_class(pipeline.work, db_url=pipeline.db_url, course_id=COURSE_ID, progress=None)
    paths = write_class_report(folder, data, title="演示班级评分报告", extra_html=_demo_sections(pipeline),
                               filename="report.html")
    return {"html": paths["html"], "csv": paths["csv"]}
