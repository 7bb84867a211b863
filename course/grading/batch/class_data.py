"""班级报告的数据：从成绩库（nbgrader 的 Gradebook API，sqlite 或 PostgreSQL）和评分报告（autograded/.grading-reports/，
report.py）读出一个班（load_class），再算出分数分布、通过率、常见错误和需要帮助的学生（analyse）。

常见错误来自评分报告里的 mistakes（mistakes.py）：评判进程从检查函数自己的异常对象上读出的检查名和提示，
不看学生的输出，学生打印的“检查没有通过”不算。只统计成绩库里确实没拿满分的测试单元。
“需要帮助”：某份交了的作业得分率低于阈值（默认 60%），缺交，或者同一个误解（MISCONCEPTIONS，按提示里的关键词
归类）在两份以上作业里出现。报告本身（HTML、CSV、命令行）在 class_report.py。
"""
import datetime
import os
import re
import statistics
import sys

from ..files.events import EVENT_TITLES, collect

__all__ = ["ClassData", "load_class", "analyse", "MISCONCEPTIONS", "misconception", "NO_HINT"]

# 误解的归类：提示里有这些词 -> 误解的名字。一名学生在两份作业里犯同一个误解，就列进“需要帮助”
MISCONCEPTIONS = [
    (r"翻转", "乘法节点的“翻转值”：x、y 用反了"),
    (r"= 而不是 \+=|self\.grad = \.\.\.|覆盖|只用 \+= 累加|\+= 累加", "梯度要用 += 累加，不能用 = 覆盖"),
    (r"对批求和|沿批的轴|各样本传回的梯度要加起来|np\.sum\(dout, axis=0\)", "偏置的梯度要对批求和"),
    (r"批大小|按批平均|批平均", "损失和梯度要除以批大小 N"),
    (r"少了上游|还要乘上游|乘上游|忘了乘 dout|乘上局部导数|dout 乘以局部导数", "反向传播要乘上游传来的 dout"),
    (r"dout 被乘了两次", "上游的 dout 只乘一次"),
    (r"原地|改动了调用者|改动了传进来|改动了传入", "不要原地修改传进来的数组"),
    (r"转置", "矩阵乘法的转置和形状"),
    (r"符号反了", "符号反了"),
    (r"存成 self\.|存下来|没有存|self\.x = x", "backward 要用的值要在 forward 里存下来"),
    (r"前向差分|中心差分", "数值微分要用中心差分"),
]
_MISCONCEPTIONS = [(re.compile(p), name) for p, name in MISCONCEPTIONS]
NO_HINT = "（检查没有给出具体诊断）"


def misconception(hint):
    """提示 -> 误解的名字（认不出时是 None）。"""
    if not hint:
        return None
    for rx, name in _MISCONCEPTIONS:
        if rx.search(hint):
            return name
    return None


# ---------------------------------------------------------------- 读数据
class ClassData:
    """从成绩库和评分报告读出的班级数据（纯 Python 对象，之后不再碰数据库）。"""

    def __init__(self):
        self.course_id, self.db_label = "", ""
        self.students = []  # [(学号, 姓名)]
        self.assignments = []  # [作业名]
        self.max = {}  # {作业: 满分}
        self.cells = {}  # {作业: [(notebook, grade_id, 分值)]}
        self.scores = {}  # {作业: {学号: 总分}}
        self.cell_scores = {}  # {作业: {学号: {grade_id: 分}}}
        self.reports = {}  # {(作业, 学号): [评分报告 dict]}


