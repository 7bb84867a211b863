"""第 06 课给出的代码画学生的引擎：to_graph(root, ...)。真正的实现在 course.graph.engine。

course.graph.engine 要顺着 _prev 找出全部节点、排成拓扑顺序，再按局部导数重算每个梯度，
这正是第 06 课 backward、zero_grad 等练习要写的东西。所以 nbgrader 评分时学生的内核里
没有它（course/grading/sandbox/answers.py）：这里的 to_graph 评分时返回一句“不画图”的说明，
课程给出的演示单元照常运行，学生的代码却借不到遍历和拓扑排序。
在 JupyterLab 里（和评分进程里的检查函数）一切照旧。
"""
from ..lesson import grading_mode

__all__ = ["to_graph", "graph_nodes", "expected_grads", "local_derivatives"]


class NotDrawn:
    """评分时代替计算图显示的说明。"""

    def __init__(self, title=None):
        self.title = title

    def _repr_svg_(self):
        from .model import NOT_DRAWN

        return NOT_DRAWN

    def __repr__(self):
        return "（nbgrader 评分时不画计算图%s）" % ("：%s" % self.title if self.title else "")


def to_graph(root, names=None, title=None, output_label=None, check=True):
    """把 root 所在的计算图画成 Graph，并核对每个梯度（详见 course.graph.engine.to_graph）。"""
    try:
        from .engine import to_graph as draw
    except ImportError:  # 评分内核里看不到 course.graph.engine
        if not grading_mode():
            raise
        return NotDrawn(title)
    return draw(root, names=names, title=title, output_label=output_label, check=check)


def __getattr__(name):
    """graph_nodes、expected_grads、local_derivatives 用到时才从 course.graph.engine 取。"""
    if name in ("graph_nodes", "expected_grads", "local_derivatives"):
        try:
            from . import engine as value_graph
        except ImportError:
            raise AttributeError("%s 在 nbgrader 评分时不可用" % name) from None
        return getattr(value_graph, name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
