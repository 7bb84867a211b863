"""基准测试：交上来就评分（python -m course grade-service）。所有数字出自同一次运行、同样的 notebook：

    python -m course.bench.grade_service                     默认 4 名演示学生、第 01 课
    python -m course.bench.grade_service --students 8 --assignments 01-graph-chain-rule 05-backprop-network
    python -m course.bench.grade_service --quick             最小的规模（冒烟测试用）：2 名学生、1 课

1. 演示班级（course.demo）走到收齐作业为止：每名学生每课一份提交；
2. 每份 notebook 的评分用时（总用时 ÷ notebook 数），同样的提交：
   原版 nbgrader：nbgrader 的默认配置，每份作业一条 `nbgrader autograde`；
   今天的批量评分：`python -m course autograde all --jobs J`；
   评分服务：`grade-service --once`，本机 1 个工人、2 个工人（评分、写成绩库、生成并发布反馈都算在内，也含服务
   自己启动、起工人的几秒）；
   一直运行的评分服务：工人已经起好，全班一齐经交换目录提交两次（第二次时工人已经评过这份作业、准备好了作业包），
   第二次从第一份提交到最后一份反馈发布的秒数（1 个、2 个工人）；
   有 redis-server 和 celery 时再加一行：经由 Redis 的 Celery，一个 `grade-worker --concurrency 2`；
   核对评分服务的成绩和 `python -m course autograde` 的逐个测试单元相同；
3. 延迟：评分服务一直运行（本机 2 个工人），学生一个接一个用 nbgrader 的交换目录提交（间隔 --gap 秒），
   从提交到反馈发布（学生点 Fetch Feedback 就能取到）的秒数，p50 / p95。

目标只打印，不作为测试的断言，都按一直运行的服务算：每份 notebook 的评分用时 ≤ 0.5 × 原版；延迟 p95 ≤ 10 秒；
两个工人的吞吐量 ≥ 1.6 × 一个工人（核数够时）；200 名学生 × 6 课 ≤ 8 分钟（按 2 个工人的用时推算）。
"""
import contextlib
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

from ..demo.exchange import temporary_environ
from ..tools.procs import stop_group

__all__ = ["main", "build_parser", "percentile", "speedup_ceiling", "TARGETS"]

TARGETS = {"cost/stock": 0.5, "p95": 10.0, "2/1": 1.6, "class-minutes": 8.0}
DEFAULT_LESSON = "01-graph-chain-rule"


def build_parser():
    from ..tools.cliargs import Parser, positive_int

    p = Parser(prog="python -m course.bench.grade_service",
               description="交上来就评分：每份 notebook 的评分用时（对比原版 nbgrader 和 python -m course autograde）、"
                           "提交到反馈发布的延迟、1 个和 2 个工人的吞吐量")
    p.add_argument("--students", type=positive_int, default=4, help="演示学生人数（默认 %(default)s）")
    p.add_argument("--assignments", nargs="+", metavar="作业", default=[DEFAULT_LESSON],
                   help="用哪几课（默认 %s；all 表示 source/ 里的每一课：200 × 6 的推算要用它）" % DEFAULT_LESSON)
    p.add_argument("--gap", type=float, default=3.0, help="测延迟时两名学生提交的间隔秒数（默认 %(default)s）")
    p.add_argument("--timeout", type=positive_int, default=60, help="每个单元最多运行的秒数（默认 %(default)s）")
    p.add_argument("--course", default=".", help="课程根目录（默认当前文件夹）")
    p.add_argument("--out", default=None, help="工作文件夹（默认临时文件夹，结束后删除）")
    p.add_argument("--skip-celery", action="store_true", help="不测 Celery（没有 redis-server 时自动跳过）")
    p.add_argument("--quick", action="store_true", help="最小的规模：2 名学生、1 课、提交间隔 0 秒（冒烟测试）")
    return p


def percentile(values, q):
    """最近秩法的百分位数（q 在 0～100）；空列表返回 None。"""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def _course_env(folder):
    from ..grading.batch.parallel import nbgrader_env

    return nbgrader_env({"COURSE_DB_URL": "sqlite:///" + os.path.join(folder, "gradebook.db"),
                         "COURSE_EXCHANGE_DIR": os.path.join(folder, "exchange")})


