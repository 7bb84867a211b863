"""评分服务怎样把任务交给工人：Transport 的约定（本地进程和 Celery 各实现一份）。

任务（job）和结果都是纯数据（能 JSON 序列化的 dict），不带文件句柄、不带对象：工人不需要和服务共享文件系统，
也从不碰成绩库（只有服务写成绩库）。工人一端只做一件事：

    course.grading.service.jobs.run_job(job, cache_dir) -> result

服务一端通过 Transport 送出任务、收回结果：

    submit(job)              送出一个任务；job["id"] 在整个课程里唯一（同一份提交永远是同一个 id）
    poll(timeout) -> list    等至多 timeout 秒，返回这段时间里结束的 [(job_id, outcome)]；
                             outcome 是 {"ok": True, "result": {...}} 或 {"ok": False, "error": "中文说明"}
    pending() -> int         送出了、还没有收回结果的任务数
    close()                  停下工人（本地进程）或断开连接（Celery）

同一个 job_id 的结果可能收到两次（工人死在确认之前，任务被重新派发）：服务按 job_id 只记一次。
"""

__all__ = ["Transport"]


class Transport:
    """两种实现的共同接口（本地进程：local.py；Celery：celery_app.py）。"""

    def submit(self, job):
        raise NotImplementedError

    def poll(self, timeout):
        raise NotImplementedError

    def pending(self):
        raise NotImplementedError

    def close(self):
        raise NotImplementedError
