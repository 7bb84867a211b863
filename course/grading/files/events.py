"""评分时的异常记录：每份提交一份报告，教师事后可以汇总查看。

RobustExecute 把“超时、内核退出并重启、输出被截断、可疑代码、文件无法读取……”这类事件
一边写进日志（WARNING，带学生、作业、notebook、单元），一边写成 JSON：

    autograded/.grading-reports/<作业>/<学生>/<notebook>.json

报告里还有 mistakes：每个没有通过的测试单元里，哪项检查没有通过、给了什么提示（mistakes.py，
由评判进程从检查函数自己的异常对象上读出，不看学生的输出）。python -m course class-report 据此
数出全班最常见的错误。

（以点开头的文件夹不会被 nbgrader 当成学生，也不会进入反馈。）汇总查看：

    python -m course grading-report [作业]

可疑代码扫描是静态的：在学生能改动的单元里找篡改评分的常见写法（改写检查函数、numpy、
builtins、traceback 显示、sys.exit/os._exit、读取隐藏测试源码、课程文件夹里答案和成绩库的路径……）。
沙箱挡住的文件访问本身不在报告里：学生代码在自己的内核里得到 FileNotFoundError / PermissionError，
评分程序看不到（没有审计通道，异常还可能被 try 吞掉），所以只能按源码提醒。它只报告、不扣分：
扣分由隐藏测试决定，报告让教师知道该去看哪份作业。
"""
import datetime
import json
import os
import re

__all__ = ["SUSPICIOUS", "scan_source", "Report", "collect", "format_reports", "REPORT_DIR", "grade_id",
           "EVENT_TITLES"]

REPORT_DIR = ".grading-reports"

# 事件种类的中文说明（教师看的总结和演示报告用）
EVENT_TITLES = {
    "unreadable": "无法读取，按缺交处理",
    "cells-restored": "单元被挪动、改动或删掉，已按学生版复原",
    "timeout": "单元超时，已中断",
    "kernel-restart": "内核退出或没有回应，已重启",
    "gave-up": "内核重启次数用完，余下的单元没有执行",
    "replay": "重启后重放时又出事，跳过了这个单元",
    "output-truncated": "输出太多，已截断",
    "guard": "测试前的复原出了问题",
    "judge": "评判进程出了事（超时、退出或送回的判决格式不对），这个测试单元不得分",
    "suspicious": "可疑代码（只提醒，不扣分）",
}

SUSPICIOUS = [
    (r"\bcourse\.checks\b.*=|setattr\s*\(|\bdelattr\s*\(", "改写检查函数或模块属性"),
    (r"\b(np|numpy)(\.\w+)*\.\w+\s*=[^=]", "改写 numpy 的函数"),
    (r"\bbuiltins\b|__builtins__|__import__", "改动 builtins 或导入机制"),
    (r"sys\.(modules|meta_path|path_hooks|excepthook|displayhook|settrace|setprofile|stdout|stderr)\b",
     "改动解释器的全局状态"),
    (r"showtraceback|InteractiveShell|input_transformers|ast_transformers|set_custom_exc|"
     r"\bevents\.register|do_execute|shell_handlers", "改动 IPython 内核"),
    (r"\bSystemExit\b|sys\.exit\b|os\._exit\b|os\.kill(pg)?\b|(?<![\w.])(exit|quit)\s*\(", "主动退出或结束进程"),
    (r"signal\.(signal|pthread_sigmask|setitimer)\b", "改动信号处理（可能是在躲避超时中断）"),
    (r"\blinecache\b|\binspect\.(stack|currentframe|getsource|getouterframes)|_getframe|\.f_back\b|"
     r"\bgc\.get_(objects|referrers)\b|\bctypes\b", "读取调用者的代码或内存（可能在找隐藏测试）"),
    (r"\bcourse\.checks\.guard\b|_SNAP\b", "针对评分复原机制"),
    (r"^\s*(?!self\.)[A-Za-z_]\w*(\.\w+)+\s*=\s*lambda\b", "用 lambda 替换别的模块或对象的函数"),
    # 课程文件夹里的路径：答案（source/）、成绩库、别人的提交和评分结果、评分报告、课程配置。评分沙箱里这些都读不到，
    # 学生代码碰了壁也只在自己的内核里得到一个异常（多半被 try 吞掉），评分程序看不到；这里只是按源码提醒
    (r"""["'][^"'\n]*(?:(?<![\w.-])source[/\\]|[/\\]source(?![\w.-])|gradebook\.db|"""
     r"""(?<![\w.-])(?:submitted|autograded|feedback|exchange)[/\\]|\.grading-reports|nbgrader_config)|"""
     r"""\b(?:join|Path|open|listdir|scandir|glob|walk)\s*\([^)\n]*(["'])(?:source|submitted|autograded)\1""",
     "代码里写着课程文件夹的路径（答案 source/、成绩库、别人的作业）：评分沙箱里读不到，这里只按源码提醒"),
]
_COMPILED = [(re.compile(p), why) for p, why in SUSPICIOUS]


