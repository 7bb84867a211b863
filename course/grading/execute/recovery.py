"""RobustExecute 的复原与恢复。

- 任何学生代码运行前导入 course.checks.guard 拍下原样（prime），每个测试单元执行前先静默复原一次；
- 内核不理中断或者退出了：结束内核，启动新内核，静默重放出事单元之前的非测试单元
  （跳过出过事的单元），再继续评分；重启次数有上限，超过后余下的单元都标为未执行（0 分）。

这是 RobustExecute 的一个混入类，配置项（max_kernel_restarts 等）在 RobustExecute 上。
"""
import copy

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader import utils

from ..files.events import grade_id

__all__ = ["Recovery", "PRIME", "RESTORE"]

PRIME = "__import__('course.checks.guard', fromlist=['snapshot']).snapshot()"
RESTORE = "__import__('course.checks.guard', fromlist=['restore']).restore(mark=False)"


class _ReplayFailed(Exception):
    def __init__(self, index, what):
        super().__init__(index, what)
        self.index, self.what = index, what


class Recovery:
    def _prime(self):
        status, detail = self.run_silent(PRIME, max(30, self.timeout or 30))
        self._guard_ok = status == "ok"
        if not self._guard_ok:
            self._report.add("guard", "无法导入 course.checks.guard（%s %s），测试前不做复原" % (status, detail))

    def _restore_before_test(self, index, gid):
        """测试单元执行前静默复原一次；内核已经没有回应时先重启。返回 False 表示放弃了。"""
        for _ in range(2):
            status, detail = self.run_silent(RESTORE, max(30, self.timeout or 30))
            if status == "ok":
                return True
            if status not in ("timeout", "dead"):
                self._report.add("guard", "测试前复原失败（%s），评分环境可能被篡改" % detail, index, gid)
                return True
            cause = self.death_cause() if status == "dead" else ""
            self._report.add("kernel-restart", "测试前内核%s%s，重启后再运行这个单元"
                             % (detail, "（%s）" % cause if cause else ""), index, gid)
            self._recover(index)
            if self._given_up:
                return False
        return True

    def death_cause(self):
        """内核刚死掉时：怎么死的（OOM、哪个信号、退出码），给评分事件用；不知道时是空字符串。"""
        from ..sandbox.kernels import exit_cause

        try:
            fn = getattr(self.km, "death_cause", None)
            return fn() if fn is not None else exit_cause(self.km)
        except Exception:  # 说明原因只是锦上添花，不能让评分出错
            return ""

    def _asked_exit(self):
        """上一个单元调用了 exit()/quit()：ipykernel 会在稍后退出，下一个单元就会撞上死掉的内核。"""
        payload = ((self._last_reply or {}).get("content") or {}).get("payload") or []
        return any(p.get("source") == "ask_exit" and not p.get("keepkernel") for p in payload)

    def _recover(self, upto):
        """换一个新内核，重放 upto 之前的单元。重放中又让内核退出的单元会被排除，再试一次。"""
        while True:
            self._restarts += 1
            if self._restarts > self.max_kernel_restarts:
                self._given_up = "内核已经重启了 %d 次" % self.max_kernel_restarts
                self._report.add("gave-up", self._given_up + "，余下的单元不再执行（0 分）", upto)
                return
            try:
                self.replace_kernel()
                if not getattr(self, "trusted_tests", False):
                    self._prime()
                self._replay(upto)
                return
            except _ReplayFailed as exc:
                self._bad.add(exc.index)
                cause = self.death_cause()
                self._report.add("replay", "重放时这个单元又让内核%s%s，不再重放它"
                                 % (exc.what, "（%s）" % cause if cause else ""), exc.index,
                                 grade_id(self.nb.cells[exc.index]))
            except Exception as exc:  # 重启失败：余下单元记为未执行，评分照常结束
                self._given_up = "无法恢复内核（%s）" % exc
                self._report.add("gave-up", self._given_up + "，余下的单元不再执行（0 分）", upto)
                return

    def _replay(self, upto):
        """在新内核里静默重跑 upto 之前的非测试单元（出过事的单元除外），恢复学生的定义。"""
        saved = self.code_cells_executed
        self._replaying = True
        try:
            for j, cell in enumerate(self.nb.cells[:upto]):
                if cell.cell_type != "code" or not cell.source.strip() or j in self._bad or utils.is_grade(cell):
                    continue
                self._timed_out, self._last_reply = False, None
                try:
                    self.execute_cell(copy.deepcopy(cell), j, store_history=False)
                except (DeadKernelError, CellTimeoutError):
                    raise _ReplayFailed(j, "退出") from None
                finally:
                    self.nb.cells[j] = cell
                if self._timed_out and not self.responsive(self.probe_timeout):
                    raise _ReplayFailed(j, "超时且没有回应")
                if self._asked_exit():
                    raise _ReplayFailed(j, "退出（exit()）")
        finally:
            self._replaying = False
            self.code_cells_executed = saved
