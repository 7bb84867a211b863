"""把工人的结果写进课程：只有服务做这件事（工人从不碰成绩库）。

- autograded/<学号>/<作业>/：换成工人评好的 notebook 和附带文件（和 nbgrader autograde 写的一样，文件只读）；
- autograded/.grading-reports/<作业>/<学号>/：评分报告（事件、没通过的检查），python -m course grading-report 照常能看；
- 成绩库：和 nbgrader 的 SaveAutoGrades、AssignLatePenalties 写的一样（提交时间、每个单元的自动分数和
  “是否要人工评”、评语、迟交扣分），用 nbgrader 的 Gradebook，sqlite 或 PostgreSQL（COURSE_DB_URL）都行；
  重复写同样的值不改变任何东西（幂等）；
- 这名学生的反馈：工人已经生成好的放进 feedback/ 再 release_feedback（publish_feedback）；工人没有生成、或者
  成绩库里有教师的人工分数和评语时，服务自己 generate_feedback 和 release_feedback（release_feedback；课程的
  FeedbackExporter、ReleaseFeedback），学生在 JupyterLab 里点 “Fetch Feedback” 就能看到。

超出评分次数的提交不评分：over_limit_feedback 把一页中文说明放在这次提交的反馈位置上（文件名是 nbgrader 的
notebook_hash(submission_secret, notebook)，fetch_feedback 按它来找）。
"""
import datetime
import glob
import json
import math
import os
import sys

from ..collect import plain_name
from .bundle import write_files
from .jobs import RESULT_MAX_BYTES, _rmtree

__all__ = ["ApplyError", "write_autograded", "write_reports", "write_gradebook", "release_feedback", "publish_feedback",
           "over_limit_feedback", "total_score"]


class ApplyError(Exception):
    """工人送回的结果不对（中文说明）。"""


def write_autograded(autograded_root, student, assignment, files):
    dest = os.path.join(autograded_root, student, assignment)
    _rmtree(dest)
    os.makedirs(dest)
    write_files(files, dest, RESULT_MAX_BYTES)
    for dirpath, _, names in os.walk(dest):  # nbgrader autograde 把评好的文件设为只读（444）
        for name in names:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o444)


def write_reports(autograded_root, student, assignment, reports):
    """换掉这名学生这份作业的评分报告（评分时写的那几份；收作业时的报告另外写）。"""
    folder = os.path.join(autograded_root, ".grading-reports", assignment, student)
    os.makedirs(folder, exist_ok=True)
    for old in glob.glob(os.path.join(folder, "*.json")):
        os.unlink(old)
    for rep in reports:
        if not isinstance(rep, dict) or not isinstance(rep.get("notebook"), str) or not plain_name(rep["notebook"]):
            continue
        rep = dict(rep, student=student, assignment=assignment)
        path = os.path.join(folder, rep["notebook"] + ".json")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(rep, f, ensure_ascii=False, indent=1)


def _number(value, what):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApplyError("%s 不是数：%r" % (what, value))
    return float(value)


def _bounded(value, top):
    """一个单元的自动分数按成绩库里的满分 top 检查：返回 (写进成绩库的分数, 问题的中文说明或 None)。
    不是数（NaN）的记 0 分，超出 [0, 满分] 的截到边上；有问题的单元都标成要人工评。"""
    if value is None:
        return None, None
    if math.isnan(value):
        return 0.0, "分数不是数（NaN），记 0 分"
    if value < 0 or value > top:
        return min(max(value, 0.0), top), "分数 %g 超出 0 到 %g，截成 %g" % (value, top, min(max(value, 0.0), top))
    return value, None


