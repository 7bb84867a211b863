"""计算图的布局：课程画出的每一张图里，文字不互相压住，不压在别的节点上，边不从无关的节点中间穿过。

svg_defects.find_defects 读 SVG、按浏览器的样子估计文字大小来数这些毛病。先证明它真能数出来
（故意画坏的 SVG），再拿它检查六课 notebook 画出的每一张图、课程函数画的图和许多随机图。
"""
import os
from pathlib import Path

import pytest

from course.graph.autodiff import to_graph
from course.checks.diagnosis import diagnose_apple_orange, diagnose_graph
from course.graph.examples import affine_shapes_graph, apple_orange_graph, sigmoid_graph, square_of_sum_graph
from course.widgets.explorers import chain_rule_explorer, shapes_playground, shopping_explorer, sigmoid_explorer
from course.graph.model import Graph
from course.widgets.stepper import BackwardStepper
from graph_samples import Value, backward_layer_by_layer, random_graph, random_value
from svg_defects import count, find_defects, text_box

ROOT = Path(__file__).resolve().parent.parent
HEAD = '<svg xmlns="http://www.w3.org/2000/svg" font-size="14">'


def kinds(svg):
    return sorted(kind for kind, _ in find_defects(svg))


# ---- 计数器本身 ------------------------------------------------------------------------
def test_text_boxes_are_estimated_like_a_browser():
    l, t, r, b = text_box(100, 50, "应为 3.24", 14, "middle")
    assert r - l == pytest.approx(2 * 14 + 0.35 * 14 + 3 * 0.6 * 14 + 0.35 * 14)  # 两个汉字全宽，数字约 0.6
    assert b - t == pytest.approx(1.45 * 14)
    l2, _, r2, _ = text_box(100, 50, "x", 14, "end")
    assert r2 == 100 and l2 == pytest.approx(100 - 0.6 * 14)


def test_overlapping_labels_are_counted():
    svg = HEAD + '<text x="100" y="50">← 3.2</text><text x="110" y="55">应为 1.6</text>' \
                 '<text x="300" y="50">far away</text></svg>'
    assert kinds(svg) == ["label-label"]


def test_label_on_a_node_that_is_not_its_own_is_counted():
    svg = HEAD + '<circle cx="100" cy="100" r="22"/><text x="100" y="105" text-anchor="middle">+</text>' \
                 '<text x="112" y="100">-1.08</text></svg>'
    assert kinds(svg) == ["label-node"]  # “+” 是节点自己的名字，不算；“-1.08” 压在圆上


def test_edge_through_an_unconnected_node_is_counted():
    nodes = '<circle cx="100" cy="100" r="22"/><circle cx="200" cy="100" r="22"/><circle cx="300" cy="100" r="22"/>'
    through = HEAD + nodes + '<g class="edge"><line x1="122" y1="100" x2="278" y2="100"/></g></svg>'
    around = HEAD + nodes + '<g class="edge"><path d="M122,100 C160,100 160,160 200,160 H240 C260,160 260,100 278,100"/></g></svg>'
    assert kinds(through) == ["edge-node"]  # 从第一个圆连到第三个，中间那个被穿过
    assert kinds(around) == []  # 曲线绕开了中间的圆


def test_curves_are_sampled_not_just_their_end_points():
    svg = HEAD + '<circle cx="200" cy="100" r="22"/><circle cx="100" cy="160" r="22"/><circle cx="300" cy="160" r="22"/>' \
                 '<g class="edge"><path d="M122,160 C180,70 220,70 278,160"/></g></svg>'
    assert kinds(svg) == ["edge-node"]  # 两端都离中间的圆很远，但曲线拱起来穿过了它


def test_edge_through_another_edges_label_is_counted_but_not_through_its_own():
    own = HEAD + '<g class="edge"><line x1="0" y1="50" x2="200" y2="50"/><text x="100" y="50">1.5</text></g></svg>'
    other = HEAD + '<g class="edge"><line x1="0" y1="50" x2="200" y2="50"/></g>' \
                   '<g class="edge"><line x1="0" y1="90" x2="200" y2="90"/><text x="100" y="52">1.5</text></g></svg>'
    assert kinds(own) == [] and kinds(other) == ["edge-label"]


