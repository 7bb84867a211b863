"""几个 nbgrader 命令同时运行：自动评分和生成反馈按学生分批，每批一个普通的 nbgrader 进程。

一批学生的评分命令是

    nbgrader autograde "*" --CourseDirectory.student_id_exclude=<不在这一批的学生>

（只有一名学生时是 --student 学号）。同一名学生的所有作业都在同一个进程里评，每个进程的启动
开销（导入 nbgrader 要三四秒）分摊到一批学生上；J 个进程同时运行，每个进程同一时刻只运行一个内核。
分批时先估计每名学生的工作量（交了几份 notebook），从多到少依次放进当前最轻的一批；
一般分成进程数三倍的批数（最后一批结束时，其余进程不会空等太久），班级很小时少分几批（每批至少
四份 notebook，省下进程的启动时间），每批至多 8 人。

这些进程都经由 course.grading.batch.nbgrader_cli 启动，它就是 nbgrader，只是 sqlite 成绩库上的事务
都先拿写锁（见 dbsafe.py），几个进程同时写成绩库也不会出错。
"""
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

__all__ = ["Task", "Result", "nbgrader_argv", "nbgrader_env", "run_tasks", "plan_batches", "batch_args",
           "student_folders", "batch_tasks", "default_jobs"]


@dataclass
class Task:
    label: str
    argv: list
    students: tuple = ()
    info: dict = field(default_factory=dict)


@dataclass
class Result:
    task: Task
    returncode: int
    seconds: float
    log_path: str

    def tail(self, n=4000):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""


def nbgrader_argv(*args, safe=True):
    """启动 nbgrader 的命令；safe=True 时经由 course.grading.batch.nbgrader_cli（sqlite 并行写保护）。"""
    return [sys.executable, "-m", "course.grading.batch.nbgrader_cli" if safe else "nbgrader"] + [str(a) for a in args]


def nbgrader_env(extra=None):
    """子进程的环境：同一个 Python 环境的 bin 放在 PATH 最前面，中文 locale。"""
    env = dict(os.environ, LANG="C.UTF-8", PYTHONUNBUFFERED="1")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(extra or {})
    return env


def _slug(text):
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)[:80]


def run_tasks(tasks, *, cwd, env, jobs, log_dir, first_alone=False, on_done=None):
    """用 jobs 个线程运行 tasks（每个一个子进程），每完成一个调用 on_done(result)。返回全部结果。

    first_alone：先单独运行第一个任务（它会建好交换目录之类的共用文件夹，nbgrader 建它们时
    不处理“别的进程刚好也在建”的情况），其余再并行。
    """
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError("并行进程数应当是正整数，收到的是 %r" % (jobs,))
    os.makedirs(log_dir, exist_ok=True)

    def run(task):
        log_path = os.path.join(log_dir, _slug(task.label) + ".log")
        start = time.perf_counter()
        with open(log_path, "w", encoding="utf-8") as log:
            log.write("$ %s\n\n" % " ".join(task.argv))
            log.flush()
            proc = subprocess.run(task.argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        return Result(task, proc.returncode, time.perf_counter() - start, log_path)

    results, queue = [], list(tasks)
    if first_alone and queue:
        results.append(run(queue.pop(0)))
        if on_done:
            on_done(results[-1])
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run, t) for t in queue]
        for fut in as_completed(futures):
            results.append(fut.result())
            if on_done:
                on_done(results[-1])
    return results


def plan_batches(costs, jobs, per_job=3, max_size=8, min_cost=4):
    """costs：{学号: 工作量}。返回若干批学号（每批按学号排序），工作量尽量均匀。

    一般分成 jobs * per_job 批：最后一批结束时别的进程不会空等太久；但每批的工作量至少是 min_cost
    （一个进程启动要三四秒，差不多是评一份 notebook 的时间），批数也不少于 jobs；
    每批至多 max_size 人，进度不会隔太久才更新一次。
    """
    if not costs:
        return []
    total = sum(max(c, 0.1) for c in costs.values())
    wanted = min(jobs * per_job, max(jobs, int(-(-total // min_cost))))
    n_batches = min(len(costs), max(1, wanted, -(-len(costs) // max_size)))
    loads = [[0.0, []] for _ in range(n_batches)]
    for sid in sorted(costs, key=lambda s: (-costs[s], s)):
        lightest = min((b for b in loads if len(b[1]) < max_size), key=lambda b: (b[0], len(b[1])))
        lightest[0] += max(costs[sid], 0.1)
        lightest[1].append(sid)
    return [sorted(b[1]) for b in loads if b[1]]


def batch_args(batch, everyone):
    """让一条 nbgrader 命令只处理 batch 里的学生（everyone 是文件夹里的全部学生）。"""
    batch = list(batch)
    if len(batch) == 1:
        return ["--student", batch[0]]
    others = sorted(set(everyone) - set(batch))
    return ["--CourseDirectory.student_id_exclude=" + ",".join(others)] if others else []


def student_folders(folder):
    """folder（submitted/、autograded/）下的学生文件夹名（不含以点开头的）。"""
    if not os.path.isdir(folder):
        return []
    return sorted(d for d in os.listdir(folder) if not d.startswith(".") and os.path.isdir(os.path.join(folder, d)))


def batch_tasks(course, command, jobs, folder="submitted", **plan):
    """course/folder 下全部学生分批、每批一条 `nbgrader command "*" …` 的任务（plan 传给 plan_batches）。"""
    root = os.path.join(course, folder)
    everyone = student_folders(root)
    costs = {s: len(student_folders(os.path.join(root, s))) for s in everyone}
    return [Task("%s %s" % (command, ",".join(b)), nbgrader_argv(command, "*", *batch_args(b, everyone)),
                 students=tuple(b)) for b in plan_batches(costs, jobs, **plan)]


def default_jobs():
    """默认的并行进程数：CPU 核数（至少 1）。"""
    return max(1, os.cpu_count() or 1)
