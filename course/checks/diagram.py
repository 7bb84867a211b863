"""检查没通过时，在报错之前先把诊断图显示出来：学生算出的反向值写在计算图上，第一个出错的信号标成带 ✗ 的橙色粗虚线。

图和比较由 course.checks.diagnosis 负责，这里只做两件事：
- shop_graph / shop_diagnosis：把一组“买苹果和橘子”的反向值（键 all_price、tax、apple ...）写到
  course.graph.examples 的那张图上，再和正确的反向传播对照。第 01 课（apple_orange_backward）和
  第 02 课（apple_orange_with_layers）的检查都用它；
- show_diagnosis：只在 Jupyter 内核里显示，只在公开检查里调用（隐藏测试 report=False 时不调用）。
"""
import numbers

import numpy as np

from ..fmt import fmt

__all__ = ["shop_graph", "shop_diagnosis", "show_diagnosis"]

INPUTS = ("apple", "apple_num", "orange", "orange_num", "tax")
VALUES = ("apple_price", "orange_price", "all_price", "price")
GRADS = ("all_price", "tax", "apple_price", "orange_price", "apple", "apple_num", "orange", "orange_num")


def _is_number(v):
    if isinstance(v, np.ndarray):
        return v.size == 1 and v.dtype.kind in "iuf"
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def shop_graph(case, dout, grads, values=None):
    """买苹果和橘子的计算图，边上写 grads 里的反向值（键同 GRADS）；values 给了就把四个正向值也换成它。

    case: {"apple": ..., "apple_num": ..., ...}。这些值里有一个不是数（数组、None、字符串 ...）时返回 None。
    """
    from ..graph.examples import apple_orange_graph

    given = [case[k] for k in INPUTS] + [dout] + [grads[k] for k in GRADS] + [values[k] for k in values or ()]
    if not all(_is_number(v) for v in given):
        return None
    g = apple_orange_graph(*(float(case[k]) for k in INPUTS), backward=False)
    for n in g.nodes:
        if values is not None and n.name in VALUES:
            n.value = float(values[n.name])
    g.set_output_grad(float(dout))
    for e in g.edges:
        g.set_grad(e.src, e.dst, float(grads[e.name[1:]]))  # 边名 "dapple" 对应键 "apple"
    return g


def shop_diagnosis(case, dout, grads, values=None):
    """把 shop_graph 和正确的反向传播对照，返回 course.checks.diagnosis.Diagnosis；画不出来时返回 None。"""
    from .diagnosis import diagnose_graph
    from ..graph.examples import apple_orange_graph

    g = shop_graph(case, dout, grads, values)
    if g is None:
        return None
    ref = apple_orange_graph(*(float(case[k]) for k in INPUTS), backward=False)
    ref.backward(dout=float(dout))
    g.title = "你算出的反向值（上游导数 dout = %s）：第一个出错的信号标成橙色" % fmt(dout, 5)
    return diagnose_graph(g, ref)


def show_diagnosis(make):
    """检查报错之前，先在 notebook 里显示诊断图。make() 返回 Diagnosis 或 None；全对时不显示。

    只在 Jupyter 内核里显示，终端和 pytest 里什么也不做。诊断图只是帮手：画图出了任何问题都只是不画，
    既不能盖过真正的检查结果，也不往 stderr 写东西。返回是否显示了。
    """
    try:
        from IPython import get_ipython
        from IPython.display import display

        if getattr(get_ipython(), "kernel", None) is None:
            return False
        diag = make()
        if diag is None or diag.ok:
            return False
        display(diag)
        return True
    except Exception:  # 诊断图画不出来时，照常报告检查的结果
        return False
