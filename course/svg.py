"""把 course.graph.Graph 画成内联 SVG。

JupyterLab 直接显示 SVG，中文标签用浏览器自己的字体，不需要 graphviz 之类的外部程序。
布局很朴素：输入放在最左侧，每个运算节点按“离输入最远的步数”分列，
同一列里按输入的平均高度排序。正向值写在边的上方（黑色），反向值写在下方（红色）。
边上的值若是字符串（例如形状 "(2, 3)"）就原样写出；caption 是画在图下方的几行说明；
stack() 把几张 SVG 上下拼成一张（交互图的静态版本用它把计算图和函数曲线放在一起）。
"""
import re
from html import escape

from .fmt import fmt

__all__ = ["render", "layout", "stack", "text_width"]

COL_W = 150  # 两列之间的距离
ROW_H = 84  # 两行之间的距离
R = 22  # 运算节点的半径
FORWARD = "#1f2328"
BACKWARD = "#d1242f"
# 边上的数字描一圈白边，压在线上也看得清
HALO = ' stroke="#ffffff" stroke-width="4" stroke-linejoin="round" paint-order="stroke"'
MARK_COLORS = {"active": "#f0a500", "wrong": "#d1242f", "ok": "#1a7f37"}
CAPTION_H = 22  # 说明文字的行高
FONT = "'Noto Sans CJK SC', 'Source Han Sans SC', 'PingFang SC', 'Microsoft YaHei', sans-serif"


def layout(graph):
    """返回 {节点 id: (列, 行)}。"""
    col = {}
    for n in graph.topo_order():
        if n.kind == "op":
            col[id(n)] = 1 + max((col.get(id(p), 0) for p in n.inputs), default=0)
    # 输入节点紧挨在第一个用到它的运算左边一列
    for n in graph.nodes:
        if n.kind == "input":
            users = [col[id(e.dst)] for e in graph.out_edges(n)]
            col[id(n)] = min(users) - 1 if users else 0
    row, next_free = {}, {}
    taken = []
    for n in sorted(graph.topo_order(), key=lambda n: col[id(n)]):
        c = col[id(n)]
        if n.kind == "input":
            y = max([row[k] for k in row if col[k] <= c] + [-1]) + 1 if c > 0 else next_free.get(c, 0)
        else:
            ys = [row[id(p)] for p in n.inputs]
            y = sum(ys) / len(ys)
        # 同一列不重叠
        while any(abs(y - row[k]) < 0.99 for k in row if col[k] == c):
            y += 1
        row[id(n)] = y
        next_free[c] = max(next_free.get(c, 0), y + 1)
        taken.append(n)
    return {k: (col[k], row[k]) for k in col}


def render(graph, width=None, show_backward=True, highlight=None, caption=None):
    """caption: 图下方的说明文字：一个字符串，或若干行；一行也可以写成 ("wrong" 或 "ok", 文字) 来标红或标绿。"""
    pos = layout(graph)
    ncol = max((c for c, _ in pos.values()), default=0) + 1
    nrow = max((r for _, r in pos.values()), default=0) + 1
    left, top = 90, 50 if graph.title else 30
    lines = [caption] if isinstance(caption, str) else list(caption or [])
    lines = [(None, t) if isinstance(t, str) else (t[0], str(t[1])) for t in lines]
    W = max(left + ncol * COL_W + 110, 20 + max((text_width(t) for _, t in lines), default=0))
    H = top + nrow * ROW_H + 30 + CAPTION_H * len(lines)

    def xy(n):
        c, r = pos[id(n)]
        return left + c * COL_W, top + r * ROW_H + 20

    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
        'font-family="%s" font-size="14">' % (width or W, H * (width or W) / W, W, H, escape(FONT, quote=True)),
        '<defs><marker id="arr" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="%s"/></marker></defs>' % FORWARD,
    ]
    if graph.title:
        parts.append('<text x="%d" y="24" font-size="16" font-weight="bold">%s</text>' % (10, escape(graph.title)))

    for e in graph.edges:
        (x1, y1), (x2, y2) = xy(e.src), xy(e.dst)
        if e.src.kind == "op":
            x1 += R
        x2 -= R
        parts.append(_edge(x1, y1, x2, y2, e.value, e.grad if show_backward else None, e.mark, e.expected))

    for n in graph.nodes:
        x, y = xy(n)
        if n.kind == "input":
            parts.append('<text x="%d" y="%d" text-anchor="end" class="input">%s</text>' % (x - 4, y + 5, escape(n.label)))
        else:
            active = highlight is not None and n is highlight
            stroke = MARK_COLORS["active"] if active else FORWARD
            parts.append(
                '<circle cx="%d" cy="%d" r="%d" fill="%s" stroke="%s" stroke-width="%d"/>'
                % (x, y, R, "#fff7d6" if active else "#ffffff", stroke, 3 if active else 1.5)
            )
            size = 16 if len(n.label) <= 2 else max(9, 16 - 2 * (len(n.label) - 2))
            parts.append('<text x="%d" y="%d" text-anchor="middle" font-size="%d">%s</text>' % (x, y + 5, size, escape(n.label)))

    out = graph.output
    if out is not None:
        x, y = xy(out)
        x1 = x + (R if out.kind == "op" else 0)
        label = graph.output_label or ""
        grad = out.grad if show_backward else None
        parts.append(_edge(x1, y, x1 + 80, y, out.value, grad, None, None))
        if label:
            parts.append('<text x="%d" y="%d">%s</text>' % (x1 + 84, y + 5, escape(label)))
    y0 = top + nrow * ROW_H + 20
    for i, (mark, text) in enumerate(lines):
        parts.append('<text x="14" y="%d" fill="%s" class="caption">%s</text>'
                     % (y0 + CAPTION_H * i, MARK_COLORS.get(mark, FORWARD), escape(text)))
    parts.append("</svg>")
    return "\n".join(parts)


