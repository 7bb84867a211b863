"""分层布局（Sugiyama 风格）：决定计算图里每个节点、每个边上标签放在哪里。只做几何，不画图。

图从左往右画，一列是一层：
1. 分层：运算节点按“离输入最远的步数”分层，输入节点放在第一个用到它的运算的前一层；
2. 两层节点之间各夹一列“标签列”：每条边在它离开起点后的第一个标签列里有一个标签块
   （正向值、反向值、“应为 …”摞在一起），边跨过更多层时，沿途每一列放一个看不见的虚节点，
   于是长边也是一节一节地画，不会穿过别的节点；
3. 排序：按相邻一列的平均位置（重心）来回排若干遍，再交换相邻两个试试，留下交叉最少的顺序；
4. 纵坐标：同一列里的东西按各自的高度留够间隔，再让每个节点尽量对齐它的邻居
   （带间隔约束的加权最小二乘，用“相邻违例合并”算法精确求解），直的链画出来就是直的。
列宽取这一列里最宽的东西，所以数字多长，列就多宽；列与列之间的空隙里只有边的曲线。
"""

__all__ = ["Box", "Layout", "layered"]

GAP_Y = 8  # 同一列里相邻两样东西之间至少留的空白
GAP_X = 24  # 两列之间给曲线留的空隙
SWEEPS = 8  # 排序时来回扫的遍数
ROUNDS = 4  # 求纵坐标时来回对齐的轮数


class Box:
    """一样要放进某一列里的东西：宽 width，中心线以上 top、以下 bottom 像素。"""

    def __init__(self, width=0.0, top=3.0, bottom=3.0):
        self.width, self.top, self.bottom = width, top, bottom


class Layout:
    """布局结果。

    rank[v]：v 所在的列号（节点在偶数列，标签和虚节点也可能在奇数列）；
    x[v]、y[v]：v 的中心；columns[r] = (左沿, 右沿)；
    chain[e]：边 e 依次经过的 [起点, 标签块, 虚节点..., 终点]；label[e]：边 e 的标签块；
    width、height：整张图（不含标题和说明）的大小。
    """

    def __init__(self):
        self.rank, self.x, self.y, self.columns, self.chain, self.label = {}, {}, {}, [], {}, {}
        self.width = self.height = 0.0


def layered(nodes, edges, kind, box, label_box):
    """nodes：节点的键（已按拓扑顺序）；edges：[(边的键, 起点, 终点)]；
    kind(v)：“input”、“op” 或 “sink”（输出箭头后面那段文字）；box(v) 和 label_box(e) 给出 Box。"""
    lay = Layout()
    preds = {v: [] for v in nodes}
    succs = {v: [] for v in nodes}
    for e, u, v in edges:
        preds[v].append(u)
        succs[u].append(v)
    rank = _ranks(nodes, preds, succs, kind)

    # ---- 标签块和虚节点：每条边拆成相邻两列之间的一节一节 ----------------------------
    boxes = {v: box(v) for v in nodes}
    up, down = {v: [] for v in nodes}, {v: [] for v in nodes}  # 每个点在左一列、右一列的邻居
    weight = {}
    for e, u, v in edges:
        chain, r = [u], rank[u] + 1
        lab = ("label", e)
        rank[lab], boxes[lab] = r, label_box(e)
        chain.append(lab)
        for r in range(rank[u] + 2, rank[v]):
            d = ("dummy", e, r)
            rank[d], boxes[d] = r, Box()
            chain.append(d)
        chain.append(v)
        for a, b in zip(chain, chain[1:]):
            down.setdefault(a, []).append(b)
            up.setdefault(b, []).append(a)
            virtual = (a not in preds) + (b not in preds)
            weight[(a, b)] = (1, 2, 8)[virtual]  # 长边中间的几节权重最大：尽量画直
        lay.chain[e], lay.label[e] = chain, lab
    for v in boxes:
        up.setdefault(v, [])
        down.setdefault(v, [])

    n_ranks = max(rank.values(), default=0) + 1
    layers = [[] for _ in range(n_ranks)]
    for v in nodes:
        layers[rank[v]].append(v)
    for v in boxes:  # 标签块和虚节点按边的顺序排在节点后面，排序时再挪到合适的位置
        if v not in preds:
            layers[rank[v]].append(v)
    _order(layers, up, down)
    _coordinates(lay, layers, boxes, up, down, weight)
    lay.rank = rank
    return lay


def _ranks(nodes, preds, succs, kind):
    """节点所在的列号：运算按离输入最远的步数；输入紧挨着第一个用到它的运算；sink 在它的起点后一层。"""
    level = {}
    for v in nodes:  # nodes 已按拓扑顺序排好
        if kind(v) == "op":
            level[v] = 1 + max((level.get(p, 0) for p in preds[v] if kind(p) == "op"), default=0)
    for v in nodes:
        if kind(v) == "input":
            users = [level[s] for s in succs[v] if s in level]
            level[v] = min(users) - 1 if users else 0
    for v in nodes:
        if kind(v) == "op":  # 输入挪动后，运算仍要在它所有输入的右边
            level[v] = max([level[v]] + [level[p] + 1 for p in preds[v]])
        if kind(v) == "sink":
            level[v] = 1 + max((level[p] for p in preds[v]), default=0)
    return {v: 2 * level[v] for v in nodes}


