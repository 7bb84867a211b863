"""course.widgets 的交互图：在 Python 里拖动滑块，图上的数和静态 SVG 都要跟着变；
没有前端时（nbconvert、nbgrader、测试）只显示静态图，不阻塞、不抛异常、不写 stderr。"""
import re
import warnings
import xml.etree.ElementTree as ET

import nbformat
import pytest
from IPython.core.formatters import DisplayFormatter
from nbclient import NotebookClient

from course.fmt import fmt
from course.widgets import (BackwardStepper, chain_rule_explorer, shapes_playground, shopping_explorer,
                            sigmoid_explorer)

WIDGET = "application/vnd.jupyter.widget-view+json"
EXPLORERS = [shopping_explorer, chain_rule_explorer, sigmoid_explorer, shapes_playground]


@pytest.fixture(autouse=True)
def quiet(capfd, request):
    """每个测试里：任何警告都算失败，stderr 必须是空的。

    启动内核的那个测试例外：jupyter_client 自己会往 stderr 打一行 TCP 的提示，那不是课程代码写的；
    那个测试改为检查 notebook 输出里没有 stderr。
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
    if "executed_notebook" not in request.node.name:
        assert capfd.readouterr().err == ""


def forward(svg):
    return re.findall(r'class="forward">([^<]*)<', svg)


def backward(svg):
    return re.findall(r'class="backward">← ([^<]*)<', svg)


def captions(svg):
    return re.findall(r'class="caption">([^<]*)<', svg)


def test_shopping_explorer_starts_with_the_books_numbers():
    ex = shopping_explorer()
    g = ex.graph
    assert g.output.value == pytest.approx(715)
    grads = {k: g.find(k).grad for k in ["apple", "apple_num", "orange", "orange_num", "tax"]}
    assert grads == pytest.approx({"apple": 2.2, "apple_num": 110, "orange": 3.3, "orange_num": 165, "tax": 650})
    svg = ex.to_svg()
    assert "715" in forward(svg) and {"2.2", "110", "3.3", "165", "650"} <= set(backward(svg))


def test_moving_the_shopping_sliders_rebuilds_the_graph():
    ex = shopping_explorer()
    ex.sliders["apple"].value = 120
    ex.sliders["apple_num"].value = 4
    ex.sliders["tax"].value = 1.2
    g = ex.graph
    total = 120 * 4 + 150 * 3
    assert g.output.value == pytest.approx(total * 1.2)
    assert g.find("apple").grad == pytest.approx(4 * 1.2)
    assert g.find("apple_num").grad == pytest.approx(120 * 1.2)
    assert g.find("tax").grad == pytest.approx(total)
    assert g.edge(g.find("all_price"), g.find("price")).grad == pytest.approx(1.2)
    # 画在控件里的图和静态图是同一张，而且写着新的数
    svg = ex._repr_mimebundle_()["image/svg+xml"]
    assert ex.view.value == svg
    assert fmt(total * 1.2, 5) in forward(svg) and "4.8" in backward(svg) and "930" in backward(svg)
    assert "苹果单价 = 120" in ex.describe()


def test_chain_rule_explorer_shows_1_then_2t_then_2x_plus_y():
    ex = chain_rule_explorer()
    ex.sliders["x"].value = 1.5
    ex.sliders["y"].value = -4.0
    g = ex.graph
    t, z = g.find("t"), g.find("z")
    assert (t.value, z.value) == pytest.approx((-2.5, 6.25))
    signals = [x for _, up, local, prod in g.steps for x in (up, local, prod)]
    assert signals == pytest.approx([1, -5, -5, -5, 1, -5, -5, 1, -5])  # 上游 × 局部导数 = 乘积
    svg = ex.to_svg()
    assert backward(svg).count("-5") == 3 and "6.25" in forward(svg)
    assert any("2t" in line and "-5" in line for line in captions(svg))


def test_sigmoid_explorer_graph_and_curve_follow_the_slider():
    ex = sigmoid_explorer()
    ex.sliders["x"].value = -1.3
    g = ex.graph
    y = 1 / (1 + 2.718281828459045 ** 1.3)
    assert g.output.value == pytest.approx(y)
    assert g.find("x").grad == pytest.approx(y * (1 - y))
    labels = [n.label for n in g.topo_order() if n.kind == "op"]
    assert labels == ["×(-1)", "exp", "+1", "/"]
    chart = ex.curve()
    point = chart.axes[0].lines[2]
    assert list(point.get_xdata()) == pytest.approx([-1.3, -1.3])
    assert list(point.get_ydata()) == pytest.approx([y, y * (1 - y)])
    svg = ex.to_svg()
    ET.fromstring(svg)  # 拼起来的 SVG 仍是合法的 XML
    assert svg.count("<svg") == 3  # 外层 + 计算图 + 曲线
    assert fmt(y, 5) in forward(svg) and fmt(y * (1 - y), 5) in backward(svg)
    assert "y = sigmoid(x)" in svg


def test_shapes_playground_reports_the_computed_shapes():
    ex = shapes_playground()
    ex.sliders["N"].value, ex.sliders["D"].value, ex.sliders["M"].value = 5, 7, 2
    assert ex.shapes == {"x": (5, 7), "W": (7, 2), "b": (2,), "out": (5, 2), "dout": (5, 2),
                         "dx": (5, 7), "dW": (7, 2), "db": (2,), "mask": (5, 2)}
    svg = ex.to_svg()
    assert {"(5, 7)", "(7, 2)", "(2,)", "(5, 2)"} <= set(forward(svg))
    assert {"(5, 7)", "(7, 2)", "(2,)", "(5, 2)"} <= set(backward(svg))
    lines = captions(svg)
    assert any("(5, 2) · (2, 7) → (5, 7)" in line for line in lines)  # dx = dout · Wᵀ
    assert any("(7, 5) · (5, 2) → (7, 2)" in line for line in lines)  # dW = xᵀ · dout
    assert any("mask" in line and "(5, 2)" in line for line in lines)


@pytest.mark.parametrize("make", EXPLORERS + [lambda: BackwardStepper(chain_rule_explorer().graph)])
def test_display_gives_the_widget_and_a_static_picture(make):
    ex = make()
    data, _ = DisplayFormatter().format(ex)  # IPython 显示时真正得到的东西
    assert data[WIDGET]["model_id"] == ex.widget.model_id
    svg = data["image/svg+xml"]
    ET.fromstring(svg)
    assert svg == ex.to_svg() == ex.view.value
    assert data["text/plain"] == ex.describe()


def test_stack_places_pictures_one_below_the_other():
    from course.graph.examples import square_of_sum_graph
    from course.graph.svg import stack

    g = square_of_sum_graph().to_svg()
    mpl = '<?xml version="1.0"?>\n<svg width="30pt" height="15pt" viewBox="0 0 30 15"></svg>'
    both = ET.fromstring(stack([g, mpl], gap=10))
    h = float(re.search(r'height="(\d+)"', g).group(1))
    inner = list(both)
    assert [c.get("y") for c in inner] == ["0.0", "%.1f" % (h + 10)]
    assert float(both.get("height")) == pytest.approx(h + 10 + 20, abs=1)  # 15pt = 20px
    with pytest.raises(ValueError, match="width/height"):
        stack(["<svg></svg>"])


def test_static_picture_survives_a_broken_widget(monkeypatch):
    ex = chain_rule_explorer()

    def broken(**kwargs):
        raise RuntimeError("comm closed")

    monkeypatch.setattr(ex.widget, "_repr_mimebundle_", broken)
    data = ex._repr_mimebundle_()
    assert WIDGET not in data and data["image/svg+xml"].startswith("<svg")


def test_bad_initial_values_are_explained_and_ranges_widen():
    with pytest.raises(TypeError, match="苹果个数 的初始值应当是整数"):
        shopping_explorer(apple_num=2.5)
    with pytest.raises(TypeError, match="x 的初始值应当是数"):
        chain_rule_explorer(x="1")
    with pytest.raises(ValueError, match="-30 到 30"):
        sigmoid_explorer(x=-1000.0)
    ex = shopping_explorer(apple=1000)
    assert ex.sliders["apple"].value == 1000 and ex.graph.find("apple").value == 1000


def test_executed_notebook_contains_the_pictures_and_no_stderr(tmp_path):
    """和 nbgrader 自动评分一样在内核里无人值守地运行：每个输出都有静态 SVG，没有 stderr。"""
    code = [
        "from course.widgets import *\nfrom course.graph.examples import sigmoid_graph",
        "shopping_explorer()", "chain_rule_explorer()", "sigmoid_explorer()", "shapes_playground()",
        "s = BackwardStepper(sigmoid_graph(0.5))\ns.next().next()\ns",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in code])
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    for cell in nb.cells[1:]:
        kinds = [o["output_type"] for o in cell.outputs]
        assert kinds == ["execute_result"], kinds
        data = cell.outputs[0]["data"]
        assert WIDGET in data and data["image/svg+xml"].startswith("<svg")
    assert "第 2 / 4 步" in nb.cells[-1].outputs[0]["data"]["image/svg+xml"]
