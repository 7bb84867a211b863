"""评分任务的替身（测试 Celery 评分工人时代替 jobs.run_job）：记下谁在什么时候评了哪个任务，可以让它慢一点。

任务里的字段：id、value（结果里返回 value * 2）、sleep（评多久，秒）、log（一个文件夹：每次开始评时在里面
写一个 <id>.<进程号>.start 文件，评完写 .done，测试据此知道该杀哪个进程、每个任务被评了几次）。
"""
import os
import time


def echo(job, cache_dir):
    log = job.get("log")
    stamp = "%s.%d" % (job["id"], os.getpid())
    if log:
        with open(os.path.join(log, stamp + ".start"), "w") as f:
            f.write(str(time.time()))
    time.sleep(float(job.get("sleep", 0)))
    if job.get("fail"):
        raise ValueError("替身故意出错")
    if log:
        with open(os.path.join(log, stamp + ".done"), "w") as f:
            f.write(str(time.time()))
    return {"id": job["id"], "value": job.get("value", 0) * 2, "pid": os.getpid(), "cache": cache_dir}