def test_a_course_graph_spoiled_on_purpose_is_reported():
    svg = apple_orange_graph().to_svg()
    assert count(svg) == dict.fromkeys(count(svg), 0)
    # 把所有反向值挪到同一个位置：它们互相重叠，也压到节点和别的边上
    import re
    spoiled = re.sub(r'(<text x=")[\d.]+(" y=")[\d.]+(" text-anchor="middle" fill="#d1242f")', r'\g<1>200\g<2>120\3', svg)
    assert spoiled != svg and count(spoiled)["label-label"] >= 10


def test_the_neuron_defects_of_the_old_layout_are_found():
    """旧的按列布局里第 06 课的神经元：w2·x2 的边从第一个“+”节点后面穿过，“-1.08”一半压在节点上。"""
    svg = HEAD + '<circle cx="390" cy="259" r="22"/><text x="390" y="264" text-anchor="middle">+</text>' \
                 '<g class="edge"><line x1="262" y1="299" x2="518" y2="239"/><text x="405" y="250">-1.08</text></g></svg>'
    assert kinds(svg) == ["edge-node", "label-node"]


# ---- 课程里的图 ------------------------------------------------------------------------
def _course_svgs():
    """课程函数按 notebook 里的用法画出的图：示例图、交互图、逐步反向传播的每一步、诊断图。"""
    from test_diagnosis import AddDoutZero, AddLayer, MulLayer, MulNoDout, MulNone, MulSwapped

    yield "apple_orange", apple_orange_graph().to_svg()
    yield "apple_orange_forward", apple_orange_graph(backward=False).to_svg(show_backward=False)
    yield "square_of_sum", square_of_sum_graph().to_svg()
    yield "sigmoid", sigmoid_graph(1.0).to_svg()
    for n, d, m in [(2, 3, 4), (100, 784, 10), (8, 8, 8)]:
        yield "affine_%d_%d_%d" % (n, d, m), affine_shapes_graph(n, d, m)[0].to_svg()
    for ex in (shopping_explorer(), chain_rule_explorer(), sigmoid_explorer(), shapes_playground()):
        yield type(ex).__name__, ex.to_svg()
    for mul, add in [(MulLayer, AddLayer), (MulSwapped, AddLayer), (MulLayer, AddDoutZero), (MulNoDout, AddLayer),
                     (MulNone, AddLayer)]:
        yield "diagnose_%s_%s" % (mul.__name__, add.__name__), diagnose_apple_orange(mul, add).to_svg()
    for name, g in [("stepper_apple", apple_orange_graph()), ("stepper_sigmoid", sigmoid_graph(1.0)),
                    ("stepper_neuron", Graph.from_value(_neuron()[0]))]:
        s = BackwardStepper(g)
        for k in range(s.total + 1):
            yield "%s_%d" % (name, k), s.go(k).to_svg()
    out, leaves = _neuron()
    yield "neuron_to_graph", to_graph(out, names=leaves, title="一个神经元：tanh(w1·x1 + w2·x2 + b)").to_svg()
    yield "double_backward", _double_backward()
    yield "assign_fork", _assign_fork().to_svg()
    yield "late_fork", _late_fork().to_svg()


def _neuron():
    p = {k: Value(v, label=k) for k, v in dict(x1=0.8, x2=-1.2, w1=0.5, w2=0.9, b=0.3).items()}
    out = (p["w1"] * p["x1"] + p["w2"] * p["x2"] + p["b"]).tanh()
    out.backward()
    return out, p


def _double_backward():
    """第 06 课“不清零又 backward() 一次”：u = x·y 用了两次，x 也用了两次，梯度累加了两遍。"""
    x, y = Value(0.5), Value(1.2)
    u = x * y
    f = (u + x) * (u + 1)
    f.backward()
    f.backward()
    return to_graph(f, names=dict(x=x, y=y), title="不清零又 backward() 一次：几乎处处都不对了").to_svg()


def _assign_fork():
    """第 06 课的 ValueWithAssign：加法的闭包用 = 覆盖梯度。a 的两条边传回 3 和 1（都对），a.grad 却只留下最后写进去的 3。"""

    class ValueWithAssign(Value):
        def __add__(self, other):
            other = other if isinstance(other, Value) else ValueWithAssign(other)
            out = ValueWithAssign(self.data + other.data, (self, other), "+")

            def _backward():
                self.grad = out.grad
                other.grad = out.grad
            out._backward = _backward
            return out

    a, b = ValueWithAssign(2.0), ValueWithAssign(-1.0)
    f = (b + a) * (a + 1)
    f.backward()
    return to_graph(f, names=dict(a=a, b=b), title="闭包用 = 时：a 从两个加法各收到一份梯度，只留下了一份")


