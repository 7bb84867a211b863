"""nbgrader 按名字加载的两个导出器（nbgrader_config.py 的 exporter_class）；加载本模块时装上 nbgrader_patches。

- SafeNotebookExporter（autograde）：读提交的 notebook 时不跟随链接、不打开特殊文件、有大小上限（submissions.py）；
- FeedbackExporter（generate_feedback）：nbconvert 的 HTMLExporter（nbgrader 给 HTMLExporter 的反馈模板设置照样
  适用于它），由课程的模块提供，nbgrader 加载它时补丁已经装好；nbgrader 的英文反馈模板换成中文版，公式在生成时
  排成 MathML，不联网也能看（feedback_template.FeedbackHTMLExporter）。
"""
from . import nbgrader_patches
from .feedback.template import FeedbackHTMLExporter
from .submissions import SafeNotebookExporter

__all__ = ["SafeNotebookExporter", "FeedbackExporter"]

nbgrader_patches.install()


class FeedbackExporter(FeedbackHTMLExporter):
    """生成反馈用的 HTML 导出器：中文框架、MathML 公式（见 feedback_template.py）。"""
