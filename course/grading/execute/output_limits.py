"""RobustExecute 的输出上限：每个单元、每个 notebook 保留的输出有上限，超出部分丢弃并注明。

错误输出从不丢弃（它决定得分），只截短；stderr 被截掉时仍保留一条 stderr，让“写了 stderr 的
测试单元得 0 分”的规则不变。重放单元（见 recovery.py）时的输出一概不要。
这是 RobustExecute 的一个混入类，配置项（max_output_bytes_per_cell 等）在 RobustExecute 上。
"""
from nbformat.notebooknode import NotebookNode

from ..files.events import grade_id

__all__ = ["OutputLimits", "message_size"]


def message_size(msg):
    """一条内核输出消息的大小（字符数）。"""
    content = msg.get("content", {})
    if msg.get("msg_type") == "stream":
        return len(content.get("text", ""))
    size = 0
    for value in (content.get("data") or {}).values():
        size += len(value) if isinstance(value, str) else len(str(value))
    return size + len(str(content.get("evalue", ""))) + sum(len(x) for x in content.get("traceback", []) or [])


class OutputLimits:
    def _reset_output_limits(self):
        self._cell_bytes, self._total_bytes, self._dropped = {}, 0, {}

    def output(self, outs, msg, display_id, cell_index):
        if self._replaying:
            return None
        size = message_size(msg)
        used = self._cell_bytes.get(cell_index, 0)
        room = min(self.max_output_bytes_per_cell - used, self.max_output_bytes_total - self._total_bytes)
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
                return None
        self._cell_bytes[cell_index] = used + size
        self._total_bytes += size
        return super().output(outs, msg, display_id, cell_index)

    def _note_dropped(self, cell, index):
        dropped = self._dropped.pop(index, None)
        if not dropped:
            return
        detail = "输出太多：省略了 %d 条输出，约 %d KB" % (dropped["messages"], dropped["bytes"] // 1024)
        # 说明放在最前面：LimitOutput 只保留前 max_lines 行，放在后面会被它截掉
        notes = [NotebookNode(output_type="stream", name="stdout", text="（%s）\n" % detail)]
        has_stderr = any(o.get("output_type") == "stream" and o.get("name") == "stderr" for o in cell.outputs)
        if dropped["stderr"] and not has_stderr:
            notes.append(NotebookNode(output_type="stream", name="stderr", text="（stderr 输出过多，已截断）\n"))
        cell.outputs[:0] = notes
        self._report.add("output-truncated", detail, index, grade_id(cell))