def _fresh_copy(work, dest, keep_submitted=True):
    """课程工作副本的一份拷贝：交换目录里没有提交（inbound 清空），keep_submitted 时 submitted/ 照旧。"""
    shutil.copytree(work, dest, symlinks=True)
    from ..demo.pipeline import COURSE_ID

    inbound = os.path.join(dest, "exchange", COURSE_ID, "inbound")
    shutil.rmtree(inbound, ignore_errors=True)
    os.makedirs(inbound)
    os.chmod(inbound, 0o733)
    if not keep_submitted:
        shutil.rmtree(os.path.join(dest, "submitted"), ignore_errors=True)
    return dest


def _course_cli(folder, *args, log, popen=False):
    argv = [sys.executable, "-m", "course", *args]
    out = open(log, "a", encoding="utf-8")
    kwargs = dict(cwd=folder, env=_course_env(folder), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if popen:
        return subprocess.Popen(argv, start_new_session=True, **kwargs)
    with out:
        return subprocess.run(argv, **kwargs).returncode


def _state_rows(folder):
    path = os.path.join(folder, ".grade-service", "state.db")
    if not os.path.exists(path):
        return []
    db = sqlite3.connect(path, timeout=30)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM jobs")]
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


def _service_once(folder, assignments, log, *extra):
    """grade-service --once；返回 (秒, 评好并发布了反馈的份数)。"""
    args = ["grade-service", "--course", folder, "--once", *extra]
    for a in assignments:
        args += ["--assignment", a]
    start = time.perf_counter()
    _course_cli(folder, *args, log=log)
    seconds = time.perf_counter() - start
    return seconds, sum(1 for r in _state_rows(folder) if r["status"] == "done" and r["released"])


def _breakdown(folder):
    """服务的记录里每份提交的平均用时：(工人评分, 服务写成绩库并生成、发布反馈)；没有记录时 None。"""
    rows = [r for r in _state_rows(folder) if r["released"] and r["graded"] and r["seconds"] is not None]
    if not rows:
        return None
    return (sum(r["seconds"] for r in rows) / len(rows),
            sum(r["released"] - r["graded"] for r in rows) / len(rows))


def _key_file(folder):
    return os.path.join(folder, ".grade-key")


def _write_key(path):
    import secrets

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")


@contextlib.contextmanager
def _celery_worker(folder, concurrency, log):
    """临时的 redis-server 和一个 grade-worker；产出 broker 的地址。没有 Redis 或 Celery 时产出 None。"""
    binary = shutil.which("redis-server")
    try:
        import celery  # noqa: F401
        import redis as redis_py
    except ImportError:
        binary = None
    if binary is None:
        yield None
        return
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = tempfile.mkdtemp(prefix="bench-redis-")
    password = secrets.token_hex(16)  # 和真实部署一样：grade-service / grade-worker 不接受没有密码的 Redis
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp, "--save", "",
                               "--appendonly", "no", "--requirepass", password,
                               "--logfile", os.path.join(tmp, "redis.log")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = "redis://:%s@127.0.0.1:%d/0" % (password, port)
    worker = None
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                redis_py.Redis.from_url(url).ping()
                break
            except redis_py.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server 没有启动起来")
                time.sleep(0.1)
        _write_key(_key_file(folder))  # 服务和工人共有的签名密钥（权限 600）
        worker = _course_cli(folder, "grade-worker", "--broker", url, "--concurrency", str(concurrency),
                             "--cache", os.path.join(tmp, "cache"), "--key-file", _key_file(folder), log=log, popen=True)
        time.sleep(4.0)  # 工人导入 nbgrader、连上 Redis：不算在评分里
        yield url
    finally:
        for proc in (worker, server):
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL) if proc is worker else proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def busy_cpu_seconds():
    """整台机器开机以来忙的 CPU 秒数（所有核、所有进程，/proc/stat 里除去 idle、iowait，和虚拟机里被宿主机
    拿去给别的机器用的 steal：那不是这台机器的进程用掉的）；不是 Linux 时 None。"""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
        steal = ticks[7] if len(ticks) > 7 else 0
        return (sum(ticks[:8]) - ticks[3] - ticks[4] - steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def speedup_ceiling(cpu_one, seconds_one, cores):
    """1 个工人时整台机器忙着 cpu_one / seconds_one 个核（评分的同时下一份提交的内核在别的核上启动）：
    cores 个核最多能让吞吐量变成 1 个工人时的 cores ÷ 这个数倍。量不到 CPU 时 None。"""
    if not cpu_one or not seconds_one or cpu_one <= 0:
        return None
    return cores / (cpu_one / seconds_one)


def _latency(work, dest, students_home, assignments, gap, log, workers=2, settle=3.0, rounds=1):
    """服务一直运行（已经起好工人），学生一个接一个提交（gap 秒一个；0 是一齐交），一共 rounds 轮（每轮全班再交一次，
    等上一轮的反馈都发布了才开始）。只看最后一轮：返回 (每份提交到反馈发布的秒数列表, 没等到的份数,
    从第一份提交到最后一份反馈发布的秒数, 这一轮整台机器用掉的 CPU 秒数（不是 Linux 时 None）)。"""
    from ..demo.exchange import Exchange

    folder = _fresh_copy(work, dest, keep_submitted=False)
    env = _course_env(folder)
    exchange = Exchange(folder, env)
    args = ["grade-service", "--course", folder, "--workers", str(workers)]
    for a in assignments:
        args += ["--assignment", a]
    service = _course_cli(folder, *args, log=log, popen=True)
    submitted = {}  # (学号, 作业) -> 最后一轮提交的时刻

    def released():
        out = {}
        for r in _state_rows(folder):
            if r["released"]:
                out.setdefault((r["student"], r["assignment"]), []).append(r["released"])
        return out

    try:
        time.sleep(settle)  # 服务启动（导入 nbgrader、起工人进程）不算在学生的等待里
        homes = sorted(os.listdir(students_home))
        cpu = None
        for round_no in range(1, rounds + 1):
            if round_no > 1:
                time.sleep(1.1)  # 同一名学生两次提交的时间（文件夹名）要不同
            cpu = busy_cpu_seconds()
            with temporary_environ(env):
                for i, sid in enumerate(homes):
                    for a in assignments:
                        if os.path.isdir(exchange.folder(os.path.join(students_home, sid), a)):
                            submitted[(sid, a)] = time.time()
                            exchange.submit(sid, os.path.join(students_home, sid), a)
                    if gap and i + 1 < len(homes):
                        time.sleep(gap)
            deadline = time.monotonic() + 300 + 60 * len(submitted)
            while time.monotonic() < deadline:
                done = released()
                if all(len(done.get(k, ())) >= round_no for k in submitted) or service.poll() is not None:
                    break
                time.sleep(0.2)
        end = busy_cpu_seconds()
        cpu = end - cpu if cpu is not None and end is not None else None
    finally:
        stop_group(service, signal.SIGINT)
    done = {k: max(v) for k, v in released().items() if len(v) >= rounds}
    latencies = [done[k] - t for k, t in submitted.items() if k in done]
    span = max(done.values()) - min(submitted.values()) if done and submitted else None
    return latencies, len(submitted) - len(latencies), span, cpu


def _same_scores(folder, reference):
    from ..demo.pipeline import read_scores

    def cells(f):
        return {a: e["cell_scores"] for a, e in read_scores("sqlite:///" + os.path.join(f, "gradebook.db")).items()}

    return cells(folder) == cells(reference)


def main(argv=None):
    from ..demo.bench import _assignments, _copy, grade_parallel, grade_serial, stock_config
    from ..demo.pipeline import DemoError, Pipeline
    from ..grading.batch.parallel import student_folders

    args = build_parser().parse_args(argv)
    course = os.path.abspath(args.course)
    lessons = _assignments(course) if os.path.isdir(os.path.join(course, "source")) else []
    if args.assignments == ["all"]:
        args.assignments = lessons  # 没有 source/ 时 Pipeline 说明 --course 不是课程文件夹
    if args.quick:
        args.students, args.assignments, args.gap = 2, args.assignments[:1], 0.0
    tmp = None if args.out else tempfile.mkdtemp(prefix="course-bench-service-")
    out = os.path.abspath(args.out) if args.out else os.path.join(tmp, "bench")
    logs = os.path.join(out, "logs")
    quiet = []
    try:
        try:
            pipe = Pipeline(course, os.path.join(out, "class"), students=args.students, jobs=2, timeout=args.timeout,
                            assignments=args.assignments, echo=quiet.append)
        except DemoError as exc:  # 不是课程文件夹、没有这份作业
            print(exc, file=sys.stderr)
            return 2
        print("准备 %d 名演示学生的作业（%s，走到收齐作业为止）……" % (args.students, "、".join(args.assignments)),
              flush=True)
        if not pipe.prepare_class():
            print("\n".join(quiet), file=sys.stderr)
            return 1
        os.makedirs(logs, exist_ok=True)
        sub = os.path.join(pipe.work, "submitted")
        notebooks = sum(len([n for n in os.listdir(os.path.join(sub, s, a)) if n.endswith(".ipynb")])
                        for s in student_folders(sub) for a in student_folders(os.path.join(sub, s)))
        jobs = max(1, min(2, os.cpu_count() or 1))
        rows, ok = [], True

        def row(key, label, seconds, good=True):
            nonlocal ok
            ok &= bool(good)
            rows.append((key, label, seconds))
            print("  %-56s %7.1f 秒，每份 notebook %5.2f 秒%s" % (label, seconds, seconds / notebooks,
                                                          "" if good else "（有提交没评好，日志：%s）" % logs), flush=True)

        print("评分（%d 份 notebook）……" % notebooks, flush=True)
        seconds, _ = grade_serial(_copy(pipe.work, os.path.join(out, "stock"), stock_config(args.timeout)),
                                  os.path.join(logs, "stock"))
        row("stock", "原版 nbgrader autograde（默认配置，串行）", seconds)
        batch_dir = _copy(pipe.work, os.path.join(out, "batch"))
        seconds, good = grade_parallel(batch_dir, jobs, os.path.join(logs, "batch"))
        row("batch", "python -m course autograde all --jobs %d" % jobs, seconds, good)
        same, parts = {}, {}
        for workers in (1, 2):
            folder = _fresh_copy(pipe.work, os.path.join(out, "service-%d" % workers))
            seconds, done = _service_once(folder, args.assignments, os.path.join(logs, "service-%d.log" % workers),
                                          "--workers", str(workers))
            row("service-%d" % workers, "grade-service --once，本机 %d 个工人（含反馈）" % workers, seconds,
                done == notebooks_submissions(folder))
            same["本机 %d 个工人" % workers] = _same_scores(folder, batch_dir)
            parts["本机 %d 个工人" % workers] = _breakdown(folder)
        if not args.skip_celery:
            folder = _fresh_copy(pipe.work, os.path.join(out, "service-celery"))
            with _celery_worker(folder, 2, os.path.join(logs, "celery-worker.log")) as url:
                if url is None:
                    print("  （没有 redis-server 或 celery，跳过 Celery）", flush=True)
                else:
                    seconds, done = _service_once(folder, args.assignments, os.path.join(logs, "service-celery.log"),
                                                  "--broker", url, "--key-file", _key_file(folder))
                    row("celery", "grade-service --once --broker，Celery 工人 ×2（含反馈）", seconds,
                        done == notebooks_submissions(folder))
                    same["Celery"] = _same_scores(folder, batch_dir)
                    parts["Celery"] = _breakdown(folder)
        cpu = {}  # 工人数 -> 一直运行的服务评全班一轮时整台机器用掉的 CPU 秒数
        for workers in (1, 2):  # 服务一直在运行：启动和导入早已做完，工人评过这份作业，每份 notebook 的用时只剩评分本身
            _, missing, span, cpu[workers] = _latency(pipe.work, os.path.join(out, "warm-%d" % workers),
                                        os.path.join(pipe.out, "students"), args.assignments, 0.0,
                                        os.path.join(logs, "warm-%d.log" % workers), workers=workers, settle=6.0,
                                        rounds=2)
            row("warm-%d" % workers, "grade-service 一直运行，%d 个工人，全班第二次一齐提交（含反馈）" % workers,
                span or 0.0, span is not None and not missing)
            same["一直运行、%d 个工人" % workers] = _same_scores(os.path.join(out, "warm-%d" % workers), batch_dir)
        print("延迟：服务一直运行，%d 名学生每隔 %.0f 秒提交一次……" % (args.students, args.gap), flush=True)
        latencies, missing, _, _ = _latency(pipe.work, os.path.join(out, "latency"), os.path.join(pipe.out, "students"),
                                      args.assignments, args.gap, os.path.join(logs, "latency.log"))
        ok &= not missing

        t = {key: seconds for key, _, seconds in rows}
        print()
        print("交上来就评分：%d 名学生、%s、共 %d 份 notebook，%d 个 CPU 核" % (
            args.students, "、".join(args.assignments), notebooks, os.cpu_count() or 1))
        print("%10s %16s  %s" % ("总用时/秒", "每份 notebook/秒", ""))
        for _, label, seconds in rows:
            print("%10.1f %16.2f  %s" % (seconds, seconds / notebooks, label))
        for label, part in parts.items():
            if part:
                print("%10s %16s  服务里平均每份提交（%s）：工人评分 %.1f 秒，写成绩库、生成并发布反馈 %.1f 秒"
                      % ("", "", label, part[0], part[1]))
        print()
        # 目标按一直运行的服务算（工人早已导入好一切、预先启动了内核）；--once 的各行含服务自己启动的几秒，一并列出
        cost = t["warm-1"] / t["stock"]
        print("%-48s %5.2f ×   目标 ≤ %.1f ×%s" % ("每份 notebook 的评分用时：服务（1 个工人）/ 原版", cost,
                                               TARGETS["cost/stock"], "" if cost <= TARGETS["cost/stock"] else "（没达到）"))
        print("%-48s %5.2f ×" % ("每份 notebook 的评分用时：服务（1 个工人）/ python -m course autograde",
                                 t["warm-1"] / t["batch"]))
        print("%-48s %5.2f ×" % ("同上，含服务启动：grade-service --once（1 个工人）/ 原版", t["service-1"] / t["stock"]))
        speedup = t["warm-1"] / t["warm-2"]
        ceiling = speedup_ceiling(cpu.get(1), t["warm-1"], os.cpu_count() or 1)
        if speedup >= TARGETS["2/1"]:
            verdict = ""
        elif ceiling is not None and ceiling < TARGETS["2/1"]:
            verdict = "（没达到；这台机器核数不够：1 个工人已经占了 %.2f 个核，%d 个核最多 %.2f ×）" % (
                cpu[1] / t["warm-1"], os.cpu_count() or 1, ceiling)
        else:
            verdict = "（没达到）"
        print("%-48s %5.2f ×   目标 ≥ %.1f ×（核数够时）%s" % ("吞吐量：2 个工人 / 1 个工人", speedup, TARGETS["2/1"],
                                                         verdict))
        if cpu.get(1) and t["warm-1"]:
            # 1 个工人也不只占一个核（评分的同时，下一份提交的内核在另一个核上启动）；整台机器的数，别的进程也算在内
            print("%-48s %5.2f 个核 （每份 notebook 用掉 %.2f CPU 秒）" % (
                "1 个工人时整台机器平均忙着的核", cpu[1] / t["warm-1"], cpu[1] / notebooks))
        minutes = t["warm-2"] / notebooks * 1200 / 60
        subset = "" if set(args.assignments) >= set(lessons) else \
            "；只按 %s 推算，6 课各不相同：--assignments all 才是全班的数" % "、".join(args.assignments)
        print("%-48s %5.1f 分钟 目标 ≤ %.0f 分钟（按一直运行的服务、2 个工人每份的用时推算%s）%s" % (
            "200 名学生 × 6 课（1200 份 notebook）", minutes, TARGETS["class-minutes"], subset,
            "" if minutes <= TARGETS["class-minutes"] else "（没达到）"))
        if cpu.get(2):
            # 2 个核都忙满时每份 notebook 也至少要 CPU 秒 / 核数：推算全班用时的下限，说明吞吐量卡在哪里
            per = cpu[2] / notebooks
            cores = os.cpu_count() or 1
            print("%-48s %5.2f CPU 秒（整台机器：内核、评判进程、nbgrader、反馈和服务；%d 个核全忙时每份至少 %.2f 秒，"
                  "200 × 6 至少 %.1f 分钟）" % ("每份 notebook 用掉的 CPU（一直运行、2 个工人）", per, cores, per / cores,
                                            per / cores * 1200 / 60))
        p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
        if latencies:
            print("%-48s p50 %.1f 秒，p95 %.1f 秒   目标 p95 ≤ %.0f 秒%s" % (
                "延迟：提交 → 反馈发布（%d 份）" % len(latencies), p50, p95, TARGETS["p95"],
                "" if p95 <= TARGETS["p95"] else "（没达到）"))
        if missing:
            print("延迟：%d 份提交在时限内没有发布反馈（日志：%s）" % (missing, logs))
        for label, equal in same.items():
            print("成绩（%s）与 python -m course autograde：%s" % (label, "每个测试单元都相同" if equal else "不一样！"))
            ok &= equal
        return 0 if ok else 1
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def notebooks_submissions(folder):
    """submitted/ 里的提交份数（学生 × 作业）。"""
    from ..grading.batch.parallel import student_folders

    sub = os.path.join(folder, "submitted")
    return sum(len(student_folders(os.path.join(sub, s))) for s in student_folders(sub))


if __name__ == "__main__":
    sys.exit(main())
