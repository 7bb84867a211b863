"""course.plots.fonts 的中文字体和 course.plots.charts 的作图函数。

字体：本机没有中文字体时（把 matplotlib 的字体表换成只剩自带字体、系统里也找不到别的字体文件来模拟；
另有一个测试在 bubblewrap 里把系统字体目录真的藏起来），打印一次中文说明，课程的图改用英文标签，不出任何警告；
有中文字体时要选中它。作图函数：图上的数据就是传进去的数据，坏输入给出中文说明。
"""
import gc
import io
import os
import shutil
import subprocess
import sys
import warnings

import matplotlib
import numpy as np
import pytest
from IPython.core.formatters import DisplayFormatter
from matplotlib import font_manager
from matplotlib._pylab_helpers import Gcf
from matplotlib.figure import Figure

import course.plots.fonts as plotting
from course.gradcheck import rel_error
from course.plots.charts import Chart, plot_gradient_check, plot_gradient_cost, plot_training

MPL_DATA = matplotlib.get_data_path()


@pytest.fixture
def fresh_fonts(monkeypatch):
    """让 use_chinese_font 重新查找字体；测试结束后 rcParams 恢复原样。

    先回收一次垃圾：前面的测试（例如 test_peer 的套接字）留下的对象若在这里被回收，它们的 ResourceWarning
    会混进下面记录的警告里，而那与字体无关。"""
    gc.collect()
    monkeypatch.setattr(plotting, "_found", None)
    monkeypatch.setattr(plotting, "_told", False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
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
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *a, **k: [])  # 系统里也没有别的字体文件


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


def chart_texts(chart):
    """图上所有的文字：标题、坐标轴标签、图例、标注。"""
    texts = []
    for ax in chart.axes:
        texts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()] + [t.get_text() for t in ax.texts]
        if ax.get_legend():
            texts += [t.get_text() for t in ax.get_legend().get_texts()]
    return [t for t in texts if t]


def has_cjk(text):
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def all_course_charts():
    rng = np.random.default_rng(2)
    num = {"W1": rng.standard_normal((2, 3)), "b1": rng.standard_normal(3)}
    return [plot_training([3.0, 2.0, 1.5, 1.2], [0.2, 0.8], [0.2, 0.7], smooth=2),
            plot_gradient_check(num, {k: v * 1.001 for k, v in num.items()}),
            plot_gradient_cost([100, 1000], [0.01, 0.1], [0.001, 0.002])]


def test_without_cjk_font_one_chinese_line_then_english_labels(fresh_fonts, capfd):
    without_cjk(fresh_fonts)
    with warnings.catch_warnings(record=True) as caught:
        assert plotting.use_chinese_font() is None
        warnings.simplefilter("always")  # 盖过 use_chinese_font 加的屏蔽：英文标签本来就不该缺字形
        charts = all_course_charts()
        for chart in charts:
            chart.savefig(io.BytesIO(), format="png")
        assert plotting.use_chinese_font() is None and plotting.label("损失", "loss") == "loss"
    out, err = capfd.readouterr()
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, "缺字体的说明应当只打印一行、只打印一次：%r" % out
    assert "找不到中文字体" in lines[0] and "重启内核" in lines[0]
    assert err == ""
    assert [str(w.message) for w in caught] == []
    texts = [t for chart in charts for t in chart_texts(chart)]
    assert "loss" in texts and "train" in texts and "backpropagation" in texts and "about 50 x" in texts, texts
    assert not any(has_cjk(t) for t in texts), texts


def test_with_cjk_font_the_course_charts_speak_chinese(fresh_fonts, capfd):
    without_cjk(fresh_fonts)
    dejavu = next(f.fname for f in font_manager.fontManager.ttflist if f.name == "DejaVu Sans")
    fresh_fonts.setattr(font_manager.fontManager, "ttflist", font_manager.fontManager.ttflist
                        + [font_manager.FontEntry(fname=dejavu, name="SimHei")])
    chart = plot_training([3.0, 2.0], [0.5], [0.4])
    assert {"损失", "训练数据", "识别精度"} <= set(chart_texts(chart))
    assert capfd.readouterr().out == ""  # 有字体时什么也不说


