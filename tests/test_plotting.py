"""course.plotting 的中文字体和 course.plots 的作图函数。

字体：本机没有中文字体时（把 matplotlib 的字体表换成只剩自带字体来模拟），带中文的图也不能出任何警告；
有中文字体时要选中它。作图函数：图上的数据就是传进去的数据，坏输入给出中文说明。
"""
import io
import warnings

import matplotlib
import numpy as np
import pytest
from IPython.core.formatters import DisplayFormatter
from matplotlib import font_manager
from matplotlib._pylab_helpers import Gcf
from matplotlib.figure import Figure

import course.plotting as plotting
from course.gradcheck import rel_error
from course.plots import Chart, plot_gradient_check, plot_gradient_cost, plot_training

MPL_DATA = matplotlib.get_data_path()


@pytest.fixture
def fresh_fonts(monkeypatch):
    """让 use_chinese_font 重新查找字体；测试结束后 rcParams 恢复原样。"""
    monkeypatch.setattr(plotting, "_found", None)
    with matplotlib.rc_context():
        yield monkeypatch


def draw_chinese():
    fig = Figure()
    ax = fig.subplots()
    ax.plot([0, 1], [0, -1], label="损失函数")
    ax.set(title="反向传播的梯度", xlabel="迭代次数")
    ax.legend()
    fig.savefig(io.BytesIO(), format="png")


def without_cjk(monkeypatch):
    bundled = [f for f in font_manager.fontManager.ttflist if f.fname.startswith(MPL_DATA)]
    assert bundled and not any(f.name in plotting.CJK_FONTS for f in bundled)
    monkeypatch.setattr(font_manager.fontManager, "ttflist", bundled)


def test_no_cjk_font_means_no_warnings_and_nothing_on_stderr(fresh_fonts, capfd):
    without_cjk(fresh_fonts)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert plotting.use_chinese_font() is None
        assert matplotlib.rcParams["font.sans-serif"] == ["DejaVu Sans"]
        draw_chinese()
    assert [str(w.message) for w in caught] == []
    assert capfd.readouterr().err == ""


def test_the_simulation_really_lacks_the_glyphs(fresh_fonts):
    """对照组：同样没有中文字体，但不经过 use_chinese_font 的屏蔽，就会出现“缺字形”警告。"""
    without_cjk(fresh_fonts)
    plotting.use_chinese_font()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # 放在最前面，盖过 use_chinese_font 加的屏蔽
        draw_chinese()
    assert any("missing from font" in str(w.message) for w in caught)


def test_an_installed_cjk_font_is_selected_in_order_of_preference(fresh_fonts):
    without_cjk(fresh_fonts)
    dejavu = next(f.fname for f in font_manager.fontManager.ttflist if f.name == "DejaVu Sans")
    fake = [font_manager.FontEntry(fname=dejavu, name=n) for n in ("SimHei", "Noto Sans CJK SC")]
    fresh_fonts.setattr(font_manager.fontManager, "ttflist", font_manager.fontManager.ttflist + fake)
    assert plotting.use_chinese_font() == "Noto Sans CJK SC"  # 列表里 Noto 排在 SimHei 前面
    assert matplotlib.rcParams["font.sans-serif"] == ["Noto Sans CJK SC", "SimHei", "DejaVu Sans"]
    assert matplotlib.rcParams["axes.unicode_minus"] is False


@pytest.mark.skipif(not any(f.name in plotting.CJK_FONTS for f in font_manager.fontManager.ttflist),
                    reason="本机没有中文字体")
def test_with_a_real_cjk_font_chinese_text_draws_cleanly(fresh_fonts, capfd):
    with warnings.catch_warnings(record=True) as caught:
        name = plotting.use_chinese_font()
        warnings.simplefilter("always")  # 不靠屏蔽：字形真的都在
        draw_chinese()
    assert name in plotting.CJK_FONTS and matplotlib.rcParams["font.sans-serif"][0] == name
    assert [str(w.message) for w in caught] == []
    assert capfd.readouterr().err == ""


