"""几个 nbgrader 进程同时写同一个 sqlite 成绩库时的保护，以及事后的一致性检查。

sqlite 同一时刻只允许一个写者。Python 的 sqlite3 默认只在第一条写语句之前才发 BEGIN，
于是两个进程可能都先读（拿到共享锁）、再同时想升级成写锁：这是死锁，sqlite 不等待，直接报
“database is locked”，nbgrader 就让这名学生的这份作业评分失败；没有死锁时也只等 5 秒。

install() 给本进程里（nbgrader 每次打开成绩库都新建一个 SQLAlchemy engine）的每个 sqlite 连接：
- PRAGMA busy_timeout：拿不到锁时最多等 busy_timeout_ms 毫秒；
- 每个事务都以 BEGIN IMMEDIATE 开始：一开始就拿写锁，事务之间完全串行，不会出现上面的死锁。
nbgrader 的事务都很短（打开成绩库、写一份提交或几个分数、提交），执行学生代码时不持有事务，
所以各进程很少需要等待。PostgreSQL 等数据库服务器自己处理并发，这里什么都不做。

consistency_problems() 在并行评分之后检查成绩库：sqlite 的 integrity_check 和外键，
以及每份该有的提交都在、每个 notebook 都在、每个测试单元都有自动评分。
"""
import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import Engine

__all__ = ["install", "consistency_problems", "BUSY_TIMEOUT_MS"]

BUSY_TIMEOUT_MS = 120_000
_state = {"installed": False, "timeout": BUSY_TIMEOUT_MS}


def _on_connect(dbapi_connection, _record):
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    dbapi_connection.isolation_level = None  # sqlite3 不再自己发 BEGIN，由下面的 _on_begin 发
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout = %d" % _state["timeout"])
    cursor.close()


def _on_begin(connection):
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def install(busy_timeout_ms=BUSY_TIMEOUT_MS):
    """对本进程之后创建的所有 sqlite 连接生效（可以重复调用）。"""
    if not isinstance(busy_timeout_ms, int) or isinstance(busy_timeout_ms, bool) or busy_timeout_ms < 0:
        raise ValueError("busy_timeout_ms 应当是非负整数（毫秒），收到的是 %r" % (busy_timeout_ms,))
    _state["timeout"] = busy_timeout_ms
    if not _state["installed"]:
        event.listen(Engine, "connect", _on_connect)
        event.listen(Engine, "begin", _on_begin)
        _state["installed"] = True


def consistency_problems(db_url, course_id, expected):
    """expected：{作业: 应有提交的学号集合}。返回发现的问题（中文，每条一句）；空列表表示一致。"""
    from nbgrader.api import Gradebook, MissingEntry

    problems = []
    if db_url.startswith("sqlite:///"):
        con = sqlite3.connect(db_url[len("sqlite:///"):], timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            check = con.execute("PRAGMA integrity_check").fetchall()
            if check != [("ok",)]:
                problems.append("sqlite integrity_check：%s" % check[:5])
            bad_keys = con.execute("PRAGMA foreign_key_check").fetchall()
            if bad_keys:
                problems.append("有 %d 行的外键指向不存在的记录：%s" % (len(bad_keys), bad_keys[:5]))
        finally:
            con.close()
    with Gradebook(db_url, course_id) as gb:
        for assignment, students in sorted(expected.items()):
            try:
                rec = gb.find_assignment(assignment)
            except MissingEntry:
                problems.append("成绩库里没有作业 %s" % assignment)
                continue
            notebooks = {nb.name: len(nb.grade_cells) for nb in rec.notebooks}
            got = {s.student.id: s for s in rec.submissions}
            for sid in sorted(set(students) - set(got)):
                problems.append("%s 的 %s 没有评分记录" % (sid, assignment))
            for sid in sorted(set(got) - set(students)):
                problems.append("%s 的 %s 有评分记录，但不该有" % (sid, assignment))
            for sid, sub in got.items():
                have = {nb.name: nb for nb in sub.notebooks}
                if set(have) != set(notebooks):
                    problems.append("%s 的 %s：notebook 是 %s，应为 %s" % (sid, assignment, sorted(have),
                                                                        sorted(notebooks)))
                for name, nb in have.items():
                    graded = [g for g in nb.grades if g.auto_score is not None or g.cell.cell_type != "code"]
                    if len(nb.grades) != notebooks.get(name) or len(graded) != len(nb.grades):
                        problems.append("%s 的 %s/%s：%d 个测试单元里只有 %d 个有自动评分"
                                        % (sid, assignment, name, notebooks.get(name, 0), len(graded)))
    return problems
