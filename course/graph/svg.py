"""把 course.graph.model.Graph 画成内联 SVG。

JupyterLab 直接显示 SVG，中文标签用浏览器自己的字体，不需要 graphviz 之类的外部程序。
节点和标签放在哪里由 course.graph.layout 的分层布局决定；这里只负责量出每样东西有多大、再把它画出来：
- 边上方是正向值（黑色），下方是反向值（红色，前面带 “←”），诊断图再往下写“应为 …”（绿色）；
- 算错的边画成橙色粗虚线，标签旁边有一个 ✗ 记号；节点自己收齐的梯度不对（node.mark == "wrong"）时，
  输入节点的名字、运算节点的圆圈标成橙色并带一个 ✗；图下方自动加一行图例（红色只表示反向值）；
- 颜色跟着 JupyterLab 的主题走（浅色、深色都看得清），见下面的 PALETTE；
- 边的值若是字符串（例如形状 "(2, 3)"）就原样写出；caption 是画在图下方的几行说明；
- 图比笔记本的一栏宽时按比例缩小（max-width: 100%），不会出现横向滚动条；
- stack() 把几张 SVG 上下拼成一张（交互图的静态版本用它把计算图和函数曲线放在一起）。
"""
import re
from html import escape

from ..fmt import fmt
from .layout import Box, layered

__all__ = ["render", "stack", "text_width", "paint", "PALETTE", "MARK_COLORS"]

SIZE = 14  # 边上数字和说明文字的字号
ASCENT, DESCENT = 1.16, 0.29  # 浏览器里 Noto Sans CJK 的行框：基线以上、以下各占几个字号
LINE = round((ASCENT + DESCENT) * SIZE) + 1  # 标签块里相邻两行的距离
R = 22  # 运算节点的半径
# 颜色：用途 -> (浅色, 深色)。浅色值写成属性（fill="…"），深色值只在深色的页面上通过 CSS 变量 --cg-用途 换上：
# - 图内嵌在页面里（控件 widgets.HTML、nbconvert、nbgrader 反馈）：前景和底色直接用 JupyterLab 主题的变量
#   --jp-content-font-color0、--jp-layout-color0；其余颜色在 JupyterLab 的深色主题里
#   （body[data-jp-theme-light="false"]）换成深色值；没有这些变量的页面（静态 HTML、反馈）用浅色值，和以前一样；
# - JupyterLab 把 image/svg+xml 显示成 <img>，图里看不到页面的变量，只看得到嵌入它的元素的配色
#   （JupyterLab 在 body 上设 color-scheme，浏览器把它当作图里的 prefers-color-scheme）：深色时换成深色值；
# - 图自己铺一层底色（bg），所以不管放在哪里，文字、边和底色总是配套的。
# 对比度（WCAG）：文字对底色至少 4.5:1，边、箭头和圈至少 3:1；红色（反向值）和橙色（算错）两种主题里都分得开。
# tests/test_graph_browser.py 在 Chromium 里按浅色、深色两种主题量这些对比度。
PALETTE = {
    "fg": ("#1f2328", "#e6edf3"),  # 正向值、标签、边、节点的圈、说明文字
    "bg": ("#ffffff", "#111111"),  # 底色，也是数字外面描的一圈
    "backward": ("#d1242f", "#ff6b6b"),  # 反向值（红）
    "ok": ("#1a7f37", "#3fb950"),  # “应为 …”、与期望一致的边（绿）
    "wrong": ("#bc4c00", "#ffa657"),  # 算错的边、✗ 记号（橙）
    "active": ("#b07800", "#f0a500"),  # 逐步演示中当前的边和节点（琥珀色）
    "active-fill": ("#fff7d6", "#3d2e00"),  # 当前节点的底色
    "legend": ("#57606a", "#9198a1"),  # 图例（灰）
}
THEME_VARS = {"fg": "--jp-content-font-color0", "bg": "--jp-layout-color0"}  # 页面上有 JupyterLab 的变量时优先用
MARK_COLORS = {k: PALETTE[k][0] for k in ("active", "wrong", "ok", "legend")}
EDGE_STYLE = {None: ("fg", 1.5, ""), "active": ("active", 3, ""), "ok": ("ok", 3, ""),
              "wrong": ("wrong", 3.5, ' stroke-dasharray="8 5"')}
CAPTION_COLOR = {None: "fg", "active": "active", "wrong": "wrong", "ok": "ok", "legend": "legend"}
_DARK = ";".join("--cg-%s:%s" % (k, dark) for k, (_, dark) in PALETTE.items())
STYLE = ('<style>[data-jp-theme-light="false"] .cgraph{%s}'
         "@media (prefers-color-scheme: dark){svg:root.cgraph,svg:root .cgraph{%s}}</style>" % (_DARK, _DARK))


