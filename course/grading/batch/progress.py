"""评分进度：已评好几名学生、失败几名、用了多久、估计还要多久。

在终端里是一行不断刷新的进度条；输出被重定向到文件或管道时（stdout 不是 tty），每有变化就打印一行普通文字，
日志里看得清楚，也不会塞满回车符。
"""
import sys
import time

__all__ = ["Progress", "clock"]


def clock(seconds):
    """秒数 -> “1:05:09” / “3:07” 这样的时长。"""
    seconds = int(round(max(seconds, 0)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return "%d:%02d:%02d" % (h, m, s) if h else "%d:%02d" % (m, s)


class Progress:
    """total：学生总数。update(done, failed) 每次调用都可以，只在有变化（或终端上每秒）时重画。"""

    def __init__(self, total, stream=None, width=28, tty=None):
        self.total = total
        self.stream = stream or sys.stdout
        self.width = width
        self.tty = self.stream.isatty() if tty is None else tty
        self.start = time.perf_counter()
        self.done = self.failed = -1
        self._drawn = 0.0

    def line(self, done, failed, now=None):
        elapsed = (now if now is not None else time.perf_counter()) - self.start
        if 0 < done < self.total:
            eta = "预计还要 %s" % clock(elapsed / done * (self.total - done))
        else:
            eta = "预计还要 —" if done < self.total else "完成"
        filled = int(self.width * done / self.total) if self.total else self.width
        bar = "█" * filled + "·" * (self.width - filled)
        return "[%s] %d/%d 名学生  失败 %d  已用 %s  %s" % (bar, done, self.total, failed, clock(elapsed), eta)

    def update(self, done, failed):
        changed = (done, failed) != (self.done, self.failed)
        now = time.perf_counter()
        if self.tty:
            if changed or now - self._drawn >= 1.0:
                self.stream.write("\r" + self.line(done, failed, now) + "\033[K")
                self.stream.flush()
                self._drawn = now
        elif changed:
            self.stream.write(self.line(done, failed, now) + "\n")
            self.stream.flush()
        self.done, self.failed = done, failed

    def finish(self):
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
