"""反馈里不出现隐藏测试（c.GenerateFeedback.preprocessors，两个预处理器按这个顺序排）。

RedactHiddenOutputs
    隐藏测试运行过以后（按 notebook 里的顺序，第一个隐藏测试标记之后），测试单元只留“没有通过”和
    内置异常的类型：学生代码可能记下隐藏测试的输入，借后面公开部分的说明或自己的异常带出来。
    挡住学生代码在测试期间“打印”出来的隐藏测试。学生的函数在测试单元里被调用时，可以读到整个
    单元的源码（linecache、inspect），再把它打印出来；HideHiddenTests 只删源码和 traceback，
    管不到这些输出。它在含隐藏测试的测试单元里：
    - 去掉 course.checks.guard.restore() 打下的标记之后的全部输出（错误除外：它说明为什么不得分）；
    - 把其余输出、错误信息里出现的隐藏测试代码行换成“（隐藏）”；错误信息截短。

HideHiddenTests
    把隐藏测试从源码中删掉（任何代码单元），并把含隐藏测试的单元里的 traceback 换成一行
    “异常类型: 说明”，因为 traceback 会原样显示测试代码。检查函数的中文说明保留。
"""
import builtins

from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer, List, Unicode

from ...checks.guard import HIDDEN_MARK_MIME

__all__ = ["FeedbackPreprocessor", "RedactHiddenOutputs", "HideHiddenTests", "BUILTIN_ERRORS"]

REDACTED = "（隐藏）"
# 内置异常的名字：学生自己定义的异常名也是学生写的文字，评分结果和反馈里只留这些（boundary.py、judge.py 也用）
BUILTIN_ERRORS = frozenset(n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException))


class FeedbackPreprocessor(NbGraderPreprocessor):
    """c.GenerateFeedback.preprocessors 里课程自己的预处理器的基类。

    反馈用 nbconvert 的 HTMLExporter 导出，它的默认配置给 NbConvertBase 设了 display_data_priority。
    nbconvert 的预处理器都继承 NbConvertBase，可 NbGraderPreprocessor 把这个 trait 重新声明成了不可配置的，
    于是 traitlets 对每个直接继承它的预处理器都警告一次 “Config option display_data_priority not recognized”。
    nbgrader 自己的 GetGrades 把它重新声明成可配置的，这里也一样（这些预处理器不用它，值照常收下）。"""
    display_data_priority = List(NbGraderPreprocessor.class_traits()["display_data_priority"].default()).tag(config=True)


class RedactHiddenOutputs(FeedbackPreprocessor):
    begin = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end = Unicode("END HIDDEN TESTS").tag(config=True)
    min_chars = Integer(6, help="短于这个长度的隐藏代码行不做替换（太短会误伤正常输出）").tag(config=True)
    max_error_chars = Integer(1500).tag(config=True)
    notice = Unicode("（隐藏测试运行期间的输出不在反馈中显示）\n").tag(config=True)
    after_hidden_notice = Unicode("没有全部通过：详细说明请在自己的 notebook 里运行这个单元查看").tag(config=True)
    after_hidden_output = Unicode("（隐藏测试运行过以后，测试单元的输出不在反馈中显示，\n"
                                  "在自己的 notebook 里运行这个单元可以看到）\n").tag(config=True)

    def _hidden_lines(self, source):
        lines, inside = [], False
        for line in source.split("\n"):
            if self.begin in line:
                inside = True
            elif self.end in line:
                inside = False
            elif inside and len(line.strip()) >= self.min_chars:
                lines.append(line.strip())
        return sorted(set(lines), key=len, reverse=True)

    def _redact(self, text, hidden):
        if isinstance(text, list):
            return [self._redact(t, hidden) for t in text]
        if not isinstance(text, str):
            return text
        for line in hidden:
            if line in text:
                text = text.replace(line, REDACTED)
        return text

    def preprocess(self, nb, resources):
        self._tainted = False  # 已经运行过隐藏测试了吗（按 notebook 里的顺序）
        return super().preprocess(nb, resources)

    def _after_hidden(self, cell):
        """隐藏测试运行过以后的测试单元：学生代码可能记下了隐藏测试的输入，再借公开部分的说明带出来，
        所以只留“通过 / 没有通过”和内置异常的类型，说明换成固定的一句。"""
        kept, dropped = [], False
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                ename = str(out.get("ename", "Error"))
                ename = ename if ename in BUILTIN_ERRORS else "Error"
                kept.append(NotebookNode(output_type="error", ename=ename, evalue=self.after_hidden_notice,
                                         traceback=["%s: %s" % (ename, self.after_hidden_notice)]))
            elif HIDDEN_MARK_MIME not in (out.get("data") or {}):  # 隐藏测试标记本身不算被隐去的输出
                dropped = True
        if dropped:
            kept.insert(0, NotebookNode(output_type="stream", name="stdout", text=self.after_hidden_output))
        cell.outputs = kept

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not utils.is_grade(cell):
            return cell, resources
        if getattr(self, "_tainted", False):
            self._after_hidden(cell)
            return cell, resources
        if any(HIDDEN_MARK_MIME in (o.get("data") or {}) for o in cell.get("outputs", [])):
            self._tainted = True
        if self.begin not in cell.source:
            return cell, resources
        hidden = self._hidden_lines(cell.source)
        kept, after_mark, removed = [], False, 0
        for out in cell.get("outputs", []):
            data = out.get("data") or {}
            if HIDDEN_MARK_MIME in data:
                after_mark = True
                continue
            if after_mark and out.get("output_type") != "error":
                removed += 1
                continue
            if out.get("output_type") == "stream":
                out["text"] = self._redact(out.get("text", ""), hidden)
            elif out.get("output_type") == "error":
                out["evalue"] = self._redact(str(out.get("evalue", "")), hidden)[: self.max_error_chars]
                out["traceback"] = [self._redact(x, hidden)[: self.max_error_chars] for x in out.get("traceback", [])]
            else:
                for mime in list(data):
                    data[mime] = self._redact(data[mime], hidden)
            kept.append(out)
        if removed:
            kept.append(NotebookNode(output_type="stream", name="stdout", text=self.notice))
        cell.outputs = kept
        return cell, resources


class HideHiddenTests(FeedbackPreprocessor):
    begin = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end = Unicode("END HIDDEN TESTS").tag(config=True)
    notice = Unicode("# （这里还有隐藏测试，反馈中不显示）").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        # 不只看测试单元：任何单元里出现的隐藏测试都不该进入反馈
        if cell.cell_type != "code" or self.begin not in cell.source:
            return cell, resources
        kept, hidden = [], False
        for line in cell.source.split("\n"):
            if self.begin in line:
                hidden = True
                kept.append(line[: len(line) - len(line.lstrip())] + self.notice)
            elif self.end in line:
                hidden = False
            elif not hidden:
                kept.append(line)
        cell.source = "\n".join(kept)
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                out["traceback"] = ["%s: %s" % (out.get("ename", "Error"), out.get("evalue", ""))]
        return cell, resources