def _css(role):
    value = "var(--cg-%s, %s)" % (role, PALETTE[role][0])
    return "var(%s, %s)" % (THEME_VARS[role], value) if role in THEME_VARS else value


def paint(**roles):
    """颜色属性：paint(fill="fg", stroke="bg") -> ' fill="#1f2328" stroke="#ffffff" style="fill:var(…);stroke:var(…)"'。

    属性给不认 CSS 变量的渲染器（转 PDF 之类）看；浏览器用 style 里跟着主题变的颜色。
    """
    attrs = "".join(' %s="%s"' % (prop, PALETTE[role][0]) for prop, role in roles.items())
    return attrs + ' style="%s"' % ";".join("%s:%s" % (prop, _css(role)) for prop, role in roles.items())


# 边上的数字描一圈底色，压在线上也看得清
HALO = ' stroke-width="4" stroke-linejoin="round" paint-order="stroke"'
CAPTION_H = 22  # 说明文字的行高
MARGIN = 14
FONT = "'Noto Sans CJK SC', 'Source Han Sans SC', 'PingFang SC', 'Microsoft YaHei', sans-serif"
LEGEND = "图例：橙色粗虚线加 ✗ 的边是算错的反向值，下方绿字“应为 …”是它应有的值；红色数字是反向值（导数）"
NODE_LEGEND = "名字或圆圈标成橙色加 ✗ 的节点：它自己收齐的 grad 不对（叶子写成“∂得到≠应为”）；没有标出的边，值都是对的"


def text_width(text, size=SIZE):
    """估计一行文字在浏览器里的像素宽度：汉字、全角符号、箭头按一个字号算，其余按 0.6 个字号。"""
    return sum(size if _wide(ch) else 0.6 * size for ch in str(text))


def _wide(ch):
    o = ord(ch)
    return o > 0x2E7F or 0x2000 <= o <= 0x2BFF


def _show(v):
    return v if isinstance(v, str) else fmt(v, 5)


class _Out:
    """输出箭头右边那段文字（output_label），在布局里当作一个节点。"""

    kind = "sink"


class _OutEdge:
    """从输出节点伸出去的那条箭头：上面写输出的值，下面写输出处的导数。"""

    mark = expected = None

    def __init__(self, node, show_backward):
        self.src, self.value = node, node.value
        self.grad = node.grad if show_backward else None


def _node_font(label):
    """运算节点里文字的字号和节点的横向半径：名字长就用小一号的字，把圆拉成椭圆。"""
    if text_width(label, 16) <= 2 * R - 10:
        return 16, R
    return 13, max(R, text_width(label, 13) / 2 + 8)


def _label_lines(e, show_backward):
    """一条边的标签块：[(class, 文字, 颜色的用途, 基线相对边的偏移)]，从上到下。"""
    lines = []
    if e.value is not None:
        lines.append(("forward", _show(e.value), "fg", -round(DESCENT * SIZE) - 3))
    below = round(ASCENT * SIZE) + 3
    grad = e.grad if show_backward else None
    if grad is not None:
        lines.append(("backward", "← " + _show(grad), "backward", below))
        below += LINE
    if e.expected is not None:
        lines.append(("expected", "应为 " + _show(e.expected), "ok", below))
    return lines


BADGE = 22  # ✗ 记号占的宽度


def _label_box(lines, wrong):
    width = max([text_width(t) for _, t, _, _ in lines] + [0]) + (2 * BADGE if wrong else 0)
    top = -min([dy for *_, dy in lines if dy < 0] + [0]) + ASCENT * SIZE + 1 if lines and lines[0][3] < 0 else 4
    lows = [dy for *_, dy in lines if dy > 0]
    bottom = (max(lows) + DESCENT * SIZE + 1) if lows else (4 if not wrong else 12)
    return Box(width + 8, top, bottom)