# ---- 排序：减少交叉 -----------------------------------------------------------------
def _order(layers, up, down):
    pos = {}

    def number(r):
        for i, v in enumerate(layers[r]):
            pos[v] = i

    for r in range(len(layers)):
        number(r)
    best, best_cross = [list(L) for L in layers], _crossings(layers, down, pos)
    for sweep in range(SWEEPS):
        rng = range(1, len(layers)) if sweep % 2 == 0 else range(len(layers) - 2, -1, -1)
        for r in rng:
            nbrs = up if sweep % 2 == 0 else down
            layers[r].sort(key=lambda v: _barycenter(v, nbrs[v], pos))
            number(r)
        c = _crossings(layers, down, pos)
        if c < best_cross:
            best, best_cross = [list(L) for L in layers], c
        if best_cross == 0:
            break
    layers[:] = best
    if best_cross:  # 最后在最好的顺序上逐对交换相邻的点，再去掉一些交叉
        for r in range(len(layers)):
            number(r)
        _transpose(layers, up, down, pos)
        if _crossings(layers, down, pos) > best_cross:
            layers[:] = best


def _barycenter(v, nbrs, pos):
    if not nbrs:
        return pos[v]
    ps = sorted(pos[n] for n in nbrs)
    m = len(ps) // 2  # 中位数：离群的一条长边不会把节点拉走
    return (ps[m] if len(ps) % 2 else (ps[m - 1] + ps[m]) / 2) + 1e-3 * pos[v]


def _pair_crossings(a, b):
    """a 里的点排在 b 前面时（a、b 是两点连到同一列的邻居位置），有几对边交叉。"""
    return sum(1 for x in a for y in b if x > y)


def _transpose(layers, up, down, pos):
    """逐个试着交换相邻的两点，交叉变少就换。"""
    improved, rounds = True, 0
    while improved and rounds < 2:
        improved, rounds = False, rounds + 1
        for layer in layers:
            for i in range(len(layer) - 1):
                u, v = layer[i], layer[i + 1]
                uu, vu = [pos[n] for n in up[u]], [pos[n] for n in up[v]]
                ud, vd = [pos[n] for n in down[u]], [pos[n] for n in down[v]]
                if not ((uu and vu) or (ud and vd)):
                    continue
                if _pair_crossings(vu, uu) + _pair_crossings(vd, ud) < _pair_crossings(uu, vu) + _pair_crossings(ud, vd):
                    layer[i], layer[i + 1] = v, u
                    pos[u], pos[v] = i + 1, i
                    improved = True


def _crossings(layers, down, pos):
    total = 0
    for layer in layers:
        segs = sorted((pos[u], pos[w]) for u in layer for w in down[u])
        for i, (a1, b1) in enumerate(segs):
            for a2, b2 in segs[i + 1:]:
                if a2 > a1 and b2 < b1:
                    total += 1
    return total


# ---- 坐标 ---------------------------------------------------------------------------
def _coordinates(lay, layers, boxes, up, down, weight):
    y = {}
    for layer in layers:  # 先从上往下紧紧排好
        t = 0.0
        for v in layer:
            t += boxes[v].top
            y[v] = t
            t += boxes[v].bottom + GAP_Y

    left = {v: [(n, weight[(n, v)]) for n in up[v]] for v in y}
    right = {v: [(n, weight[(v, n)]) for n in down[v]] for v in y}
    seps = [[boxes[a].bottom + boxes[b].top + GAP_Y for a, b in zip(layer, layer[1:])] for layer in layers]

    def align(r, use_up, use_down):
        want = []
        for v in layers[r]:
            nb = (left[v] if use_up else []) + (right[v] if use_down else [])
            w = s = 0.0
            for n, k in nb:
                w += k
                s += y[n] * k
            want.append((s / w, w) if w else (y[v], 0.05))
        for v, yy in zip(layers[r], _fit(want, seps[r])):
            y[v] = yy

    n = len(layers)
    for k in range(ROUNDS):
        for r in range(1, n):
            align(r, True, k >= ROUNDS - 2)
        for r in range(n - 2, -1, -1):
            align(r, k >= ROUNDS - 2, True)
    top = min((y[v] - boxes[v].top for v in y), default=0.0)
    bottom = max((y[v] + boxes[v].bottom for v in y), default=0.0)
    x = 0.0
    for layer in layers:
        w = max((boxes[v].width for v in layer), default=0.0)
        lay.columns.append((x, x + w))
        for v in layer:
            lay.x[v], lay.y[v] = x + w / 2, y[v] - top
        x += w + GAP_X
    lay.width, lay.height = max(x - GAP_X, 0.0), bottom - top


def _fit(want, seps):
    """在 y[i+1] - y[i] >= seps[i] 的约束下，使 Σ w_i (y_i - d_i)² 最小（want = [(d_i, w_i)]）。

    令 z_i = y_i - (seps 的前缀和)，约束变成 z 单调不减，就是加权保序回归：相邻违例合并（PAVA）。
    """
    offs, c = [], 0.0
    for i in range(len(want)):
        offs.append(c)
        if i < len(seps):
            c += seps[i]
    blocks = []  # [加权平均, 权重, 个数]
    for (d, w), o in zip(want, offs):
        blocks.append([d - o, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, n2 = blocks.pop()
            m1, w1, n1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    z = [m for m, _, k in blocks for _ in range(k)]
    return [zi + o for zi, o in zip(z, offs)]
