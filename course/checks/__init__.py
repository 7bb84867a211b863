"""学生在测试单元里调用的检查函数，按课次分模块。"""
from ._core import CheckFailure  # noqa: F401
