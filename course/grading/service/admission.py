"""收提交时的把关（评分服务，issue 25 的红队）：交换目录 inbound/ 对所有学生可写，文件夹名和 timestamp.txt 都由
学生自己写，所以服务不照单全收：

- 属主（c.GradeService.check_owner，默认开）：inbound/<学号>+… 文件夹的属主必须就是这名学生（unix 账户名等于
  学号），或者是服务自己的账户。后者是单账户的部署（比如本机测试用的 Hub：所有用户共用一个 unix 账户）：
  那里属主分不出是谁交的，任何学生都能以别人的名义交，这种部署只适合试用；
- 名单（c.GradeService.known_students_only，默认开）：只收成绩库里已有的学生（教师用
  `nbgrader db student import 名单.csv` 导入，或者 Hub 启动服务时用 --add-students 同步学生组）。编出来的学号
  不收：不然换个学号就多出一份评分次数，隐藏测试成了可以反复试探的神谕；
- 提交时间：先后按 min(学生写的时间, 服务发现它的时间) 排，写成 2099 年的提交不会永远是“最新”的；
- 公平派发：排队的任务按学生轮流派发（最久没轮到的学生先），一名学生一下交一百份，别人也不用等他评完。

不收的提交原样留在 inbound/（服务从不删它），grade-status 里记一条“不收”和中文原因，不占任何人的评分次数。
"""
import os
import pwd

__all__ = ["owner_problem", "known_students", "register_students", "order_for", "fair_order"]


def owner_problem(path, student, own_uid=None):
    """inbound 里的文件夹 path 能不能算 student 的：能时 None，不能时中文原因。"""
    own_uid = os.geteuid() if own_uid is None else own_uid
    try:
        uid = os.lstat(path).st_uid
    except OSError as exc:
        return "看不到文件夹的属主（%s）" % exc
    if uid == own_uid:
        return None  # 单账户部署：分不出学生，照收（见模块说明）
    try:
        owner = pwd.getpwuid(uid).pw_name
    except KeyError:
        owner = "uid %d" % uid
    if owner == student:
        return None
    return "文件夹的属主是 %s，不是 %s：不能以别人的名义交作业" % (owner, student)


def known_students(db_url, course_id):
    """成绩库里的学号（集合）。"""
    from nbgrader.api import Gradebook

    with Gradebook(db_url, course_id) as gb:
        return {s.id for s in gb.students}


def register_students(db_url, course_id, names, safe):
    """把 names 里的学号登记进成绩库（同 nbgrader db student add；已有的不变）。safe(学号) 为假的跳过。
    返回 (新登记的, 跳过的)。"""
    from nbgrader.api import Gradebook

    added, skipped = [], []
    with Gradebook(db_url, course_id) as gb:
        have = {s.id for s in gb.students}
        for name in names:
            if not safe(name):
                skipped.append(name)
            elif name not in have:
                gb.add_student(name)
                have.add(name)
                added.append(name)
    return added, skipped


def order_for(stamp_text, discovered):
    """这份提交排先后用的时刻：学生写的时间和服务发现它的时间里早的那个（写不对的时间当没写）。"""
    from nbgrader.utils import parse_utc

    try:
        stamp = parse_utc(stamp_text).timestamp() if stamp_text else discovered
    except (ValueError, OverflowError, TypeError):
        stamp = discovered
    return min(stamp, discovered)


def fair_order(rows, last_dispatch):
    """rows：待派发的任务记录。按学生轮流排：每轮每名学生一份（各自按发现的先后），学生之间
    最久没派发过的在前（last_dispatch：{学号: 上次派发的序号}，没有的最先）。"""
    per = {}
    for row in sorted(rows, key=lambda r: (r["discovered"], r["id"])):
        per.setdefault(row["student"], []).append(row)
    students = sorted(per, key=lambda s: (last_dispatch.get(s, -1), per[s][0]["discovered"], s))
    out, depth = [], 0
    while len(out) < len(rows):
        out += [per[s][depth] for s in students if depth < len(per[s])]
        depth += 1
    return out
