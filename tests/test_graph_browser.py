"""在无头 Chromium 里看计算图：截图存到 test-artifacts/graphs/，并用浏览器量出的文字框核对没有重叠。

每张图放进一个 1000 像素宽的容器（和 JupyterLab 里 notebook 的一栏差不多宽），
用 getBBox 量出每段文字真正占的框：任何两段不重叠，图也不比容器宽（没有横向滚动条）。
"""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from course.autodiff_graph import to_graph
from course.graph import Graph
from graph_samples import random_graph
from test_graph_layout import _double_backward, _neuron

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test-artifacts" / "graphs"
CHROMIUM = "/usr/bin/chromium"


def softmax_with_loss():
    """第 04 课的 Softmax-with-Loss 图（一个样本），按 notebook 里的写法搭。"""
    a1 = np.log(np.array([0.3, 0.2, 0.5]))
    t1 = np.array([0.0, 1.0, 0.0])
    y1 = np.exp(a1 - a1.max()) / np.sum(np.exp(a1 - a1.max()))
    dL_dy = -t1 / y1
    dL_da = np.dot(dL_dy, np.diag(y1) - np.outer(y1, y1))
    g = Graph(title="Softmax-with-Loss层（一个样本）", output_label="L")
    n_a, n_t = g.input("a", None), g.input("t", t1)
    n_soft = g.op("softmax", [n_a], y1)
    n_loss = g.op("交叉熵", [n_soft, n_t], -np.sum(t1 * np.log(y1)))
    g.set_output_grad(1.0)
    g.set_grad(n_soft, n_loss, dL_dy)
    g.set_grad(n_a, n_soft, dL_da)
    return g.to_svg()


def pictures():
    out, leaves = _neuron()
    return {
        "lesson06_neuron": to_graph(out, names=leaves, title="一个神经元：tanh(w1·x1 + w2·x2 + b)").to_svg(),
        "lesson06_double_backward": _double_backward(),
        "lesson04_softmax_with_loss": softmax_with_loss(),
        "random20_a": random_graph(14, 20).to_svg(),
        "random20_b": Graph.from_value(_random20()).to_svg(),
    }


def _random20():
    from graph_samples import random_value

    for seed in range(50):  # 找一个正好约 20 个节点的 Value 表达式
        out, _ = random_value(seed, 12)
        if 18 <= len(Graph.from_value(out).nodes) <= 22:
            return out
    raise AssertionError("没有找到 20 个节点左右的随机表达式")


MEASURE = """() => {
  const result = {};
  for (const box of document.querySelectorAll('.column')) {
    const svg = box.querySelector('svg');
    const texts = [...svg.querySelectorAll('text')].map(t => {
      const b = t.getBBox();
      return {text: t.textContent, x: b.x, y: b.y, w: b.width, h: b.height};
    });
    const overlaps = [];
    for (let i = 0; i < texts.length; i++)
      for (let j = i + 1; j < texts.length; j++) {
        const a = texts[i], b = texts[j];
        if (a.x < b.x + b.w - 0.5 && b.x < a.x + a.w - 0.5 && a.y < b.y + b.h - 0.5 && b.y < a.y + a.h - 0.5)
          overlaps.push([a.text, b.text]);
      }
    result[box.id] = {overlaps, width: svg.getBoundingClientRect().width,
                      scroll: box.scrollWidth > box.clientWidth, n: texts.length};
  }
  return result;
}"""


@pytest.fixture(scope="module")
def page():
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.skip("没有 /usr/bin/chromium，跳过浏览器截图")
    sync_api = pytest.importorskip("playwright.sync_api", reason="没有安装 playwright 的 Python 包")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        pg = browser.new_page(viewport={"width": 1040, "height": 800})
        html = "".join('<div class="column" id="%s" style="width:1000px;overflow-x:auto;margin:8px 0">%s</div>'
                       % (name, svg) for name, svg in pictures().items())
        pg.set_content("<!doctype html><html><body style='margin:8px;background:#fff'>%s</body></html>" % html)
        yield pg
        browser.close()


def test_screenshots_and_measured_labels(page):
    OUT.mkdir(parents=True, exist_ok=True)
    measured = page.evaluate(MEASURE)
    for name in pictures():
        page.locator("#" + name).screenshot(path=str(OUT / (name + ".png")))
        assert (OUT / (name + ".png")).stat().st_size > 1000
    (OUT / "measured.json").write_text(json.dumps(measured, ensure_ascii=False, indent=1), encoding="utf-8")
    for name, m in measured.items():
        assert m["n"] >= 5, name
        assert m["overlaps"] == [], "%s：浏览器里这些文字重叠了 %s" % (name, m["overlaps"])
        assert m["width"] <= 1000.5 and not m["scroll"], "%s 比 1000 像素的一栏还宽" % name


def test_text_width_estimate_is_not_smaller_than_the_browser(page):
    """course.svg 按字号估计文字宽度来留位置：浏览器里真正的宽度不能比估计的大太多。"""
    from course.svg import text_width

    samples = ["← -0.0030305", "应为 3.24", "苹果单价", "(100, 784)", "x1 ∂-0.48≠1.2", "0.86844"]
    widths = page.evaluate("""(samples) => samples.map(s => {
      const ns = 'http://www.w3.org/2000/svg';
      const svg = document.createElementNS(ns, 'svg');
      svg.setAttribute('font-family', "'Noto Sans CJK SC', sans-serif");
      svg.setAttribute('font-size', '14');
      const t = document.createElementNS(ns, 'text');
      t.textContent = s; svg.appendChild(t); document.body.appendChild(svg);
      const w = t.getBBox().width; svg.remove(); return w; })""", samples)
    for s, w in zip(samples, widths):
        assert w <= text_width(s) + 2, "%r 在浏览器里宽 %.1f 像素，估计只有 %.1f" % (s, w, text_width(s))
