"""计算图：数据模型、反向传播、读出自动求导引擎、分层布局和 SVG 绘制。

    from course.graph import Graph

    model.py     Graph、Node、Edge：节点、边，沿边流动的正向值和反向值（只有正向，不画图）
    backprop.py  内置运算的局部导数和 backward() 的算法（练习的答案：评分内核里看不到）
    trace.py     读出 micrograd 风格引擎里的一次计算（遍历、拓扑排序：评分内核里看不到）
    engine.py    把学生的自动微分引擎画成 Graph 并核对每个梯度
    autodiff.py  第 06 课给出的 to_graph()：评分时只说一句话，不借出 engine.py
    examples.py  本章的几张标准计算图，按给定数值现场搭建（不导入参考答案）
    layout.py    分层布局（只做几何）
    svg.py       把 Graph 画成内联 SVG
"""
from .model import Edge, Graph, Node

__all__ = ["Graph", "Node", "Edge"]