def _edge(x1, y1, x2, y2, value, grad, mark, expected):
    color = MARK_COLORS.get(mark, FORWARD)
    width = 3 if mark else 1.5
    # 数字写在靠近起点的位置：汇入同一个节点的几条边在那里分得最开
    t = 0.4 if abs(y2 - y1) > 1 else 0.5
    mx, my = x1 + t * (x2 - x1), y1 + t * (y2 - y1)
    s = ['<g class="edge">',
         '<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%s" marker-end="url(#arr)"/>'
         % (x1, y1, x2, y2, color, width)]
    if value is not None:
        s.append('<text x="%.1f" y="%.1f" text-anchor="middle" fill="%s"%s class="forward">%s</text>'
                 % (mx, my - 7, FORWARD, HALO, escape(_show(value))))
    if grad is not None:
        s.append('<text x="%.1f" y="%.1f" text-anchor="middle" fill="%s"%s class="backward">%s</text>'
                 % (mx, my + 19, BACKWARD, HALO, "← " + escape(_show(grad))))
    if expected is not None:
        s.append('<text x="%.1f" y="%.1f" text-anchor="middle" fill="%s"%s class="expected">应为 %s</text>'
                 % (mx, my + 36, MARK_COLORS["ok"], HALO, escape(_show(expected))))
    s.append("</g>")
    return "".join(s)


def _show(v):
    return v if isinstance(v, str) else fmt(v, 5)


def text_width(text, size=14):
    """粗略估计一行文字的像素宽度：汉字和全角符号按一个字号算，其余按 0.6 个字号。"""
    return int(sum(size if ord(ch) > 0x2E7F else 0.6 * size for ch in text))


_SIZE = re.compile(r'<svg\b[^>]*?\bwidth="([\d.]+)(pt|px)?"[^>]*?\bheight="([\d.]+)(pt|px)?"', re.S)


def stack(svgs, gap=10):
    """把几张 SVG（本模块画的图、matplotlib 存的图）上下拼成一张，返回 SVG 字符串。"""
    pieces, y, W = [], 0.0, 0.0
    for s in svgs:
        s = s[s.index("<svg"):]  # 去掉 XML 声明和 DOCTYPE
        m = _SIZE.match(s)
        if m is None:
            raise ValueError("stack() 只能拼接带 width/height 属性的 SVG")
        k = 4 / 3 if m.group(2) == "pt" else 1.0  # 1pt = 4/3 px
        w, h = float(m.group(1)) * k, float(m.group(3)) * k
        pieces.append('<svg x="0" y="%.1f"' % y + s[4:])
        y, W = y + h + gap, max(W, w)
    H = max(y - gap, 0)
    return ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            'width="%d" height="%d" viewBox="0 0 %d %d">\n' % (W, H, W, H) + "\n".join(pieces) + "\n</svg>")