def write_gradebook(db_url, course_id, assignment, student, result, notes=None):
    """结果里的分数、评语写进成绩库（同 SaveAutoGrades）。返回 (总分, 满分, 有没有教师的人工分数或评语)：
    有的话反馈要按课程的成绩库重新生成（工人的私有成绩库里没有它们）。

    满分取成绩库里的（不信结果里的 max_score）；分数超出 [0, 满分] 或不是数时截断、标成要人工评，
    说明加进 notes（一个 list，给教师看）。"""
    from nbgrader.api import Gradebook, MissingEntry

    stamp = result.get("timestamp")
    try:
        timestamp = datetime.datetime.fromisoformat(stamp) if stamp else None
    except (TypeError, ValueError):
        raise ApplyError("提交时间不对：%r" % (stamp,)) from None
    score = maximum = 0.0
    manual = False
    with Gradebook(db_url, course_id) as gb:
        gb.update_or_create_student(student)
        if timestamp is not None:
            gb.update_or_create_submission(assignment, student, timestamp=timestamp)
        else:
            gb.update_or_create_submission(assignment, student)
        try:
            for nb in result.get("notebooks") or ():
                name = nb.get("name")
                for g in nb.get("grades") or ():
                    grade = gb.find_grade(g["name"], name, assignment, student)
                    top = float(grade.max_score or 0.0)
                    grade.auto_score, problem = _bounded(_number(g.get("auto_score"), "分数"), top)
                    # 同 SaveAutoGrades：有过人工分数、或者没有自动分数的，要人工看；分数有问题的也要
                    grade.needs_manual_grade = bool(g.get("needs_manual_grade")) or grade.manual_score is not None \
                        or problem is not None
                    if problem and notes is not None:
                        notes.append("%s 的 %s：%s" % (name, g["name"], problem))
                    score += grade.auto_score or 0.0
                    manual |= grade.manual_score is not None or grade.extra_credit is not None
                    maximum += top
                for c in nb.get("comments") or ():
                    comment = gb.find_comment(c["name"], name, assignment, student)
                    text = c.get("auto_comment")
                    comment.auto_comment = text if isinstance(text, str) else None
                    manual |= comment.manual_comment is not None
                sub_nb = gb.find_submission_notebook(name, assignment, student)
                sub_nb.late_submission_penalty = _number(nb.get("late_submission_penalty"), "迟交扣分")
            gb.db.commit()
        except (MissingEntry, KeyError, TypeError) as exc:
            gb.db.rollback()
            raise ApplyError("结果和成绩库里的作业对不上：%s: %s" % (type(exc).__name__, exc)) from None
    return score, maximum, manual


def total_score(result):
    """结果里的总分和满分（只用于记录；每个单元的分数截到 [0, 满分]，不是数的算 0）。"""
    score = maximum = 0.0
    for nb in result.get("notebooks") or ():
        for g in nb.get("grades") or ():
            try:
                top = max(0.0, float(g.get("max_score") or 0))
                value = float(g.get("auto_score") or 0)
            except (TypeError, ValueError):
                continue
            maximum += top
            score += 0.0 if math.isnan(value) else min(max(value, 0.0), top)
    return score, maximum


def release_feedback(course, assignment, student, env=None):
    """为这一名学生生成并发布反馈（feedback.py：一个进程做 generate_feedback 和 release_feedback）。
    返回 (是否成功, 输出的结尾)。"""
    import subprocess

    from ..batch.parallel import nbgrader_env

    env = env or nbgrader_env()
    proc = subprocess.run([sys.executable, "-m", "course.grading.service.feedback", assignment, student], cwd=course,
                          env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
    return proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]


def publish_feedback(course, feedback_root, assignment, student, files, groupshared=False, env=None):
    """工人生成的反馈（{相对路径: base64}：HTML、timestamp.txt、submission_secret.txt）放进
    feedback/<学号>/<作业>/（同 generate_feedback --force：先删掉旧的，文件 644，groupshared 时 664），
    再在课程文件夹里 fork 一个子进程运行 `nbgrader release_feedback 作业 --student 学号`（feedback.release，
    课程的 ReleaseFeedback）。返回 (是否成功, 输出的结尾)。"""
    import functools

    from ..batch.parallel import nbgrader_env
    from . import feedback, forkrun

    dest = os.path.join(feedback_root, student, assignment)
    _rmtree(dest)
    os.makedirs(dest)
    write_files(files, dest, RESULT_MAX_BYTES)
    for dirpath, _, names in os.walk(dest):
        if groupshared:
            os.chmod(dirpath, (os.stat(dirpath).st_mode | 0o2770) & 0o2777)
        for name in names:
            os.chmod(os.path.join(dirpath, name), 0o664 if groupshared else 0o644)
    code, log = forkrun.run(course, [], env or nbgrader_env(), 600,
                            entry=functools.partial(feedback.release, assignment, student))
    return code == 0, log[-4000:]


def over_limit_feedback(exchange_root, course_id, archive, pages):
    """pages：{notebook 名: HTML}。放在 archive（这次提交）的 submission_secret.txt 对应的反馈位置上。
    返回放好的文件数（提交里没有 submission_secret.txt 时是 0：学生本来就取不回反馈）。"""
    from nbgrader.utils import notebook_hash

    secret_path = os.path.join(archive, "submission_secret.txt")
    if not os.path.isfile(secret_path) or os.path.islink(secret_path):
        return 0
    with open(secret_path, encoding="utf-8") as f:
        secret = f.read(4096)
    folder = os.path.join(exchange_root, course_id, "feedback")
    os.makedirs(folder, exist_ok=True)
    n = 0
    for notebook, page in pages.items():
        name = notebook_hash(secret=secret, notebook_id=notebook)
        tmp = os.path.join(folder, name + "-tmp.html")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(page)
        os.chmod(tmp, 0o644)
        os.replace(tmp, os.path.join(folder, name + ".html"))
        n += 1
    return n
