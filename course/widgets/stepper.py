"""一步一步地看反向传播：信号从输出出发，每按一次“下一步”就沿一条边往左走一步。

每一步回放 Graph.backward() 记下的 (边, 上游值, 局部导数, 乘积)：
当前的边和它终点的运算节点被点亮，图下方写出“上游传来的导数 × 局部导数 = 乘积”；
一个节点有几条出边时（分叉），写出几份导数怎样相加。
可以传入 Graph，也可以直接传入 micrograd 风格的 Value（先用 Graph.from_value 转成图）。
"""
from contextlib import contextmanager

from ..fmt import fmt
from ..graph.model import Graph
from .lazy import LazyModule
from .liveview import LiveView

widgets = LazyModule("ipywidgets")  # 用到时才导入：评分时不画控件，省下导入的时间

__all__ = ["BackwardStepper"]


class BackwardStepper(LiveView):
    """stepper.next() / prev() / reset() / go(k)，或者点按钮。position 是已经走完的步数（0 表示还没开始）。"""

    def __init__(self, graph, position=0):
        self.graph = _as_graph(graph)
        self.steps = list(self.graph.steps)
        self.total = len(self.steps)
        self.position = 0
        self.buttons = {
            "prev": widgets.Button(description="上一步", icon="arrow-left"),
            "next": widgets.Button(description="下一步", icon="arrow-right", button_style="primary"),
            "reset": widgets.Button(description="重置", icon="refresh"),
        }
        self.buttons["prev"].on_click(lambda _: self.prev())
        self.buttons["next"].on_click(lambda _: self.next())
        self.buttons["reset"].on_click(lambda _: self.reset())
        self.status = widgets.Label()
        self.view = widgets.HTML()
        self.widget = widgets.VBox([widgets.HBox(list(self.buttons.values()) + [self.status]), self.view])
        self.go(position)

    # ---- 控制 -------------------------------------------------------------
    def next(self):
        return self.go(min(self.position + 1, self.total))

    def prev(self):
        return self.go(max(self.position - 1, 0))

    def reset(self):
        return self.go(0)

    def go(self, position):
        if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= self.total:
            raise ValueError("position 应当是 0 到 %d 之间的整数，收到的是 %r" % (self.total, position))
        self.position = position
        self.buttons["prev"].disabled = position == 0
        self.buttons["next"].disabled = position == self.total
        self.status.value = "第 %d / %d 步" % (position, self.total)
        self.view.value = self.to_svg()
        return self

    # ---- 状态 -------------------------------------------------------------
    @property
    def current(self):
        """当前这一步 (边, 上游值, 局部导数, 乘积)；还没开始时为 None。"""
        return self.steps[self.position - 1] if self.position else None

    def shown_grads(self):
        """已经走过的边 -> 写在它上面的反向值。"""
        return {id(edge): product for edge, _, _, product in self.steps[:self.position]}

    def caption(self):
        if self.current is None:
            out = self.graph.output
            return ["第 0 / %d 步：反向传播从输出开始，输出处的导数是 %s。按“下一步”往左走。"
                    % (self.total, fmt(out.grad if out is not None else None, 5))]
        edge, upstream, local, product = self.current
        lines = ["第 %d / %d 步：在节点 %s 处，沿边 %s 往左传" % (self.position, self.total, edge.dst.label, edge.describe()),
                 "上游传来的导数 %s × 局部导数 %s = %s" % (fmt(upstream, 5), fmt(local, 5), fmt(product, 5))]
        parts = [p for e, _, _, p in self.steps[:self.position] if e.src is edge.src]
        if len(parts) > 1:
            total = parts[0]
            for p in parts[1:]:
                total = total + p
            lines.append("%s 分出了多条边，导数要相加：%s = %s"
                         % (_node_name(edge.src), " + ".join(fmt(p, 5) for p in parts), fmt(total, 5)))
        if self.position == self.total:
            lines.append(("ok", "反向传播完成：每条边下方的红色数字就是输出对它的导数"))
        return lines

    def to_svg(self):
        with self._showing():
            edge = self.current[0] if self.current else None
            return self.graph.to_svg(highlight=edge.dst if edge else None, caption=self.caption())

    def describe(self):
        return "逐步反向传播（第 %d / %d 步）" % (self.position, self.total)

    @contextmanager
    def _showing(self):
        """临时把图上的反向值换成“已经走到的那几步”，画完恢复原样。"""
        saved = [(e, e.grad, e.mark) for e in self.graph.edges]
        shown, current = self.shown_grads(), self.current
        try:
            for e in self.graph.edges:
                e.grad = shown.get(id(e))
                e.mark = "active" if current is not None and e is current[0] else None
            yield
        finally:
            for e, grad, mark in saved:
                e.grad, e.mark = grad, mark


def _as_graph(obj):
    if isinstance(obj, Graph):
        graph = obj
    elif hasattr(obj, "data") and hasattr(obj, "_prev"):
        graph = Graph.from_value(obj)
    else:
        raise TypeError("BackwardStepper 需要一张 course.graph.model.Graph，或者 micrograd 风格的 Value，收到的是 %s"
                        % type(obj).__name__)
    if not any(n.kind == "op" for n in graph.nodes):
        raise ValueError("这张图里没有运算节点，没有反向传播可以演示")
    if not graph.steps:
        try:
            graph.backward()
        except ValueError as exc:
            raise ValueError("这张图还不能逐步演示：%s" % exc) from None
    return graph


def _node_name(node):
    return node.label or node.name
