"""数一张计算图 SVG 里看不清的地方：读出课程画的 SVG，像浏览器那样估计每段文字占的框，再找三类毛病。

- label-label：两段文字的框互相重叠；
- label-node：文字压在一个不属于它的节点上（节点自己的名字写在圆圈里，不算）；
- edge-node：一条边从一个它并不连接的节点中间穿过去。
另外也数 edge-label：一条边穿过别的边上的数字（课程的图也要求为零）。

文字宽度按浏览器里 Noto Sans CJK 的样子估计：汉字、全角符号和箭头一个字号宽，
数字和拉丁字母约 0.6 个字号；框的上下沿用这种字体的行高（基线上 1.16、下 0.29 个字号）。
不依赖 course.graph.svg 里的任何估计，所以画图代码估计错了这里能发现。
"""
import math
import re
import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"
ASCENT, DESCENT = 1.16, 0.29  # Noto Sans CJK 的行框（以字号为单位）
KINDS = ("label-label", "label-node", "edge-node", "edge-label")


def char_width(ch):
    o = ord(ch)
    if o > 0x2E7F or 0x2190 <= o <= 0x2BFF or 0x2000 <= o <= 0x206F and ch not in " ":
        return 1.0  # 汉字、全角标点、箭头和数学符号（CJK 字体里是全角）
    if ch in "il.,:;'|!()[] ":
        return 0.35 if ch not in "()[]" else 0.4
    if ch in "mwMW":
        return 0.85
    return 0.6


def text_box(x, y, text, size, anchor):
    w = sum(char_width(c) for c in text) * size
    left = x - {"middle": w / 2, "end": w}.get(anchor, 0)
    return (left, y - ASCENT * size, left + w, y + DESCENT * size)


class Text:
    def __init__(self, box, text, owner, cls):
        self.box, self.text, self.owner, self.cls = box, text, owner, cls
        self.anchor = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


class Shape:
    """节点：圆（ellipse 也按 rx、ry 处理）或输入的文字框。"""

    def __init__(self, cx, cy, rx, ry, text=None):
        self.cx, self.cy, self.rx, self.ry, self.text = cx, cy, rx, ry, text

    def inside(self, px, py, shrink=0.0):
        if self.text is not None:
            l, t, r, b = self.text.box
            return l + shrink < px < r - shrink and t + shrink < py < b - shrink
        rx, ry = self.rx - shrink, self.ry - shrink
        return rx > 0 and ry > 0 and ((px - self.cx) / rx) ** 2 + ((py - self.cy) / ry) ** 2 < 1

    def near(self, px, py, slack=9.0):
        if self.text is not None:
            l, t, r, b = self.text.box
            return l - slack <= px <= r + slack and t - slack <= py <= b + slack
        return ((px - self.cx) / (self.rx + slack)) ** 2 + ((py - self.cy) / (self.ry + slack)) ** 2 <= 1

    def hits_box(self, box):
        if self.text is not None:
            return overlap(self.text.box, box)
        l, t, r, b = box  # 框内离圆心最近的点是否在圆内
        px, py = min(max(self.cx, l), r), min(max(self.cy, t), b)
        return self.inside(px, py, shrink=1.0)

    def __repr__(self):
        return "节点(%s @ %.0f,%.0f)" % (self.text.text if self.text else "圆", self.cx, self.cy)


class Path:
    def __init__(self, points, owner):
        self.points, self.owner = points, owner


def overlap(a, b, slack=0.5):
    return a[0] < b[2] - slack and b[0] < a[2] - slack and a[1] < b[3] - slack and b[1] < a[3] - slack


def _num(el, name, default=0.0):
    v = el.get(name)
    return float(re.sub(r"(px|pt)$", "", v)) if v not in (None, "") else default


