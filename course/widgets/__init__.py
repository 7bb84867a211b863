"""课程里的交互控件（ipywidgets 8）：拖动滑块看计算图，按按钮一步步看反向传播。

    from course.widgets import shopping_explorer, BackwardStepper
    shopping_explorer()              # 买苹果和橘子：五个滑块
    chain_rule_explorer()            # z = (x + y)² 的链式法则
    sigmoid_explorer()               # sigmoid 的计算图和 y(1 - y) 曲线
    shapes_playground()              # Affine / ReLU 各个数组的形状
    BackwardStepper(graph_or_value)  # 下一步 / 上一步 / 重置

在 JupyterLab 里它们是控件；在 nbconvert、nbgrader 自动评分和测试里显示为当前状态的静态 SVG
（见 course.widgets.liveview）。诊断图在 course.checks.diagnosis，作图函数在 course.plots.charts。
"""
from .explorers import chain_rule_explorer, shapes_playground, shopping_explorer, sigmoid_explorer  # noqa: F401
from .stepper import BackwardStepper  # noqa: F401

__all__ = ["shopping_explorer", "chain_rule_explorer", "sigmoid_explorer", "shapes_playground", "BackwardStepper"]