def render(graph, width=None, show_backward=True, highlight=None, caption=None):
    """caption: 图下方的说明文字：一个字符串，或若干行；一行也可以写成 ("wrong" 或 "ok", 文字) 来标色。"""
    lines = [caption] if isinstance(caption, str) else list(caption or [])
    lines = [(None, t) if isinstance(t, str) else (t[0], str(t[1])) for t in lines]
    if any(e.mark == "wrong" for e in graph.edges):
        lines.append(("legend", LEGEND + ("，绿色的边与期望一致" if any(e.mark == "ok" for e in graph.edges) else "")))
    if any(_wrong(v) for v in graph.nodes):
        lines.append(("legend", ("" if lines and lines[-1][0] == "legend" else "图例：") + NODE_LEGEND))

    nodes = graph.topo_order()
    edges = [(e, e.src, e.dst) for e in graph.edges]
    sink = None
    if graph.output is not None:
        sink = _Out()
        out_edge = _OutEdge(graph.output, show_backward)
        edges.append((out_edge, graph.output, sink))
        nodes = nodes + [sink]
    labels = {id(e): _label_lines(e, show_backward) for e, _, _ in edges}
    out_text = graph.output_label or ""

    def box(v):
        if v is sink:
            return Box(text_width(out_text) + 10, 12, 10)
        if v.kind == "input":  # 标成橙色的名字左边还有一个 ✗
            return Box(text_width(v.label) + 8 + BADGE * _wrong(v), round(ASCENT * SIZE) - 4, round(DESCENT * SIZE) + 6)
        _, rx = _node_font(v.label)
        return Box(2 * rx + 4, R + 2 + 20 * _wrong(v), R + 2)  # 标成橙色的圆圈上方还有一个 ✗

    lay = layered(nodes, edges, lambda v: v.kind, box,
                  lambda e: _label_box(labels[id(e)], e.mark == "wrong"))

    top = 46 if graph.title else MARGIN
    left = MARGIN
    graph_w, graph_h = lay.width, lay.height
    W = max(left + graph_w + MARGIN,
            20 + (text_width(graph.title, 16) if graph.title else 0),
            2 * MARGIN + max((text_width(t) for _, t in lines), default=0))
    y0 = top + graph_h + 14 + round(ASCENT * SIZE)
    H = (y0 + CAPTION_H * (len(lines) - 1) + 10) if lines else top + graph_h + MARGIN
    W, H = round(W), round(H)

    def X(v):
        return left + lay.x[v]

    def Y(v):
        return top + lay.y[v]

    def col(v):
        a, b = lay.columns[lay.rank[v]]
        return left + a, left + b

    # 每个节点上，几条进来的边和几条出去的边各自错开一点，按另一端的高低排好，不在节点处交叉
    port, ins, outs = {}, {}, {}
    for c in lay.chain.values():
        ins.setdefault(id(c[-1]), []).append(c)
        outs.setdefault(id(c[0]), []).append(c)
    for v in nodes:
        for side, chains in (("in", ins.get(id(v), [])), ("out", outs.get(id(v), []))):
            chains.sort(key=lambda c: Y(c[-2] if side == "in" else c[1]))
            k = len(chains)
            spread = 0 if k < 2 else min(R * 0.5 if getattr(v, "kind", "") == "op" else 5, 5 * (k - 1))
            for i, c in enumerate(chains):
                port[(side, id(c))] = -spread + (2 * spread * i / (k - 1) if k > 1 else 0)

    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" class="cgraph" viewBox="0 0 %d %d" width="%d" height="%d" '
        'style="max-width:100%%;height:auto" font-family="%s" font-size="%d">'
        % (W, H, width or W, round(H * (width or W) / W), escape(FONT, quote=True), SIZE),
        STYLE,
        "<defs>%s</defs>" % "".join(
            '<marker id="arr-%s" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="%d" markerHeight="%d" '
            'markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"%s/></marker>'
            % (name or "plain", 10 + 2 * (name is not None), 10 + 2 * (name is not None), paint(fill=role))
            for name, (role, _, _) in EDGE_STYLE.items()),
        '<rect class="bg" x="0" y="0" width="%d" height="%d"%s/>' % (W, H, paint(fill="bg")),
    ]
    if graph.title:
        parts.append('<text x="10" y="26" font-size="16" font-weight="bold"%s class="title">%s</text>'
                     % (paint(fill="fg"), escape(graph.title)))

    for e, u, v in edges:
        chain = lay.chain[e]
        parts.append(_edge(e, chain, labels[id(e)], port[("out", id(chain))], port[("in", id(chain))],
                           X, Y, col, sink))

    for v in nodes:
        x, y = X(v), Y(v)
        if v is sink:
            if out_text:
                parts.append('<text x="%.1f" y="%.1f"%s class="output">%s</text>'
                             % (col(v)[0] + 6, y + 5, paint(fill="fg"), escape(out_text)))
        elif v.kind == "input":
            right = col(v)[1] - 4
            if _wrong(v):  # 名字写成橙色粗体，左边一个 ✗
                parts.append('<g class="node wrong"><text x="%.1f" y="%.1f" text-anchor="end" font-weight="bold"%s '
                             'class="input">%s</text>%s</g>'
                             % (right, y + 5, paint(fill="wrong"), escape(v.label),
                                _badge(right - text_width(v.label) - BADGE / 2 - 2, y)))
            else:
                parts.append('<text x="%.1f" y="%.1f" text-anchor="end"%s class="input">%s</text>'
                             % (right, y + 5, paint(fill="fg"), escape(v.label)))
        else:
            active = highlight is not None and v is highlight
            flagged = _wrong(v) and not active  # 圆圈画成橙色粗虚线，正上方一个 ✗
            size, rx = _node_font(v.label)
            shape = ('<circle cx="%.1f" cy="%.1f" r="%d"' % (x, y, R) if rx == R else
                     '<ellipse cx="%.1f" cy="%.1f" rx="%.1f" ry="%d"' % (x, y, rx, R))
            if active:
                colors, width = paint(fill="active-fill", stroke="active"), 3
            elif flagged:
                colors, width = paint(fill="bg", stroke="wrong") + EDGE_STYLE["wrong"][2], 3
            else:
                colors, width = paint(fill="bg", stroke="fg"), 1.5
            parts.append('%s%s%s stroke-width="%s"/>' % ('<g class="node wrong">' if flagged else "", shape, colors, width))
            parts.append('<text x="%.1f" y="%.1f" text-anchor="middle" font-size="%d"%s class="node">%s</text>'
                         % (x, y + round(0.35 * size), size, paint(fill="fg"), escape(v.label)))
            if flagged:
                parts.append(_badge(x, y - R - 11) + "</g>")

    for i, (mark, text) in enumerate(lines):
        parts.append('<text x="%d" y="%d"%s class="caption">%s</text>'
                     % (MARGIN, y0 + CAPTION_H * i, paint(fill=CAPTION_COLOR.get(mark, "fg")), escape(text)))
    parts.append("</svg>")
    return "\n".join(parts)


