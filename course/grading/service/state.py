"""评分服务自己的记录：课程文件夹下的 .grade-service/state.db（sqlite），每份提交一条。

一条记录就是一次提交（一个任务），id 由 (课程, 学号, 作业, 提交的时间或内容散列) 算出，同一份提交永远是
同一个 id：服务重启、再扫一遍交换目录，都不会再评一次。状态：

    queued      排队中（服务重启后重新派发）
    running     已经交给工人
    done        评好了、写进了成绩库（counted=0：同一名学生更新的提交已经先评好，这次的分数只留在记录里）
    failed      没评上（原因在 error 里；学生不扣次数）
    over-limit  超过了评分次数的限制：没有评分，提交留在 .grade-service/submissions/ 里，学生的反馈里有中文说明
    refused     不收（文件夹的属主不是这名学生、学号不在成绩库里……，原因在 error 里）：提交原样留在 inbound/，
                不评分、不占任何人的评分次数（admission.py）；每次查看交换目录都再看一遍，原因不在了就照常收下

applied 记着这条记录的结果是否已经写进课程（成绩库只写一次：同一个任务的结果收到两次时，第二次不写）。
"""
import os
import sqlite3
import time

__all__ = ["State", "STATE_DIR", "STATUSES", "COUNTS_AGAINST_LIMIT"]

STATE_DIR = ".grade-service"
STATUSES = ("queued", "running", "done", "failed", "over-limit", "refused")
COUNTS_AGAINST_LIMIT = ("queued", "running", "done")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, student TEXT NOT NULL, assignment TEXT NOT NULL, key TEXT NOT NULL,
    source TEXT NOT NULL, archive TEXT, order_ts REAL NOT NULL, discovered REAL NOT NULL,
    status TEXT NOT NULL, dispatches INTEGER NOT NULL DEFAULT 0, started REAL, graded REAL, released REAL,
    score REAL, max_score REAL, counted INTEGER NOT NULL DEFAULT 0, applied INTEGER NOT NULL DEFAULT 0,
    error TEXT, worker TEXT, seconds REAL
);
CREATE INDEX IF NOT EXISTS jobs_student ON jobs (student, assignment);
CREATE TABLE IF NOT EXISTS latest (
    student TEXT NOT NULL, assignment TEXT NOT NULL, job_id TEXT NOT NULL, order_ts REAL NOT NULL,
    PRIMARY KEY (student, assignment)
);
"""
COLUMNS = ("id", "student", "assignment", "key", "source", "archive", "order_ts", "discovered", "status",
           "dispatches", "started", "graded", "released", "score", "max_score", "counted", "applied", "error",
           "worker", "seconds")


class State:
    """path：state.db 的路径（文件夹不存在时建好）。"""

    def __init__(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)

    def close(self):
        self.db.close()

    def get(self, job_id):
        row = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return dict(row) if row else None

    def add(self, job_id, student, assignment, key, source, archive, order_ts, status="queued", error=None):
        now = time.time()
        self.db.execute("INSERT INTO jobs (id, student, assignment, key, source, archive, order_ts, discovered, "
                        "status, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (job_id, student, assignment, key, source, archive, order_ts, now, status, error))
        return self.get(job_id)

    def forget(self, job_id):
        """删掉一条“不收”的记录（只有它可以删：别的记录都关系到成绩和评分次数）。"""
        self.db.execute("DELETE FROM jobs WHERE id = ? AND status = 'refused'", (job_id,))

    def update(self, job_id, **fields):
        bad = set(fields) - set(COLUMNS)
        if bad:
            raise ValueError("没有这些列：%s" % sorted(bad))
        sets = ", ".join("%s = ?" % k for k in fields)
        self.db.execute("UPDATE jobs SET %s WHERE id = ?" % sets, (*fields.values(), job_id))

    def started(self, job_id, worker=None):
        self.db.execute("UPDATE jobs SET status = 'running', dispatches = dispatches + 1, "
                        "started = COALESCE(started, ?), worker = COALESCE(?, worker) WHERE id = ?",
                        (time.time(), worker, job_id))

    def jobs(self, status=None):
        if status is None:
            rows = self.db.execute("SELECT * FROM jobs ORDER BY discovered, id")
        else:
            rows = self.db.execute("SELECT * FROM jobs WHERE status = ? ORDER BY discovered, id", (status,))
        return [dict(r) for r in rows]

    def attempts_since(self, student, assignment, since):
        """这名学生这份作业从 since 起算评分次数的提交数（排队、评分中、评好了的；没评上、超出限制的不算）。"""
        marks = ",".join("?" * len(COUNTS_AGAINST_LIMIT))
        return self.db.execute("SELECT COUNT(*) FROM jobs WHERE student = ? AND assignment = ? AND discovered >= ? "
                               "AND status IN (%s)" % marks, (student, assignment, since, *COUNTS_AGAINST_LIMIT)
                               ).fetchone()[0]

    def count(self, student, assignment, status):
        """这名学生这份作业状态是 status 的记录数。"""
        return self.db.execute("SELECT COUNT(*) FROM jobs WHERE student = ? AND assignment = ? AND status = ?",
                               (student, assignment, status)).fetchone()[0]

    def latest(self, student, assignment):
        row = self.db.execute("SELECT job_id, order_ts FROM latest WHERE student = ? AND assignment = ?",
                              (student, assignment)).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def set_latest(self, student, assignment, job_id, order_ts):
        self.db.execute("INSERT INTO latest (student, assignment, job_id, order_ts) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (student, assignment) DO UPDATE SET job_id = excluded.job_id, "
                        "order_ts = excluded.order_ts", (student, assignment, job_id, order_ts))