def grade_id(cell):
    """单元的 nbgrader grade_id（没有时是 None）。"""
    return (cell.metadata.get("nbgrader") or {}).get("grade_id")


def scan_source(source):
    """返回 [(行号, 原因, 该行内容)]；注释行不算。"""
    hits = []
    for lineno, line in enumerate(source.splitlines(), 1):
        code = line.split("#", 1)[0]
        if not code.strip():
            continue
        for rx, why in _COMPILED:
            if rx.search(code):
                hits.append((lineno, why, line.strip()))
                break
    return hits


class Report:
    """一份 notebook 的评分事件。add() 同时写日志。"""

    def __init__(self, log, student="?", assignment="?", notebook="?"):
        self.log = log
        self.student, self.assignment, self.notebook = student, assignment, notebook
        self.events = []
        self.mistakes = []  # 没有通过的检查（mistakes.py）：班级报告数常见错误用
        self.sandbox = None
        self.kernel = ""  # 第一个内核："started" 新启动的，"prestarted" 接手评分服务预先启动的（execute/standby.py）

    def add(self, kind, detail, cell=None, grade_id=None, level="warning"):
        self.events.append({"kind": kind, "cell": cell, "grade_id": grade_id, "detail": detail})
        where = " 单元 %s" % (grade_id or "#%s" % cell) if cell is not None or grade_id else ""
        getattr(self.log, level)("[评分 %s/%s/%s]%s：%s", self.student, self.assignment, self.notebook, where, detail)

    def set_mistakes(self, cell, grade_id, records):
        """这个测试单元里没有通过的检查（评判进程送来、已经检查过的纯数据），不写日志：它是平常的事。
        单元再运行一次（内核重启后）时，新的记录代替旧的。"""
        self.mistakes = [m for m in self.mistakes if m.get("cell") != cell]
        self.mistakes += [dict(record, cell=cell, grade_id=grade_id) for record in records]

    def as_dict(self):
        return {
            "student": self.student, "assignment": self.assignment, "notebook": self.notebook,
            "sandbox": self.sandbox, "kernel": self.kernel, "time": datetime.datetime.now().isoformat(timespec="seconds"),
            "events": self.events, "mistakes": self.mistakes,
        }

    def write(self, autograded_root):
        if not autograded_root:
            return None
        folder = os.path.join(autograded_root, REPORT_DIR, self.assignment, self.student)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, self.notebook + ".json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.as_dict(), f, ensure_ascii=False, indent=1)
        return path


def collect(autograded_root, assignment=None):
    """读出所有报告（可按作业过滤），按作业、学生、notebook 排序。"""
    base = os.path.join(autograded_root, REPORT_DIR)
    out = []
    if not os.path.isdir(base):
        return out
    for dirpath, _, files in os.walk(base):
        for name in files:
            if name.endswith(".json"):
                with open(os.path.join(dirpath, name), encoding="utf-8") as f:
                    try:
                        rep = json.load(f)
                    except ValueError:
                        continue
                if assignment is None or rep.get("assignment") == assignment:
                    out.append(rep)
    return sorted(out, key=lambda r: (r.get("assignment", ""), r.get("student", ""), r.get("notebook", "")))


def format_reports(reports, show_all=False):
    """给人看的汇总：默认只列有事件的提交。"""
    lines = []
    for rep in reports:
        if not rep["events"] and not show_all:
            continue
        lines.append("%s / %s / %s（沙箱：%s）" % (rep["assignment"], rep["student"], rep["notebook"], rep["sandbox"]))
        for ev in rep["events"] or [{"kind": "ok", "detail": "没有异常", "grade_id": None, "cell": None}]:
            where = ev.get("grade_id") or ("#%s" % ev["cell"] if ev.get("cell") is not None else "")
            lines.append("    %-18s %-22s %s" % (ev["kind"], where, ev["detail"]))
    return "\n".join(lines) if lines else "没有需要注意的提交。"
