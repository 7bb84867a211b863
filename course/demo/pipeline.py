"""演示班级走一遍 nbgrader 的完整流程（python -m course grade-demo）。

一切都在一个新的文件夹 OUT（默认是课程文件夹里被 git 忽略的 demo-run/）里进行，课程自己的
gradebook.db、submitted/、exchange/ 一概不碰：

    OUT/course/            课程的工作副本：source/ 和 nbgrader_config.py（末尾加了几行演示用的设置），
                           以及 nbgrader 生成的 release/、exchange/（交换目录）、submitted/、autograded/、
                           feedback/、gradebook.db。它是一个普通的课程文件夹：演示之后可以在里面照常运行
                           nbgrader 的命令（成绩库放在 PostgreSQL 上时要设好 COURSE_DB_URL）
    OUT/students/<学号>/   每名学生的家目录：作业取到这里、在这里写、从这里提交，反馈也取回到这里
    OUT/logs/              每条 nbgrader 命令的完整输出
    OUT/grades.csv         nbgrader export 导出的成绩
    OUT/report/            中文报告 report.html（python -m course class-report 的报告，图内嵌）和它的 CSV

生成学生版、登记学生、自动评分、生成反馈、导出成绩是普通的 nbgrader 命令，在 OUT/course 里运行
（评分和反馈按学生分批并行，见 course.grading.batch.parallel）；发布、收作业、发反馈和学生的获取、提交、
取回反馈只是在交换目录里复制文件，用 nbgrader 自己的交换目录类在本进程里完成（见 course.demo.exchange）。
"""
import csv
import logging
import os
import shutil
import time

import nbformat

from ..grading.batch import autograde
from ..grading.batch.parallel import Task, batch_tasks, nbgrader_argv, nbgrader_env, run_tasks
from .exchange import Exchange
from .notebooks import DemoError
from .students import build_submission, lesson_key, roster

__all__ = ["Pipeline", "read_scores", "MARKER", "DemoError"]

MARKER = ".course-demo-run"  # 说明这个文件夹是演示生成的，下次可以整个删掉重建
COURSE_ID = "backprop-zh"
STEPS = 10
DEMO_CONFIG = """
# --- 演示班级（python -m course grade-demo）加的设置 ---
# 有一名学生写了死循环：每个单元最多运行 {timeout} 秒（课程里最慢的单元不到 20 秒）
c.Execute.timeout = {timeout}
"""


def read_scores(db_url, course_id=COURSE_ID):
    """{作业: {"max": 满分, "cells": [(grade_id, 分值)], "scores": {学号: 总分}, "cell_scores": {学号: {grade_id: 分}}}}"""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(db_url, course_id) as gb:
        for a in gb.assignments:
            cells = [(c.name, c.max_score) for nb in a.notebooks for c in nb.grade_cells]
            entry = {"max": a.max_score, "cells": cells, "scores": {}, "cell_scores": {}}
            for sub in a.submissions:
                entry["scores"][sub.student.id] = sub.score
                entry["cell_scores"][sub.student.id] = {g.name: g.score for nb in sub.notebooks for g in nb.grades}
            out[a.name] = entry
    return out