def _port_x(v, dy, side, X, col):
    """边在节点 v 上的接点：圆（椭圆）的边上与中心高度差 dy 的那一点；输入节点在文字的右端。"""
    if getattr(v, "kind", "") == "input":
        return col(v)[1]
    if getattr(v, "kind", "") == "sink":
        return col(v)[0] + 2
    _, rx = _node_font(v.label)
    half = rx * (1 - (dy / R) ** 2) ** 0.5
    return X(v) + (half if side == "out" else -half - 1)


def _edge(e, chain, lines, out_dy, in_dy, X, Y, col, sink):
    """一条边：从起点出发，在每一列里水平走，在两列之间用三次贝塞尔曲线过渡；标签写在第一个标签列。"""
    u, v = chain[0], chain[-1]
    role, width, dash = EDGE_STYLE.get(e.mark, EDGE_STYLE[None])
    sy = Y(u) + out_dy
    d = ["M%.1f,%.1f H%.1f" % (_port_x(u, out_dy, "out", X, col), sy, col(u)[1])]
    px, py = col(u)[1], sy
    for w in chain[1:]:
        wl, wr = col(w)
        wy = Y(w) + (in_dy if w is v else 0)
        mx = (px + wl) / 2
        d.append("C%.1f,%.1f %.1f,%.1f %.1f,%.1f" % (mx, py, mx, wy, wl, wy))
        end = _port_x(v, in_dy, "in", X, col) if w is v else wr
        d.append("H%.1f" % end)
        px, py = end, wy
    s = ['<g class="edge%s">' % (" " + e.mark if e.mark else ""),
         '<path d="%s" fill="none" stroke="%s" stroke-width="%s"%s style="stroke:%s" marker-end="url(#arr-%s)"/>'
         % (" ".join(d), PALETTE[role][0], width, dash, _css(role), e.mark or "plain")]
    lab = chain[1]
    lx, ly = X(lab), Y(lab)
    for cls, text, role, dy in lines:
        s.append('<text x="%.1f" y="%.1f" text-anchor="middle"%s%s class="%s">%s</text>'
                 % (lx, ly + dy, paint(fill=role, stroke="bg"), HALO, cls, escape(text)))
    if e.mark == "wrong":
        # ✗ 记号放在最下面一行文字的左边；没有文字时放在边的下方
        if lines:
            _, text, _, dy = lines[-1]
            bx, by = lx - text_width(text) / 2 - BADGE / 2 - 2, ly + dy - round(0.35 * SIZE)
        else:
            bx, by = lx, ly + 10
        s.append(_badge(bx, by))
    s.append("</g>")
    return "".join(s)


def _wrong(v):
    return getattr(v, "mark", None) == "wrong"


def _badge(bx, by):
    """✗ 记号：橙色的圆点里一个白色的 ✗，圆心在 (bx, by)。"""
    return ('<circle cx="%.1f" cy="%.1f" r="8"%s class="badge"/>' % (bx, by, paint(fill="wrong"))
            + '<text x="%.1f" y="%.1f" text-anchor="middle" font-size="11" font-weight="bold"%s '
              'class="badge">✗</text>' % (bx, by + 4, paint(fill="bg")))


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
            'width="%d" height="%d" viewBox="0 0 %d %d" style="max-width:100%%;height:auto">\n'
            % (W, H, W, H) + "\n".join(pieces) + "\n</svg>")