def test_the_message_names_one_command_for_the_system():
    debian = plotting.missing_font_message("Linux", ["ubuntu", "debian"])
    assert "sudo apt-get install fonts-noto-cjk" in debian and "其他发行版" not in debian
    assert "sudo dnf install google-noto-sans-cjk-fonts" in plotting.missing_font_message("Linux", ["fedora"])
    other = plotting.missing_font_message("Linux", [])
    assert "sudo apt-get install fonts-noto-cjk" in other and "其他发行版" in other
    assert "微软雅黑" in plotting.missing_font_message("Windows")
    assert "苹方" in plotting.missing_font_message("Darwin")
    for text in (debian, other, plotting.missing_font_message("Windows"), plotting.missing_font_message("Darwin")):
        assert "\n" not in text and text.startswith("提示：matplotlib 找不到中文字体")


def test_no_message_while_nbgrader_executes(fresh_fonts, capfd):
    without_cjk(fresh_fonts)
    fresh_fonts.setenv("NBGRADER_EXECUTION", "autograde")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert plotting.use_chinese_font() is None
        draw_chinese()  # notebook 里直接写的中文标签：评分时也不能往 stderr 写警告
    assert capfd.readouterr() == ("", "")
    assert [str(w.message) for w in caught] == []


CJK_FILES = [f.fname for f in font_manager.fontManager.ttflist if f.name == "Noto Sans CJK SC"]


@pytest.mark.skipif(not CJK_FILES, reason="本机没有 Noto Sans CJK 字体文件")
def test_font_installed_after_the_cache_was_built_is_found(fresh_fonts, capfd):
    without_cjk(fresh_fonts)
    fresh_fonts.setattr(font_manager, "findSystemFonts", lambda *a, **k: CJK_FILES[:1])
    assert plotting.use_chinese_font() == "Noto Sans CJK SC"
    assert capfd.readouterr().out == ""


HIDE_FONTS = r"""
import io, warnings
warnings.simplefilter("always")
import course.plots.fonts as plotting
from course.plots.charts import plot_training
for _ in range(2):
    chart = plot_training([3.0, 2.0, 1.0], [0.5, 0.6], [0.4, 0.5])
    chart.savefig(io.BytesIO(), format="png")
print("LABELS", [t.get_text() for t in chart.axes[1].get_legend().get_texts()], chart.axes[0].get_title())
"""


def test_fonts_really_hidden_in_a_fresh_process(tmp_path):
    """bubblewrap 把 /usr/share/fonts 换成空目录，matplotlib 的缓存也是新的：就像一台没有中文字体的机器。"""
    bwrap = shutil.which("bwrap")
    if bwrap is None or subprocess.run([bwrap, "--dev-bind", "/", "/", "true"], capture_output=True).returncode:
        pytest.skip("没有可用的 bubblewrap（apt-get install bubblewrap），无法在子进程里藏起系统字体")
    env = dict(os.environ, MPLCONFIGDIR=str(tmp_path / "mpl"), LANG="C.UTF-8")
    env.pop("NBGRADER_EXECUTION", None)
    hide = [arg for d in ("/usr/share/fonts", "/usr/local/share/fonts", os.path.expanduser("~/.fonts"),
                          os.path.expanduser("~/.local/share/fonts")) if os.path.isdir(d) for arg in ("--tmpfs", d)]
    run = subprocess.run([bwrap, "--dev-bind", "/", "/", *hide, sys.executable, "-c", HIDE_FONTS],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert len([line for line in lines if "找不到中文字体" in line]) == 1, run.stdout
    assert "LABELS ['train', 'test'] loss" in lines, run.stdout
    assert "missing from font" not in run.stderr and "Glyph" not in run.stderr, run.stderr[-3000:]


# ---- course.plots.charts ---------------------------------------------------------------
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


def test_gradient_cost_plot_can_add_the_forward_pass(quiet):
    sizes, num, bp, fwd = [100, 1000], [0.01, 0.1], [0.0003, 0.0006], [0.0001, 0.0002]
    ax = plot_gradient_cost(sizes, num, bp, forward_seconds=fwd).axes[0]
    assert [list(line.get_ydata()) for line in ax.lines] == [num, bp, fwd]
    with pytest.raises(ValueError, match="长度应当相同"):
        plot_gradient_cost(sizes, num, bp, forward_seconds=[0.1])


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
