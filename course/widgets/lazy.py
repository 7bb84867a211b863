"""按需导入较重的模块（ipywidgets）：第一次用到它的属性时才真正导入。

nbgrader 评分时各课都不显示交互部件，`from course.widgets import BackwardStepper` 这样的导入
因此不必付出导入 ipywidgets 的时间；在 JupyterLab 里第一次画控件时才导入，学生感觉不到差别。
"""
import importlib

__all__ = ["LazyModule"]


class LazyModule:
    """LazyModule("ipywidgets").HTML() 等价于 import ipywidgets; ipywidgets.HTML()。"""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        if attr.startswith("__"):  # copy、pickle、inspect 探测特殊属性时不要触发导入
            raise AttributeError(attr)
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self):
        return "<按需导入的模块 %s>" % self._name
