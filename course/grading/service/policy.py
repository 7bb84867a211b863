"""评分次数的限制：提交马上评分，隐藏测试的结果也马上出来，次数不限时隐藏测试就成了可以反复试探的“神谕”。

教师在 nbgrader_config.py 里设（都可以不写，用下面的默认值）：

    c.GradeService.max_attempts = 5      每份作业在一个时间窗口里最多评几次（0 表示不限）
    c.GradeService.window_hours = 24     时间窗口的长度（小时）：从这次提交往前数
    c.GradeService.scan_seconds = 2      服务每隔几秒看一次交换目录
    c.GradeService.check_owner = True    inbound 里提交文件夹的属主必须是这名学生（或服务自己的账户，见 admission.py）
    c.GradeService.known_students_only = True   只收成绩库里已有的学生（nbgrader db student import 导入名单）

算次数按服务收到提交的时间（学生改不了），排队中、评分中、评好了的提交都算，没评上的不算。超出限制的提交
不评分，但原样留在 .grade-service/submissions/ 里，grade-status --history 列出它；学生取回的反馈是一页中文说明：
这次没有评分、计分的仍是上一次评好的提交、什么时候可以再交。隐藏测试的反馈照旧隐去（评分的反馈就是
nbgrader generate_feedback 生成的那份）。
"""
import datetime
import html

from traitlets import Bool, Float, Integer
from traitlets.config import Configurable

__all__ = ["GradeService", "load_policy", "over_limit_html"]


class GradeService(Configurable):
    max_attempts = Integer(5, min=0, help="每份作业在 window_hours 小时里最多评几次（0 表示不限）").tag(config=True)
    window_hours = Float(24.0, min=0.0, help="计算评分次数的时间窗口（小时）").tag(config=True)
    scan_seconds = Float(2.0, min=0.1, help="服务每隔几秒看一次交换目录和 submitted/").tag(config=True)
    check_owner = Bool(True, help="inbound 里的提交文件夹的属主必须是这名学生或服务自己的账户").tag(config=True)
    known_students_only = Bool(True, help="只收成绩库里已有的学生（防止编出来的学号绕过评分次数）").tag(config=True)

    def limit_reached(self, used):
        """这个窗口里已经用了 used 次：这一次还评不评。"""
        return self.max_attempts > 0 and used >= self.max_attempts


def load_policy(config):
    """config：课程的 nbgrader_config.py 读出的 traitlets Config（None 时用默认值）。"""
    return GradeService(config=config) if config is not None else GradeService()


_PAGE = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{title}</title>
<style>body{{font-family:sans-serif;max-width:40em;margin:3em auto;line-height:1.7}}
.box{{border:1px solid #d9a400;background:#fff8e1;padding:1em 1.5em;border-radius:6px}}</style>
</head><body><div class="box">
<h1>{title}</h1>
{paragraphs}
</div></body></html>
"""


def over_limit_html(assignment, notebook, policy, used, submitted_at, next_time=None):
    """超出次数时学生取回的“反馈”：一页中文说明（不含任何评分信息）。"""
    when = datetime.datetime.fromtimestamp(submitted_at).strftime("%Y-%m-%d %H:%M")
    window = ("在 %g 小时里" % policy.window_hours) if policy.window_hours else "在整个学期里"
    paragraphs = [
        "你在 %s 交的作业 %s（%s）<b>这一次没有评分</b>：这份作业%s最多评 %d 次，你已经用完了（%d 次）。"
        % (when, html.escape(assignment), html.escape(notebook), window, policy.max_attempts, used),
        "计分的仍是你上一次评好的提交，它的反馈还在原来的地方；这次的提交没有丢，老师可以看到，也可以另行评分。",
    ]
    if next_time:
        paragraphs.append("%s 以后再交的作业会照常评分。" % datetime.datetime.fromtimestamp(next_time).strftime(
            "%Y-%m-%d %H:%M"))
    paragraphs.append("为什么有次数限制：评分时还会运行隐藏测试，如果可以无限次地交，隐藏测试就变成了可以反复试探的"
                      "答案提示。先在自己的 notebook 里把公开的测试都跑通，想清楚再交。")
    return _PAGE.format(title="这次提交没有评分：评分次数用完了",
                        paragraphs="\n".join("<p>%s</p>" % p for p in paragraphs))