class Pipeline:
    def __init__(self, course_root, out, students=None, jobs=2, db_url=None, timeout=60, assignments=None,
                 echo=print):
        self.root = os.path.abspath(course_root)
        self.out = os.path.abspath(out)
        self.roster = roster(students)
        self.jobs = jobs
        self.timeout = timeout
        self.echo = echo
        self.work = os.path.join(self.out, "course")
        self.exchange = os.path.join(self.work, "exchange")
        self.logs = os.path.join(self.out, "logs")
        self.db_url = db_url or "sqlite:///" + os.path.join(self.work, "gradebook.db")
        self.env = nbgrader_env({"COURSE_DB_URL": self.db_url, "COURSE_EXCHANGE_DIR": self.exchange})
        self.assignments = self._assignments(assignments)
        self.steps, self.failures, self.problems = [], [], []
        self.submitted = {}  # {作业: {学号}}
        self.feedback = {}  # {学号: 取回的反馈文件数}

    # ------------------------------------------------------------ 准备
    def _assignments(self, wanted):
        source = os.path.join(self.root, "source")
        if not os.path.isfile(os.path.join(self.root, "nbgrader_config.py")) or not os.path.isdir(source):
            raise DemoError("%s 不是课程文件夹（要有 nbgrader_config.py 和 source/）：用 --course 指定" % self.root)
        found = sorted(d for d in os.listdir(source) if os.path.isdir(os.path.join(source, d)) and d[:1].isdigit())
        if wanted is None:
            return found
        chosen = []
        for w in wanted:
            match = [a for a in found if a == w or lesson_key(a) == w]
            if not match:
                raise DemoError("课程里没有作业 %r（有的是 %s）" % (w, "、".join(found)))
            chosen += [m for m in match if m not in chosen]
        return sorted(chosen)

    def _prepare(self):
        if self.out == self.root or self.root.startswith(self.out.rstrip(os.sep) + os.sep):
            raise DemoError("输出文件夹 %s 不能是课程文件夹或它的上级" % self.out)
        if not self.db_url.startswith("sqlite:///"):
            self._require_empty_database()
        if os.path.exists(self.out):
            if os.path.isfile(os.path.join(self.out, MARKER)):
                shutil.rmtree(self.out)
            elif not os.path.isdir(self.out) or os.listdir(self.out):
                raise DemoError("%s 已经存在，而且不是上一次演示留下的：换一个 --out，或者先把它移走" % self.out)
        os.makedirs(self.work)
        open(os.path.join(self.out, MARKER), "w").close()
        for a in self.assignments:
            shutil.copytree(os.path.join(self.root, "source", a), os.path.join(self.work, "source", a),
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        with open(os.path.join(self.root, "nbgrader_config.py"), encoding="utf-8") as f:
            config = f.read()
        with open(os.path.join(self.work, "nbgrader_config.py"), "w", encoding="utf-8") as f:
            f.write(config.rstrip("\n") + "\n" + DEMO_CONFIG.format(timeout=self.timeout))
        os.makedirs(self.exchange)  # nbgrader 要求交换目录事先存在
        with open(os.path.join(self.out, "roster.csv"), "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["id", "last_name", "first_name", "email"])
            for sid, p in self.roster:
                writer.writerow([sid, p.name[0], p.name[1:], "%s@example.edu" % sid])

    def _require_empty_database(self):
        from sqlalchemy import create_engine, inspect, text

        engine = create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                if "assignment" in inspect(conn).get_table_names():
                    if conn.execute(text("SELECT COUNT(*) FROM assignment")).scalar():
                        raise DemoError("成绩库 %s 里已经有作业了：演示要用一个空的数据库" % engine.url.render_as_string())
        finally:
            engine.dispose()

    # ------------------------------------------------------------ 工具
    def _step(self, title, fn):
        number = len(self.steps) + 1
        self.echo("[%d/%d] %s" % (number, STEPS, title))
        start = time.perf_counter()
        fn()
        seconds = time.perf_counter() - start
        self.steps.append((title, seconds))
        self.echo("       （%.1f 秒）" % seconds)

    def _run(self, step, tasks, jobs=None, first_alone=False, on_done=None):
        def done(res):
            if res.returncode != 0:
                self.failures.append(res)
                self.echo("   ✗ %s 失败（退出码 %d），日志：%s" % (res.task.label, res.returncode, res.log_path))
            if on_done:
                on_done(res)
            elif res.returncode == 0:
                self.echo("   ✓ %s（%.1f 秒）" % (res.task.label, res.seconds))

        return run_tasks(tasks, cwd=self.work, env=self.env, jobs=jobs or self.jobs,
                         log_dir=os.path.join(self.logs, step), first_alone=first_alone, on_done=done)

    def _exchange(self):
        """交换目录的操作（nbgrader 的日志写进 logs/exchange.log）。"""
        if getattr(self, "_xchg", None) is None:
            log = logging.getLogger("course.demo.exchange.%d" % id(self))
            os.makedirs(self.logs, exist_ok=True)
            handler = logging.FileHandler(os.path.join(self.logs, "exchange.log"), encoding="utf-8")
            handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
            log.handlers[:] = [handler]
            log.setLevel(logging.INFO)
            log.propagate = False
            self._xchg = Exchange(self.work, {"COURSE_DB_URL": self.db_url, "COURSE_EXCHANGE_DIR": self.exchange}, log)
        return self._xchg

    def _home(self, sid):
        return os.path.join(self.out, "students", sid)

    def _each_assignment(self, what, fn):
        for a in self.assignments:
            start = time.perf_counter()
            fn(a)
            self.echo("   ✓ %s %s（%.1f 秒）" % (what, a, time.perf_counter() - start))

    # ------------------------------------------------------------ 各步
    def _register(self):
        self._run("roster", [Task("db student import", nbgrader_argv("db", "student", "import",
                                                                      os.path.join(self.out, "roster.csv")))])

    def _generate(self):
        self._run("generate", [Task("generate_assignment \"*\"（%d 份作业）" % len(self.assignments),
                                    nbgrader_argv("generate_assignment", "*"))])

    def _release(self):
        self._each_assignment("release_assignment", self._exchange().release_assignment)

    def _students_submit(self):
        xchg = self._exchange()
        source = {a: nbformat.read(self._source_nb(a), as_version=4) for a in self.assignments}
        for i, (sid, persona) in enumerate(self.roster, 1):
            done = []
            for a in self.assignments:
                work = persona.plan.get(lesson_key(a))
                if work is None:
                    continue
                (path,) = xchg.fetch(sid, self._home(sid), a)
                sub = build_submission(work, a, nbformat.read(path, as_version=4), source[a], os.path.basename(path))
                os.remove(path)
                with open(os.path.join(os.path.dirname(path), sub.filename), "w", encoding="utf-8") as f:
                    f.write(sub.text)
                xchg.submit(sid, self._home(sid), a)
                self.submitted.setdefault(a, set()).add(sid)
                done.append(lesson_key(a))
            self.echo("   [%2d/%d] %-16s %s：%s" % (i, len(self.roster), sid, persona.name,
                                                  "交了 " + " ".join(done) if done else "什么都没交"))

    def _source_nb(self, a):
        folder = os.path.join(self.work, "source", a)
        names = sorted(n for n in os.listdir(folder) if n.endswith(".ipynb"))
        if len(names) != 1:
            raise DemoError("作业 %s 应当正好有一个 notebook，现在是 %s" % (a, names))
        return os.path.join(folder, names[0])

    def _collect(self):
        # 演示里所有学生都是同一个 unix 用户，不必核对提交文件的属主（--ExchangeCollect.check_owner=False）
        self._each_assignment("collect", lambda a: self._exchange().collect(a, check_owner=False))

    def _autograde(self):
        """和教师一样用 python -m course autograde 的代码（course.grading.batch.autograde）评全部作业。"""
        names = dict((sid, p.name) for sid, p in self.roster)
        if not any(self.submitted.values()):
            self.echo("   没有人交作业，不用评分")
            return
        try:
            plan = autograde.make_plan(self.work, list(self.assignments), self.jobs, db_url=self.db_url,
                                       course_id=COURSE_ID)
        except autograde.UsageError as exc:
            raise DemoError(str(exc)) from None
        counter = {"done": 0}

        def done(res, bad):
            if res.returncode != 0:
                self.failures.append(res)
                self.echo("   ✗ %s 失败（退出码 %d），日志：%s" % (res.task.label, res.returncode, res.log_path))
            scores = read_scores(self.db_url)
            for sid in res.task.students:
                counter["done"] += 1
                parts = []
                for a in self.assignments:
                    entry = scores.get(a, {})
                    if sid in entry.get("scores", {}) and (sid, a) not in bad:
                        parts.append("%s %g/%g" % (lesson_key(a), entry["scores"][sid], entry["max"]))
                self.echo("   [%2d/%d] %-16s %s  %s" % (counter["done"], len(plan.submitted), sid, names.get(sid, ""),
                                                      "  ".join(parts) or "（没有分数）"))
            self.echo("          这一批 %d 人用了 %.1f 秒" % (len(res.task.students), res.seconds))

        self.echo("   %d 名学生分成 %d 批，%d 个进程同时评分" % (len(plan.submitted), len(plan.tasks), self.jobs))
        outcome = autograde.grade(plan, self.jobs, env=self.env, log_dir=os.path.join(self.logs, "autograde"),
                                  on_batch=done)
        self.problems = outcome.problems
        if self.problems:
            for p in self.problems:
                self.echo("   ✗ 成绩库不一致：%s" % p)
        else:
            self.echo("   成绩库一致：每份提交、每个 notebook、每个测试单元都有自动评分")

    def _feedback(self):
        # 生成一份反馈只要零点几秒：每个进程一批就够了（班级很大时每批仍至多 8 人）
        self._run("feedback", batch_tasks(self.work, "generate_feedback", self.jobs, folder="autograded", per_job=1))
        self._each_assignment("release_feedback", self._exchange().release_feedback)
        xchg = self._exchange()
        for sid, _ in self.roster:
            got = [f for a in self.assignments if sid in self.submitted.get(a, ())
                   for f in xchg.fetch_feedback(sid, self._home(sid), a)]
            self.feedback[sid] = len(got)
        self.echo("   %d 名学生取回了 %d 份反馈" % (sum(1 for n in self.feedback.values() if n), sum(self.feedback.values())))

    def _export(self):
        self._run("export", [Task("export", nbgrader_argv("export", "--to", os.path.join(self.out, "grades.csv")))])

    def _report(self):
        from .report import write_report

        paths = write_report(self)
        self.echo("   %s（python -m course class-report 的报告，加上演示班级的几节）" % paths["html"])
        self.echo("   CSV：%s" % "、".join(os.path.basename(c) for c in paths["csv"]))

    # ------------------------------------------------------------ 全部
    def prepare_class(self):
        """前六步：到收齐作业为止（评分之前的状态，基准测试从这里开始）。"""
        n = len(self.roster)
        self.started = time.perf_counter()
        self._step("准备工作副本 %s（%d 份作业，%d 名学生）" % (self.work, len(self.assignments), n), self._prepare)
        self._step("登记学生名单：nbgrader db student import", self._register)
        self._step("生成学生版：nbgrader generate_assignment \"*\"（一条命令生成全部作业）", self._generate)
        self._step("发布到交换目录：release_assignment", self._release)
        self._step("学生获取作业、写作业、提交（交换目录）", self._students_submit)
        self._step("收作业：collect", self._collect)
        return not self.failures

    def run(self):
        """走完整个流程。返回 True 表示每一步都成功、成绩库一致。"""
        self.prepare_class()
        self._step("自动评分：nbgrader autograde（按学生分批并行）", self._autograde)
        self._step("生成并发布反馈：nbgrader generate_feedback（按学生分批并行）、release_feedback，学生取回反馈",
                   self._feedback)
        self._step("导出成绩：nbgrader export → grades.csv", self._export)
        self._step("写报告", self._report)
        self.seconds = time.perf_counter() - self.started
        ok = not self.failures and not self.problems
        self.echo("%s，共用 %.0f 秒。报告：%s" % ("完成" if ok else "完成，但有问题（见上面的 ✗）", self.seconds,
                                          os.path.join(self.out, "report", "report.html")))
        return ok