# ---- course.plots ---------------------------------------------------------------
@pytest.fixture
def quiet(capfd):
    figures_before = Gcf.get_num_fig_managers()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
    assert capfd.readouterr().err == ""
    assert Gcf.get_num_fig_managers() == figures_before  # 不经过 pyplot，不留图


def test_training_curves_show_the_numbers_given(quiet):
    rng = np.random.default_rng(0)
    loss = 2.3 * np.exp(-np.arange(200) / 50) + 0.05 * rng.random(200)
    train, test = [0.1, 0.8, 0.9, 0.95], [0.1, 0.78, 0.88, 0.93]
    chart = plot_training(loss, train, test, smooth=10)
    assert isinstance(chart, Chart) and isinstance(chart, Figure) and len(chart.axes) == 2
    raw, avg = chart.axes[0].lines
    assert np.array_equal(raw.get_ydata(), loss)
    assert np.allclose(avg.get_ydata(), np.convolve(loss, np.ones(10) / 10, mode="valid"))
    assert [list(line.get_ydata()) for line in chart.axes[1].lines] == [train, test]
    assert [t.get_text() for t in chart.axes[1].get_legend().get_texts()] == ["训练数据", "测试数据"]
    assert len(plot_training(loss).axes) == 1


def test_charts_display_once_as_png(quiet):
    chart = plot_training([3.0, 2.0, 1.5])
    data, _ = DisplayFormatter().format(chart)
    assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n"
    svg = chart.to_svg()
    assert svg.count("<svg") == 1 and svg == plot_training([3.0, 2.0, 1.5]).to_svg()  # 同样的图得到同样的 SVG


def test_gradient_check_plot_scatter_and_relative_errors(quiet):
    rng = np.random.default_rng(1)
    num = {"W1": rng.standard_normal((3, 4)), "b1": rng.standard_normal(4)}
    bp = {"W1": num["W1"] + 1e-9, "b1": num["b1"] * 1.01}
    chart = plot_gradient_check(num, bp)
    scatter, bars = chart.axes
    assert np.allclose(scatter.collections[0].get_offsets(), np.c_[num["W1"].ravel(), bp["W1"].ravel()])
    heights = [p.get_height() for p in bars.patches]
    assert heights == pytest.approx([rel_error(num["W1"], bp["W1"]), rel_error(num["b1"], bp["b1"])])
    assert chart.rel_errors["b1"] == pytest.approx(0.01 / 2.01)
    assert bars.get_yscale() == "log"


def test_gradient_cost_plot_uses_the_measured_numbers(quiet):
    sizes, num, bp = [100, 1000, 10000], [0.01, 0.1, 1.0], [0.0001, 0.0002, 0.001]
    chart = plot_gradient_cost(sizes, num, bp)
    ax = chart.axes[0]
    assert [list(line.get_ydata()) for line in ax.lines] == [num, bp]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert ax.texts[0].get_text() == "约 1000 倍"


@pytest.mark.parametrize("call, error, text", [
    (lambda: plot_training(None), TypeError, "loss 应当是一串数"),
    (lambda: plot_training([]), ValueError, "非空的一维序列"),
    (lambda: plot_training([1.0, 2.0], smooth=5), ValueError, "smooth 应当是 1 到 2 之间的整数"),
    (lambda: plot_gradient_check([1.0], [1.0]), TypeError, "{参数名: 数组}"),
    (lambda: plot_gradient_check({"W": np.ones(2)}, {"b": np.ones(2)}), ValueError, "参数名不一致"),
    (lambda: plot_gradient_check({"W": np.ones(2)}, {"W": np.ones(3)}), ValueError, "W 的形状不一致"),
    (lambda: plot_gradient_cost([1, 2], [1.0], [1.0, 2.0]), ValueError, "长度应当相同"),
    (lambda: plot_gradient_cost([1, 2], [0.0, 1.0], [1.0, 2.0]), ValueError, "正数"),
])
def test_bad_input_is_explained(quiet, call, error, text):
    with pytest.raises(error, match=text.replace("{", r"\{").replace("}", r"\}")):
        call()
