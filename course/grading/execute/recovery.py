"""复原与恢复（Recovery）：测试前复原评分环境；内核出事后换新内核、重放，重启次数有上限。

- 测试单元在学生的内核里运行时（trusted_tests 关掉），任何学生代码运行前导入 course.checks.guard
  拍下原样（prime），每个测试单元执行前先静默复原一次；
- 内核不理中断或者退出了：换新内核，静默重放出事单元之前的非测试单元（跳过出过事的单元），再继续评分；
  重启次数有上限，超过后余下的单元都标为未执行（0 分）。

Recovery 拥有的状态，也只有它写：重启了几次（restarts）、是否已经放弃（given_up，放弃的原因）、
出过事不再重放的单元（bad）、是否正在重放（replaying）、guard 是否拍下了原样（guard_ok）。
别人只读这几个属性。

它向别人要的只有两样，都在构造时交给它：
- 评分报告（files/events.Report），它把 guard、kernel-restart、replay、gave-up 事件写进去；
- 一个“内核”（RobustExecute），只用下面 Kernel 协议里的四个方法。要重放哪些单元由 Recovery 决定，
  怎么在内核里跑一个单元、跑完算不算出事，由内核回答。
配置（max_kernel_restarts 等）在 RobustExecute 上，构造时按值交进来。
"""
from typing import Protocol

from nbgrader import utils

from ..files.events import grade_id

__all__ = ["Recovery", "Kernel", "PRIME", "RESTORE"]

PRIME = "__import__('course.checks.guard', fromlist=['snapshot']).snapshot()"
RESTORE = "__import__('course.checks.guard', fromlist=['restore']).restore(mark=False)"


class Kernel(Protocol):
    """Recovery 向 RobustExecute 要的全部东西。"""

    def run_silent(self, code: str, timeout: float) -> tuple:
        """静默执行一小段评分代码，返回 (状态, 说明)；状态是 "ok"、"error"、"timeout" 或 "dead"。"""

    def death_cause(self) -> str:
        """内核刚死掉时怎么死的；不知道时是空字符串。"""

    def replace_kernel(self) -> None:
        """强行结束当前内核，换一个新内核；失败时抛出异常。"""

    def replay_cell(self, cell, index: int):
        """在内核里静默重跑一个单元（不留输出、不改执行计数）。没出事返回 None，否则返回出了什么事（一小段中文）。"""


class Recovery:
    """一份 notebook 的复原与恢复。每份 notebook 新建一个。"""

    def __init__(self, kernel, report, cells, *, max_restarts, silent_timeout, guard=True, guard_in_kernel=False):
        self._kernel, self._report, self._cells = kernel, report, cells
        self.max_restarts, self.silent_timeout = max_restarts, silent_timeout
        self.guard, self.guard_in_kernel = guard, guard_in_kernel
        self._restarts, self._given_up, self._bad = 0, None, set()
        self._replaying, self._guard_ok = False, False

    restarts = property(lambda self: self._restarts, doc="重启了几次内核")
    given_up = property(lambda self: self._given_up, doc="放弃了的原因；没放弃时是 None")
    bad = property(lambda self: frozenset(self._bad), doc="出过事、不再重放的单元")
    replaying = property(lambda self: self._replaying, doc="正在重放：这时内核的输出一概不要")
    guard_ok = property(lambda self: self._guard_ok, doc="guard 拍下了原样，测试前可以复原")

    # ------------------------------------------------------------ 复原
    def kernel_started(self):
        """一个新内核刚启动（还没有运行学生代码）：测试单元在内核里运行时，让 guard 拍下原样。"""
        if self.guard_in_kernel:
            self._prime()

    def _prime(self):
        status, detail = self._kernel.run_silent(PRIME, self.silent_timeout)
        self._guard_ok = status == "ok"
        if not self._guard_ok:
            self._report.add("guard", "无法导入 course.checks.guard（%s %s），测试前不做复原" % (status, detail))

    def before_test(self, index, gid):
        """测试单元执行前静默复原一次（guard 关掉、没拍下原样或已经放弃时什么都不做）；
        内核已经没有回应时先重启。返回 False 表示放弃了。"""
        if not (self.guard and self._guard_ok and not self._given_up):
            return True
        for _ in range(2):
            status, detail = self._kernel.run_silent(RESTORE, self.silent_timeout)
            if status == "ok":
                return True
            if status not in ("timeout", "dead"):
                self._report.add("guard", "测试前复原失败（%s），评分环境可能被篡改" % detail, index, gid)
                return True
            cause = self._kernel.death_cause() if status == "dead" else ""
            self._report.add("kernel-restart", "测试前内核%s%s，重启后再运行这个单元"
                             % (detail, "（%s）" % cause if cause else ""), index, gid)
            self.recover(index)
            if self._given_up:
                return False
        return True

    # ------------------------------------------------------------ 恢复
    def recover(self, upto, failed=None):
        """换一个新内核，重放 upto 之前的单元。failed 是刚出事的单元，以后不再重放。
        重放中又让内核出事的单元会被排除，再试一次；重启次数用完就放弃。"""
        if failed is not None:
            self._bad.add(failed)
        while True:
            self._restarts += 1
            if self._restarts > self.max_restarts:
                self._give_up("内核已经重启了 %d 次" % self.max_restarts, upto)
                return
            try:
                self._kernel.replace_kernel()
                self.kernel_started()
                trouble = self._replay(upto)
            except Exception as exc:  # 重启失败：余下单元记为未执行，评分照常结束
                self._give_up("无法恢复内核（%s）" % exc, upto)
                return
            if trouble is None:
                return
            index, what = trouble
            self._bad.add(index)
            cause = self._kernel.death_cause()
            self._report.add("replay", "重放时这个单元又让内核%s%s，不再重放它"
                             % (what, "（%s）" % cause if cause else ""), index, grade_id(self._cells[index]))

    def _give_up(self, why, upto):
        self._given_up = why
        self._report.add("gave-up", why + "，余下的单元不再执行（0 分）", upto)

    def _replay(self, upto):
        """在新内核里静默重跑 upto 之前的非测试单元（出过事的单元除外），恢复学生的定义。
        返回 None，或者 (出事的单元, 出了什么事)。"""
        self._replaying = True
        try:
            for j, cell in enumerate(self._cells[:upto]):
                if cell.cell_type != "code" or not cell.source.strip() or j in self._bad or utils.is_grade(cell):
                    continue
                what = self._kernel.replay_cell(cell, j)
                if what is not None:
                    return j, what
            return None
        finally:
            self._replaying = False