class _Progress:
    """读大班时的一行进度（终端里原地刷新，重定向到文件时每 10% 打一行）。"""

    def __init__(self, stream):
        self.stream = stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.last = -1

    def __call__(self, what, done, total):
        if self.stream is None:
            return
        text = "读取%s：%d/%d" % (what, done, total)
        if self.tty:
            self.stream.write("\r" + text + "\033[K" + ("\n" if done >= total else ""))
            self.stream.flush()
            return
        step = max(1, total // 10)
        if done >= total or done % step == 0:
            self.stream.write(text + "\n")
            self.stream.flush()


def _course_settings(course):
    from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader

    try:
        cfg = PyFileConfigLoader("nbgrader_config.py", path=course).load_config()
    except ConfigFileNotFound:
        raise SystemExit("%s 里没有 nbgrader_config.py：在课程根目录运行，或用 --course 指定课程文件夹" % course) from None
    cd = cfg.get("CourseDirectory", {})
    root = cd.get("root") or course
    return (cd.get("db_url") or "sqlite:///" + os.path.join(course, "gradebook.db"),
            cd.get("course_id") or "default_course",
            os.path.join(root, cd.get("autograded_directory") or "autograded"),
            os.path.join(root, cd.get("submitted_directory") or "submitted"))


def _db_label(db_url):
    if db_url.startswith("sqlite:///"):
        return "sqlite（%s）" % db_url[len("sqlite:///"):]
    return db_url.split("://", 1)[0].split("+", 1)[0]


def load_class(course=".", wanted=None, *, db_url=None, course_id=None, progress=sys.stderr):
    """读成绩库和评分报告。wanted：作业名的列表（None 或 ["all"] 表示全部）。
    db_url、course_id 缺省时读课程的 nbgrader_config.py（演示班级传入自己的）。"""
    from nbgrader.api import Gradebook

    course = os.path.abspath(course)
    cfg_db, cfg_id, autograded, submitted = _course_settings(course)
    db_url, course_id = db_url or cfg_db, course_id or cfg_id
    if db_url.startswith("sqlite:///") and not os.path.isfile(db_url[len("sqlite:///"):]):
        raise SystemExit("成绩库 %s 不存在：先运行 nbgrader generate_assignment 和 autograde" % db_url[len("sqlite:///"):])
    tick = _Progress(progress)
    data = ClassData()
    data.course_id, data.db_label = course_id, _db_label(db_url)
    with Gradebook(db_url, course_id) as gb:
        data.students = sorted((s.id, ((s.last_name or "") + (s.first_name or "")).strip()) for s in gb.students)
        known = [a.name for a in sorted(gb.assignments, key=lambda a: (a.duedate or datetime.datetime.max, a.name))]
        if not wanted or list(wanted) == ["all"]:
            chosen = known
        else:
            chosen = [a for a in known if a in wanted]
            unknown = [w for w in wanted if w not in known]
            if unknown:
                raise SystemExit("成绩库里没有作业 %s（有的是 %s）" % ("、".join(unknown), "、".join(known) or "无"))
        data.assignments = chosen
        for name in chosen:
            a = gb.find_assignment(name)
            data.max[name] = a.max_score
            data.cells[name] = [(nb.name, c.name, c.max_score) for nb in a.notebooks for c in nb.grade_cells]
            scores, cell_scores = {}, {}
            subs = list(a.submissions)
            for i, sub in enumerate(subs, 1):
                scores[sub.student.id] = sub.score
                cell_scores[sub.student.id] = {g.name: g.score for nb in sub.notebooks for g in nb.grades}
                tick("成绩库 %s 的提交" % name, i, len(subs))
            if not subs:
                tick("成绩库 %s 的提交" % name, 0, 0)
            data.scores[name], data.cell_scores[name] = scores, cell_scores
    reports = collect(autograded) if os.path.isdir(autograded) else []
    for i, rep in enumerate(reports, 1):
        if rep.get("assignment") in data.max:
            for ev in rep.get("events") or []:
                if ev.get("kind") == "unreadable":
                    ev["detail"] = ev.get("detail", "") + _what_was_submitted(submitted, rep)
            data.reports.setdefault((rep["assignment"], rep.get("student", "?")), []).append(rep)
        tick("评分报告", i, len(reports))
    return data


def _what_was_submitted(submitted, rep):
    """读不了的提交：看看交上来的是什么 notebook（多半是改了名字）。"""
    folder = os.path.join(submitted, str(rep.get("student")), str(rep.get("assignment")))
    try:
        others = sorted(f for f in os.listdir(folder) if f.endswith(".ipynb") and f != "%s.ipynb" % rep.get("notebook"))
    except OSError:
        return ""
    return "（交上来的是 %s）" % "、".join(others) if others else ""


# ---------------------------------------------------------------- 分析
def _pct(x, top):
    return 100.0 * x / top if top else 0.0


def analyse(data, threshold=0.6):
    """{"assignments": {作业: {...}}, "students": [...], "help": [...]}：报告和 CSV 都从这里取。"""
    names = dict(data.students)
    out = {"assignments": {}, "students": [], "help": []}
    seen_misconceptions = {}  # {学号: {误解: {作业}}}
    for a in data.assignments:
        scores, cells, top = data.scores[a], data.cells[a], data.max[a]
        submitted = sorted(scores)
        tests = []
        for nb, gid, points in cells:
            passed = sum(1 for s in submitted if (data.cell_scores[a][s].get(gid) or 0) >= points)
            tests.append({"notebook": nb, "grade_id": gid, "points": points, "submitted": len(submitted),
                          "passed": passed, "rate": _pct(passed, len(submitted))})
        points = {gid: p for _, gid, p in cells}
        groups = {}
        for sid in submitted:
            for rep in data.reports.get((a, sid), []):
                for m in rep.get("mistakes") or []:
                    gid = m.get("grade_id")
                    if gid not in points or (data.cell_scores[a][sid].get(gid) or 0) >= points[gid]:
                        continue  # 成绩库里这个单元拿了满分：记录不算数
                    hint = m.get("hint") or None
                    key = (gid, hint)
                    g = groups.setdefault(key, {"grade_id": gid, "hint": hint, "checks": set(), "students": set(),
                                                "hidden": True, "example": None,
                                                "misconception": misconception(hint)})
                    g["students"].add(sid)
                    if m.get("check"):
                        g["checks"].add(m["check"])
                    g["hidden"] = g["hidden"] and bool(m.get("hidden"))
                    if g["example"] is None and m.get("expected") is not None and m.get("got") is not None:
                        g["example"] = (m["expected"], m["got"])
                    if g["misconception"]:
                        seen_misconceptions.setdefault(sid, {}).setdefault(g["misconception"], set()).add(a)
        order = {gid: i for i, (_, gid, _) in enumerate(cells)}
        mistakes = sorted(groups.values(), key=lambda g: (-len(g["students"]), order.get(g["grade_id"], 0),
                                                          g["hint"] or ""))
        events = []
        for sid in submitted:
            for rep in data.reports.get((a, sid), []):
                for ev in rep.get("events") or []:
                    events.append({"student": sid, "notebook": rep.get("notebook", ""), "kind": ev.get("kind", "?"),
                                   "title": EVENT_TITLES.get(ev.get("kind"), ev.get("kind", "?")),
                                   "grade_id": ev.get("grade_id") or "", "detail": ev.get("detail", "")})
        vals = [scores[s] for s in submitted]
        out["assignments"][a] = {
            "max": top, "submitted": submitted, "scores": scores, "tests": tests, "mistakes": mistakes,
            "events": events, "missing": [s for s, _ in data.students if s not in scores],
            "mean": statistics.mean(vals) if vals else None, "median": statistics.median(vals) if vals else None,
            "full": sum(1 for v in vals if top and v >= top),
        }
    for sid, name in data.students:
        row = {"id": sid, "name": names.get(sid, ""), "scores": {}, "reasons": []}
        for a in data.assignments:
            got = data.scores[a].get(sid)
            row["scores"][a] = got
            if got is None:
                row["reasons"].append("%s 缺交" % a)
            elif data.max[a] and got < threshold * data.max[a]:
                row["reasons"].append("%s 得分 %g/%g（%.0f%%，低于 %.0f%%）" % (a, got, data.max[a], _pct(got, data.max[a]),
                                                                         100 * threshold))
        for what, where in sorted(seen_misconceptions.get(sid, {}).items()):
            if len(where) >= 2:
                row["reasons"].append("同一个误解出现在 %s：%s" % ("、".join(sorted(where)), what))
        row["total"] = sum(v for v in row["scores"].values() if v is not None)
        out["students"].append(row)
        if row["reasons"]:
            out["help"].append(row)
    out["total_max"] = sum(data.max[a] for a in data.assignments)
    out["threshold"] = threshold
    return out
