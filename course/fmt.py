"""把数值写成人看的样子：图上的标注和检查信息都用它。

3.3000000000000003 这样的浮点尾巴对初学者只是干扰，所以按有效数字取整显示；
数组只显示形状和前几个元素。
"""
import numbers

import numpy as np

__all__ = ["fmt", "fmt_shape"]


def fmt(v, digits=6, max_items=6):
    if v is None:
        return "None"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, numbers.Number) or (isinstance(v, np.ndarray) and v.ndim == 0):
        return _num(v, digits)
    if isinstance(v, np.ndarray):
        flat = v.ravel()
        items = ", ".join(_num(x, 4) for x in flat[:max_items])
        more = ", ..." if flat.size > max_items else ""
        if v.ndim == 1 and flat.size <= max_items:
            return "[%s]" % items
        return "数组%s [%s%s]" % (fmt_shape(v.shape), items, more)
    if isinstance(v, (list, tuple)):
        inner = ", ".join(fmt(x, digits, max_items) for x in v)
        return ("[%s]" if isinstance(v, list) else "(%s)") % inner
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def fmt_shape(shape):
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _num(x, digits):
    x = complex(x) if isinstance(x, complex) else float(x)
    if isinstance(x, complex):
        return repr(x)
    if x != x or x in (float("inf"), float("-inf")):
        return str(x)
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    text = "%.*g" % (digits, x)
    return text
