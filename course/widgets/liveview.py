"""交互图的公共部分：一组控件 + 一张随控件重画的 SVG，并且在没有前端时退化成静态图片。

显示时 _repr_mimebundle_ 同时给出两种表示：
- application/vnd.jupyter.widget-view+json：JupyterLab 里是能拖动的控件；
- image/svg+xml 和 text/plain：nbconvert、nbgrader 自动评分、GitHub 之类的静态渲染器显示当前状态的图。
哪一种被显示由前端决定；这里不等待任何输入，也不往 stderr 写东西。
"""
import numbers

from .lazy import LazyModule

widgets = LazyModule("ipywidgets")  # 用到时才导入：评分时不画控件，省下导入的时间

__all__ = ["LiveView", "Explorer", "slider"]


class LiveView:
    """子类设置 self.widget（一个 ipywidgets 容器）并实现 to_svg() 和 describe()。"""

    widget = None

    def to_svg(self):
        raise NotImplementedError

    def describe(self):
        return type(self).__name__

    def _repr_svg_(self):
        return self.to_svg()

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = {}
        try:
            data.update(self.widget._repr_mimebundle_() or {})
        except Exception:  # 控件不可用（例如没有内核连接）时只给静态图，不让显示出错
            data = {}
        data["image/svg+xml"] = self.to_svg()
        data["text/plain"] = self.describe()
        return data


class Explorer(LiveView):
    """若干滑块控制一张计算图：每次滑块变化都调用 build(**values) 重新搭图并重画。

    sliders: {名字: 滑块}，测试里可以直接写 explorer.sliders["x"].value = 1.5
    graph: 当前的 Graph（build 返回的）
    """

    title = ""

    def __init__(self, sliders):
        self.sliders = dict(sliders)
        self.view = widgets.HTML()
        rows = [widgets.HBox(list(self.sliders.values())[i:i + 3]) for i in range(0, len(self.sliders), 3)]
        self.widget = widgets.VBox(rows + [self.view])
        self.graph, self._svg = None, ""
        for s in self.sliders.values():
            s.observe(self._refresh, names="value")
        self._refresh()

    @property
    def values(self):
        return {k: s.value for k, s in self.sliders.items()}

    def build(self, **values):
        raise NotImplementedError

    def caption(self):
        return []

    def render(self):
        """当前状态的图（SVG 字符串）。子类可以改写，例如再拼上一张函数曲线。"""
        return self.graph.to_svg(caption=self.caption())

    def to_svg(self):
        return self._svg  # 每次滑块变化时画一次，显示时不再重画

    def describe(self):
        shown = "，".join("%s = %s" % (s.description, s.value) for s in self.sliders.values())
        return "%s（%s）" % (self.title, shown)

    def _refresh(self, change=None):
        self.graph = self.build(**self.values)
        self._svg = self.render()
        self.view.value = self._svg


def slider(description, value, lo, hi, step, integer=False, fmt=None, continuous=True):
    """中文说明文字完整显示的滑块；初始值超出默认范围时把范围放宽，而不是悄悄截断。"""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError("%s 的初始值应当是%s，收到的是 %r" % (description, "整数" if integer else "数", value))
    lo, hi = min(lo, value), max(hi, value)
    cls = widgets.IntSlider if integer else widgets.FloatSlider
    kw = {} if integer or fmt is None else {"readout_format": fmt}
    return cls(value=value, min=lo, max=hi, step=step, description=description,
               continuous_update=continuous, style={"description_width": "initial"}, **kw)
