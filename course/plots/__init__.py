"""课程里的 matplotlib 图和中文字体。

    from course.plots import use_chinese_font, label, new_chart, plot_training

    fonts.py   找到能显示中文的字体；没有时 label() 让图上改用英文
    charts.py  训练曲线、梯度确认、数值微分与反向传播的耗时对比
    mlp.py     第 06 课的小网络：读出权重、和前几课的层对照、画分界线
"""
from .charts import Chart, new_chart, plot_gradient_check, plot_gradient_cost, plot_training
from .fonts import label, use_chinese_font

__all__ = ["use_chinese_font", "label", "Chart", "new_chart", "plot_training", "plot_gradient_check",
           "plot_gradient_cost"]
