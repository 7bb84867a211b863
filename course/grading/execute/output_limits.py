"""输出上限：每个单元、每个 notebook 保留的输出有上限，超出部分丢弃并注明（OutputBudget）。

错误输出从不丢弃（它决定得分），只截短；stderr 被截掉时仍保留一条 stderr，让“写了 stderr 的
测试单元得 0 分”的规则不变。

OutputBudget 拥有的状态：每个单元已经保留了多少、整个 notebook 已经保留了多少、每个单元丢掉了什么。
它不向别人要任何东西：RobustExecute.output() 把内核的每条输出消息交给 admit()，答 False 的就不写进
notebook；单元运行完，note_dropped() 在单元最前面注明丢掉了什么，并把说明交回去写进评分报告。
重放单元（recovery.py）时的输出由 RobustExecute 问 Recovery，根本不交到这里。
三个上限来自 RobustExecute 的配置项（max_output_bytes_per_cell、max_output_bytes_total、max_error_chars）。
"""
from nbformat.notebooknode import NotebookNode

__all__ = ["OutputBudget", "message_size"]


def message_size(msg):
    """一条内核输出消息的大小（字符数）。"""
    content = msg.get("content", {})
    if msg.get("msg_type") == "stream":
        return len(content.get("text", ""))
    size = 0
    for value in (content.get("data") or {}).values():
        size += len(value) if isinstance(value, str) else len(str(value))
    return size + len(str(content.get("evalue", ""))) + sum(len(x) for x in content.get("traceback", []) or [])


class OutputBudget:
    """一份 notebook 的输出预算。每份 notebook 新建一个。"""

    def __init__(self, per_cell, total, max_error_chars):
        self.per_cell, self.total, self.max_error_chars = per_cell, total, max_error_chars
        self._cell_bytes, self._total_bytes, self._dropped = {}, 0, {}

    @property
    def used(self):
        """整个 notebook 已经保留的输出（字符数）。"""
        return self._total_bytes

    def admit(self, msg, cell_index):
        """这条输出消息能写进 notebook 吗。能写时可能已经把它截短了（就地改 msg）；不能写时记下丢了什么。"""
        size = message_size(msg)
        used = self._cell_bytes.get(cell_index, 0)
        room = min(self.per_cell - used, self.total - self._total_bytes)
        msg_type = msg["msg_type"]
        content = msg["content"]
        if msg_type == "error":  # 错误必须保留（它决定得分），只截短
            content["evalue"] = str(content.get("evalue", ""))[: self.max_error_chars]
            content["traceback"] = [x[: self.max_error_chars] for x in (content.get("traceback") or [])[:200]]
        elif size > room:
            dropped = self._dropped.setdefault(cell_index, {"messages": 0, "bytes": 0, "stderr": False})
            if msg_type == "stream" and room > 0:
                content["text"] = content["text"][:room]
                size = room
            else:
                dropped["messages"] += 1
                dropped["bytes"] += size
                dropped["stderr"] |= msg_type == "stream" and content.get("name") == "stderr"
                return False
        self._cell_bytes[cell_index] = used + size
        self._total_bytes += size
        return True

    def note_dropped(self, cell, index):
        """单元运行完：丢过输出就在单元最前面注明，返回给评分报告的说明；没丢过返回 None。"""
        dropped = self._dropped.pop(index, None)
        if not dropped:
            return None
        detail = "输出太多：省略了 %d 条输出，约 %d KB" % (dropped["messages"], dropped["bytes"] // 1024)
        # 说明放在最前面：LimitOutput 只保留前 max_lines 行，放在后面会被它截掉
        notes = [NotebookNode(output_type="stream", name="stdout", text="（%s）\n" % detail)]
        has_stderr = any(o.get("output_type") == "stream" and o.get("name") == "stderr" for o in cell.outputs)
        if dropped["stderr"] and not has_stderr:
            notes.append(NotebookNode(output_type="stream", name="stderr", text="（stderr 输出过多，已截断）\n"))
        cell.outputs[:0] = notes
        return detail