def _path_points(d, steps=16):
    tokens = re.findall(r"[MLHVCQZmlhvcqz]|-?\d*\.?\d+(?:e-?\d+)?", d)
    pts, i, cmd, cur = [], 0, None, (0.0, 0.0)
    while i < len(tokens):
        if tokens[i].isalpha():
            cmd = tokens[i]
            i += 1
            if cmd in "Zz":
                if pts:
                    pts.append(pts[0])
                continue
        n = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "Q": 4}[cmd.upper()]
        vals = [float(t) for t in tokens[i:i + n]]
        i += n
        if cmd.islower():  # 相对坐标
            vals = [v + (cur[0] if k % 2 == 0 else cur[1]) for k, v in enumerate(vals)] if cmd not in "hv" else \
                [vals[0] + (cur[0] if cmd == "h" else cur[1])]
        c = cmd.upper()
        if c in "ML":
            cur = (vals[0], vals[1])
            pts.append(cur)
        elif c == "H":
            cur = (vals[0], cur[1])
            pts.append(cur)
        elif c == "V":
            cur = (cur[0], vals[0])
            pts.append(cur)
        else:
            p0, ctrl = cur, [(vals[k], vals[k + 1]) for k in range(0, n, 2)]
            for s in range(1, steps + 1):
                t = s / steps
                if c == "C":
                    (x1, y1), (x2, y2), (x3, y3) = ctrl
                    x = (1 - t) ** 3 * p0[0] + 3 * (1 - t) ** 2 * t * x1 + 3 * (1 - t) * t * t * x2 + t ** 3 * x3
                    y = (1 - t) ** 3 * p0[1] + 3 * (1 - t) ** 2 * t * y1 + 3 * (1 - t) * t * t * y2 + t ** 3 * y3
                else:
                    (x1, y1), (x2, y2) = ctrl
                    x = (1 - t) ** 2 * p0[0] + 2 * (1 - t) * t * x1 + t * t * x2
                    y = (1 - t) ** 2 * p0[1] + 2 * (1 - t) * t * y1 + t * t * y2
                pts.append((x, y))
            cur = ctrl[-1]
    return pts


def _is_plot(svg_el):
    """matplotlib 画的曲线图（stack 拼在计算图下面）不是计算图，不检查。"""
    return any(el.tag == NS + "metadata" or (el.get("id") or "").startswith("figure_") for el in svg_el.iter())


def graphs_in(svg_text):
    """把一段 SVG 拆成若干张计算图（stack 拼起来的每张单独算），每张是 (texts, shapes, paths)。"""
    root = ET.fromstring(svg_text[svg_text.index("<svg"):])
    found = []

    def collect(svg_el, dx, dy, size):
        texts, shapes, paths = [], [], []
        size = _num(svg_el, "font-size", size)

        def walk(el, size, owner):
            for ch in el:
                tag = ch.tag.replace(NS, "")
                fs = _num(ch, "font-size", size)
                if tag in ("defs", "marker", "metadata", "title", "style"):
                    continue
                if tag == "svg":
                    if not _is_plot(ch):
                        collect(ch, dx + _num(ch, "x"), dy + _num(ch, "y"), fs)
                    continue
                if tag == "g":
                    walk(ch, fs, ch if "edge" in (ch.get("class") or "").split() else owner)
                elif tag == "text":
                    content = "".join(ch.itertext())
                    if not content.strip():
                        continue
                    box = text_box(dx + _num(ch, "x"), dy + _num(ch, "y"), content, fs, ch.get("text-anchor", "start"))
                    t = Text(box, content, owner, ch.get("class") or "")
                    texts.append(t)
                    if t.cls == "input":
                        shapes.append(Shape(*t.anchor, 0, 0, text=t))
                elif tag in ("circle", "ellipse") and owner is None:
                    rx = _num(ch, "r") if tag == "circle" else _num(ch, "rx")
                    ry = _num(ch, "r") if tag == "circle" else _num(ch, "ry")
                    shapes.append(Shape(dx + _num(ch, "cx"), dy + _num(ch, "cy"), rx, ry))
                elif tag == "line":
                    paths.append(Path([(dx + _num(ch, "x1"), dy + _num(ch, "y1")),
                                       (dx + _num(ch, "x2"), dy + _num(ch, "y2"))], owner))
                elif tag in ("path", "polyline"):
                    if tag == "path":
                        pts = _path_points(ch.get("d", ""))
                    else:
                        nums = [float(v) for v in re.findall(r"-?\d*\.?\d+", ch.get("points", ""))]
                        pts = list(zip(nums[::2], nums[1::2]))
                    paths.append(Path([(x + dx, y + dy) for x, y in pts], owner))

        walk(svg_el, size, None)
        if shapes or paths or texts:
            found.append((texts, shapes, paths))

    collect(root, 0.0, 0.0, 16.0)
    return found


