"""《计算图与误差反向传播法》课程的辅助包：数值微分、检查函数、计算图绘制。"""
from .gradcheck import numerical_diff, numerical_gradient, rel_error, eval_numerical_gradient_array  # noqa: F401
from .graph.model import Graph  # noqa: F401

__version__ = "0.1.0"