def _late_fork():
    """第 06 课“一层层处理”（广度优先）：c 在经过 d 的那份梯度到达之前就往下传了，a、b 少了一份。"""
    a, b = Value(1.5, label="a"), Value(-2.0, label="b")
    c = a * b
    out = c + ((c * 0.5 + 1.0) * 0.8).tanh()
    backward_layer_by_layer(out)
    return to_graph(out, names=dict(a=a, b=b), title="一层层处理的结果：a、b 收齐的梯度少了一份")


COURSE = list(_course_svgs())


@pytest.mark.parametrize("name,svg", COURSE, ids=[name for name, _ in COURSE])
def test_course_graphs_have_no_defects(name, svg):
    assert find_defects(svg) == []


def test_double_backward_graph_marks_wrong_edges_distinctly():
    svg = _double_backward()
    assert 'class="edge wrong"' in svg and 'stroke-dasharray' in svg and "✗" in svg
    assert "应为 3.24" in svg and "图例" in svg
    # 出错的边不再和反向值用同一种红色
    assert 'stroke="#d1242f"' not in svg


@pytest.fixture(scope="module")
def lesson_svgs():
    """把六课的源 notebook（含参考答案）完整运行一遍，收集每个输出里的 SVG。"""
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    svgs, errors = [], []
    for path in sorted((ROOT / "source").glob("*/*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                                         resources={"metadata": {"path": str(path.parent)}})
        client.execute(env=dict(os.environ, LANG="C.UTF-8"))
        for i, cell in enumerate(nb.cells):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    errors.append("%s 单元 %d：%s" % (path.name, i, out.get("ename")))
                if "image/svg+xml" in out.get("data", {}):
                    svgs.append(("%s[%d]" % (path.stem, i), out["data"]["image/svg+xml"]))
    return svgs, errors


def test_every_graph_the_lessons_draw_has_no_defects(lesson_svgs):
    svgs, errors = lesson_svgs
    graphs = [(name, s) for name, s in svgs if 'class="cgraph"' in s]
    assert len(graphs) >= 40, "notebook 画出的计算图太少（%d 张），运行出错：%s" % (len(graphs), errors)
    bad = {name: find_defects(s) for name, s in graphs if find_defects(s)}
    assert bad == {}


# ---- 随机图 ----------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(30))
def test_random_graphs_built_with_graph(seed):
    g = random_graph(seed, 6 + seed % 25)
    assert 6 <= len(g.nodes) <= 32
    assert find_defects(g.to_svg()) == []


@pytest.mark.parametrize("seed", range(20))
def test_random_graphs_from_value(seed):
    out, _ = random_value(seed, 4 + seed % 18)
    g = Graph.from_value(out)
    assert 6 <= len(g.nodes) <= 60
    assert find_defects(g.to_svg()) == []


class Careless(Value):
    """乘法的反向传播忘了“翻转”：to_graph 会把算错的边标出来。"""

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Careless(other)
        out = Careless(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += self.data * out.grad
            other.grad += other.data * out.grad
        out._backward = _backward
        return out

    def __add__(self, other):
        other = other if isinstance(other, Value) else Careless(other)
        out = Careless(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out


@pytest.mark.parametrize("seed", range(10))
def test_random_graphs_with_wrong_marks(seed):
    a, b, c = Careless(0.5 + seed / 10, label="a"), Careless(-1.3, label="b"), Careless(0.7, label="c")
    h = a * b + c * a
    for k in range(seed % 4 + 1):
        h = (h * c + b * (a + 1.0)).tanh() if k % 2 else h * b + a
    h.backward()
    svg = to_graph(h, names=dict(a=a, b=b, c=c)).to_svg()
    assert "✗" in svg and find_defects(svg) == []
    g = random_graph(100 + seed, 8 + 2 * seed)
    want = {e: e.grad for e in g.edges}
    for e in g.edges[::3]:
        e.grad = e.grad * -2 + 1
    svg = diagnose_graph(g, want).to_svg()
    assert "应为" in svg and find_defects(svg) == []


def test_a_30_node_graph_scales_down_to_the_column():
    g = random_graph(7, 30)
    svg = g.to_svg()
    assert len(g.nodes) >= 30 and 'style="max-width:100%;height:auto"' in svg and 'viewBox="0 0 ' in svg