def _seg_hits_box(p, q, box, shrink=1.0):
    """线段 pq 是否进入框的内部（框四周各收进 shrink 像素）：Liang–Barsky 裁剪。"""
    l, t, r, b = box[0] + shrink, box[1] + shrink, box[2] - shrink, box[3] - shrink
    if l >= r or t >= b:
        return False
    t0, t1 = 0.0, 1.0
    dx, dy = q[0] - p[0], q[1] - p[1]
    for den, num in ((-dx, p[0] - l), (dx, r - p[0]), (-dy, p[1] - t), (dy, b - p[1])):
        if den == 0:
            if num < 0:
                return False
        else:
            k = num / den
            if den < 0:
                t0 = max(t0, k)
            else:
                t1 = min(t1, k)
            if t0 > t1:
                return False
    return t1 - t0 > 1e-9


def _seg_hits_shape(p, q, shape, shrink):
    if shape.text is not None:
        return _seg_hits_box(p, q, shape.text.box, shrink)
    rx, ry = shape.rx - shrink, shape.ry - shrink
    if rx <= 0 or ry <= 0:
        return False
    # 把椭圆压成单位圆，看线段离圆心最近的距离
    ax, ay = (p[0] - shape.cx) / rx, (p[1] - shape.cy) / ry
    bx, by = (q[0] - shape.cx) / rx, (q[1] - shape.cy) / ry
    dx, dy = bx - ax, by - ay
    L = dx * dx + dy * dy
    t = 0.0 if L == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / L))
    return (ax + t * dx) ** 2 + (ay + t * dy) ** 2 < 1


def _hits(pts, test, box):
    """折线 pts 的某一段是否满足 test；先用外接框排除离得远的段。"""
    for p, q in zip(pts, pts[1:]):
        if max(p[0], q[0]) < box[0] or min(p[0], q[0]) > box[2] or max(p[1], q[1]) < box[1] or min(p[1], q[1]) > box[3]:
            continue
        if test(p, q):
            return True
    return False


def find_defects(svg_text):
    """返回 [(种类, 说明)]；种类见 KINDS。"""
    defects = []
    for texts, shapes, paths in graphs_in(svg_text):
        circles = [s for s in shapes if s.text is None]
        owner_of = {}
        for t in texts:  # 节点自己的名字：文字的中心落在圆里
            owner_of[id(t)] = next((s for s in circles if s.inside(*t.anchor)), None)
        for i, a in enumerate(texts):
            for b in texts[i + 1:]:
                if overlap(a.box, b.box):
                    defects.append(("label-label", "%r 和 %r 重叠" % (a.text, b.text)))
            for s in shapes:
                if s is owner_of[id(a)] or s.text is a:
                    continue
                if s.hits_box(a.box):
                    defects.append(("label-node", "%r 压在 %r 上" % (a.text, s)))
        for path in paths:
            pts = path.points
            if len(pts) < 2:
                continue
            ends = [s for s in shapes if s.near(*pts[0]) or s.near(*pts[-1])]
            for s in shapes:
                if s in ends:
                    continue
                if _hits(pts, lambda p, q: _seg_hits_shape(p, q, s, 1.0), (s.cx - s.rx, s.cy - s.ry, s.cx + s.rx, s.cy + s.ry)
                         if s.text is None else s.text.box):
                    defects.append(("edge-node", "一条边穿过 %r" % s))
            for t in texts:
                if t.cls == "input" or owner_of[id(t)] is not None or (path.owner is not None and t.owner is path.owner):
                    continue
                if _hits(pts, lambda p, q: _seg_hits_box(p, q, t.box), t.box):
                    defects.append(("edge-label", "一条边穿过文字 %r" % t.text))
    return defects


def count(svg_text):
    """{种类: 个数}"""
    out = dict.fromkeys(KINDS, 0)
    for kind, _ in find_defects(svg_text):
        out[kind] += 1
    return out
