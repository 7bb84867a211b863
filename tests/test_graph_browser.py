"""在无头 Chromium 里看计算图：截图存到 test-artifacts/graphs/，并用浏览器量出的文字框核对没有重叠。

每张图放进一个 1000 像素宽的容器（和 JupyterLab 里 notebook 的一栏差不多宽），
用 getBBox 量出每段文字真正占的框：任何两段不重叠，图也不比容器宽（没有横向滚动条）。
"""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from course.graph.autodiff import to_graph
from course.graph.model import Graph
from graph_samples import random_graph
from test_graph_layout import _assign_fork, _double_backward, _late_fork, _neuron

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
        "lesson06_assign_fork": _assign_fork().to_svg(),
        "lesson06_late_fork": _late_fork().to_svg(),
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
def browser():
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.skip("没有 /usr/bin/chromium，跳过浏览器截图")
    sync_api = pytest.importorskip("playwright.sync_api", reason="没有安装 playwright 的 Python 包")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser):
    pg = browser.new_page(viewport={"width": 1040, "height": 800})
    html = "".join('<div class="column" id="%s" style="width:1000px;overflow-x:auto;margin:8px 0">%s</div>'
                   % (name, svg) for name, svg in pictures().items())
    pg.set_content("<!doctype html><html><body style='margin:8px;background:#fff'>%s</body></html>" % html)
    yield pg
    pg.close()


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


MARKS = """(name) => {
  const svg = document.querySelector('#' + name + ' svg');
  const edges = [...svg.querySelectorAll('g.edge')].filter(g => g.querySelector('text.backward')).map(g => ({
    wrong: g.classList.contains('wrong'), dashed: !!g.querySelector('path[stroke-dasharray]'),
    grad: g.querySelector('text.backward').textContent, badge: !!g.querySelector('.badge')}));
  const nodes = [...svg.querySelectorAll('g.node.wrong')].map(g => {
    const t = g.querySelector('text.input, text.node'), b = g.querySelector('circle.badge').getBBox();
    const c = g.querySelector('circle:not(.badge), ellipse');
    return {label: t.textContent, fill: getComputedStyle(t).fill, bold: getComputedStyle(t).fontWeight >= 600,
            outline: c ? getComputedStyle(c).stroke : null, badgeSeen: b.width > 0};
  });
  return {edges, nodes};
}"""


def test_correct_edges_into_a_wrongly_accumulated_node_are_not_marked(page):
    """第 06 课的两个诊断演示在浏览器里的样子：值对的边照常画（不带 ✗、不是虚线），grad 不对的叶子 a 标成橙色带 ✗；
    另一张图里值本身错了的边仍然是带 ✗ 的橙色粗虚线。截图在 test-artifacts/graphs/lesson06_*.png。"""
    OUT.mkdir(parents=True, exist_ok=True)
    orange = "rgb(188, 76, 0)"  # course.graph.svg 的 PALETTE["wrong"] 浅色值
    for name in ("lesson06_assign_fork", "lesson06_late_fork", "lesson06_double_backward"):
        page.locator("#" + name).screenshot(path=str(OUT / (name + ".png")))
    fork = page.evaluate(MARKS, "lesson06_assign_fork")
    into_a = [e for e in fork["edges"] if e["grad"] in ("← 3", "← 1")]
    assert len(into_a) >= 2 and not any(e["wrong"] or e["dashed"] or e["badge"] for e in fork["edges"]), fork
    assert [n["label"] for n in fork["nodes"]] == ["a ∂3≠4"], fork["nodes"]
    assert fork["nodes"][0]["fill"] == orange and fork["nodes"][0]["bold"] and fork["nodes"][0]["badgeSeen"]
    late = page.evaluate(MARKS, "lesson06_late_fork")
    assert any(e["grad"] == "← -2.6845" for e in late["edges"]) and not any(e["wrong"] for e in late["edges"]), late
    assert sorted(n["label"].split()[0] for n in late["nodes"]) == ["a", "b"]
    assert any("∂-2≠-2.68" in n["label"] for n in late["nodes"])
    double = page.evaluate(MARKS, "lesson06_double_backward")
    wrong = [e for e in double["edges"] if e["wrong"]]
    assert wrong and all(e["dashed"] and e["badge"] for e in wrong), double["edges"]
    assert any(not e["wrong"] and not e["dashed"] for e in double["edges"])  # 输出前的两条边是对的
    assert any(n["outline"] == orange for n in double["nodes"])  # 残留了梯度的加法节点：橙色的圈


def test_text_width_estimate_is_not_smaller_than_the_browser(page):
    """course.graph.svg 按字号估计文字宽度来留位置：浏览器里真正的宽度不能比估计的大太多。"""
    from course.graph.svg import text_width

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


# ---- 深色主题：量出每段文字、每条边和箭头的对比度 -----------------------------------------------
# JupyterLab 的深色主题里（很多学生用它）图要和浅色主题里一样看得清。三种页面：
#   plain：没有任何 JupyterLab 变量（nbconvert 的静态 HTML、nbgrader 的反馈）；
#   light / dark：页面上有 JupyterLab 浅色 / 深色主题的 CSS 变量，body 上也有 JupyterLab 设的
#                 data-jp-theme-light 和 color-scheme（变量的名字和值取自装好的 @jupyterlab/theme-*-extension）。
# 每种页面里图有两种放法：内嵌的 <svg>（控件 widgets.HTML、nbconvert、反馈）和 JupyterLab 显示
# image/svg+xml 的办法 <img src="data:image/svg+xml,...">。<img> 里的 SVG 看不到页面的变量，
# 只能看到嵌入它的元素的 color-scheme（Chromium 把它当作图里的 prefers-color-scheme）：
# 所以也把 SVG 单独当作文档打开、模拟同样的 prefers-color-scheme 来量，并核对 <img> 的底色确实跟着变了。
THEMES = ("plain", "light", "dark")
TEXT_MIN, GRAPHIC_MIN = 4.5, 3.0  # WCAG 2：文字 4.5:1，图形（边、箭头、节点的圈）3:1
DARK_FALLBACK_VARS = {  # 找不到装好的 JupyterLab 主题文件时用的几个关键变量（JupyterLab 4 深色主题的值）
    "--jp-layout-color0": "#111", "--jp-layout-color1": "#212121", "--jp-ui-font-color0": "#fff",
    "--jp-ui-font-color1": "rgba(255,255,255,.87)", "--jp-content-font-color0": "#fff",
    "--jp-content-font-color1": "#fff", "--jp-error-color1": "#f44336", "--jp-warn-color1": "#ff9800",
    "--jp-success-color1": "#4caf50", "--jp-border-color1": "#616161",
}
LIGHT_FALLBACK_VARS = {
    "--jp-layout-color0": "white", "--jp-layout-color1": "white", "--jp-ui-font-color0": "#000",
    "--jp-ui-font-color1": "rgba(0,0,0,.87)", "--jp-content-font-color0": "#000",
    "--jp-content-font-color1": "rgba(0,0,0,.87)", "--jp-error-color1": "#d32f2f", "--jp-warn-color1": "#f57c00",
    "--jp-success-color1": "#388e3c", "--jp-border-color1": "#bdbdbd",
}


def jupyterlab_theme_css(name):
    """JupyterLab 主题（"light" / "dark"）的 :root 变量，原样取自装好的 jupyterlab；找不到时用上面的几个。"""
    import re
    import sys

    rel = Path("@jupyterlab") / ("theme-%s-extension" % name) / "index.css"
    places = [Path(sys.prefix) / "share" / "jupyter" / "lab" / "themes" / rel]
    try:
        import jupyterlab

        places.append(Path(jupyterlab.__file__).parent / "themes" / rel)
    except ImportError:
        pass
    for p in places:
        if p.is_file():
            blocks = re.findall(r":root\s*\{([^}]*)\}", p.read_text(encoding="utf-8"))
            if blocks and "--jp-layout-color0" in "".join(blocks):
                return ":root{%s}" % ";".join(b.strip().rstrip(";") for b in blocks), str(p)
    fallback = DARK_FALLBACK_VARS if name == "dark" else LIGHT_FALLBACK_VARS
    return ":root{%s}" % ";".join("%s:%s" % kv for kv in fallback.items()), None


def themed_pictures():
    """要核对的图：Graph 的 SVG、逐步反向传播和交互控件的静态图、诊断图。"""
    from course.checks.diagnosis import diagnose_apple_orange
    from course.graph.examples import apple_orange_graph
    from course.widgets.explorers import chain_rule_explorer, shopping_explorer, sigmoid_explorer
    from course.widgets.stepper import BackwardStepper
    from test_diagnosis import AddLayer, MulSwapped

    pics = {
        "shopping_explorer": shopping_explorer()._repr_mimebundle_()["image/svg+xml"],
        "chain_rule_explorer": chain_rule_explorer().view.value,
        "sigmoid_explorer": sigmoid_explorer()._repr_mimebundle_()["image/svg+xml"],
        "stepper_start": BackwardStepper(apple_orange_graph()).to_svg(),
        "stepper_active": BackwardStepper(apple_orange_graph(), position=3).view.value,
        "stepper_done": BackwardStepper(apple_orange_graph(), position=8).to_svg(),
        "diagnosis_wrong": diagnose_apple_orange(MulSwapped, AddLayer).to_svg(),
    }
    base = pictures()
    for k in ("lesson06_neuron", "lesson06_double_backward", "lesson04_softmax_with_loss"):
        pics[k] = base[k]
    return pics


CONTRAST = """(pageBg) => {
  const parse = s => {
    const m = /rgba?\\(([^)]*)\\)/.exec(s || '');
    if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(parseFloat);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (fg, bg) => [0, 1, 2].map(i => fg[i] * fg[3] + bg[i] * (1 - fg[3])).concat([1]);
  const lum = c => { const f = v => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
                     return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const ratio = (fg, bg) => { const a = lum(over(fg, bg)), b = lum(bg); return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); };
  const hex = c => '#' + c.slice(0, 3).map(v => Math.round(v).toString(16).padStart(2, '0')).join('');
  const cs = el => getComputedStyle(el);
  function backdrop(el) {  // 元素后面真正的底色：往上找第一个不透明的背景，最后是页面的底色
    let bg = parse(pageBg);
    const chain = [];
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) chain.push(e);
    for (const e of chain.reverse()) {
      const c = parse(cs(e).backgroundColor);
      if (c && c[3] > 0) bg = over(c, bg);
    }
    return bg;
  }
  const out = [];
  for (const svg of document.querySelectorAll('svg.cgraph')) {
    const host = svg.closest('[data-name]');
    const name = host ? host.dataset.name : (document.documentElement.dataset.name || '');
    let bg = backdrop(svg.parentElement || svg);
    for (const r of svg.querySelectorAll(':scope > rect')) {
      const c = parse(cs(r).fill); if (c && c[3] > 0 && cs(r).display !== 'none') bg = over(c, bg);
    }
    const add = (kind, cat, what, fgStr, under) => {
      const fg = parse(fgStr);
      if (!fg) return;
      out.push({name, kind, cat, what, ratio: ratio(fg, under), fg: hex(over(fg, under)), bg: hex(under)});
    };
    for (const t of svg.querySelectorAll('text')) {
      if (!t.textContent.trim()) continue;
      const s = cs(t), cls = t.getAttribute('class') || '';
      let under = bg;
      const prev = t.previousElementSibling;
      if (prev && /^(circle|ellipse|rect)$/.test(prev.tagName)) {  // 写在一个图形上面（节点名字、✗ 记号）
        const c = parse(cs(prev).fill); if (c) under = over(c, bg);
      }
      const halo = parse(s.stroke);
      if (halo && halo[3] > 0 && parseFloat(s.strokeWidth) >= 2 && s.paintOrder.startsWith('stroke'))
        under = over(halo, under);  // 描了一圈底色的数字：字在描边上面
      const cat = /input|output|node/.test(cls) ? 'labels' : /forward|backward|expected/.test(cls) ? 'edge values'
                : /badge/.test(cls) ? 'badges' : 'captions';
      add('text', cat, t.textContent.trim().slice(0, 40) + ' [' + cls + ']', s.fill, under);
    }
    for (const p of svg.querySelectorAll('g.edge > path'))
      add('graphic', 'edges', p.parentElement.getAttribute('class'), cs(p).stroke, bg);
    const used = new Set([...svg.querySelectorAll('g.edge > path')].map(p => (p.getAttribute('marker-end') || '').replace(/^url\\(#|\\)$/g, '')));
    for (const m of svg.querySelectorAll('marker'))
      if (used.has(m.id)) for (const p of m.querySelectorAll('path')) add('graphic', 'arrowheads', m.id, cs(p).fill, bg);
    for (const c of svg.querySelectorAll('circle:not(.badge), ellipse'))
      add('graphic', 'node outlines', 'node', cs(c).stroke, bg);
    for (const c of svg.querySelectorAll('circle.badge')) add('graphic', 'badges', 'badge', cs(c).fill, bg);
  }
  // 反向值（红）和算错的边（橙）的颜色：两种意思要分得开
  const colors = {};
  const first = (sel, prop) => { const e = document.querySelector(sel); return e ? hex(over(parse(cs(e)[prop]), [255, 255, 255, 1])) : null; };
  colors.backward = first('svg.cgraph text.backward', 'fill');
  colors.wrong = first('svg.cgraph g.edge.wrong > path', 'stroke');
  colors.active = first('svg.cgraph g.edge.active > path', 'stroke');
  return {items: out, colors};
}"""


def picture_difference(path_a, path_b):
    """两张截图里明显不同的像素占多少（0 到 1）。元素放在半个像素的位置上时截图会错开一个像素，所以各个方向都试一下。"""
    from PIL import Image, ImageChops

    a, b = Image.open(path_a).convert("RGB"), Image.open(path_b).convert("RGB")
    assert abs(a.size[0] - b.size[0]) <= 1 and abs(a.size[1] - b.size[1]) <= 1, (a.size, b.size)
    w, h = min(a.size[0], b.size[0]) - 1, min(a.size[1], b.size[1]) - 1
    best = 1.0
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            pa = a.crop((max(dx, 0), max(dy, 0), w + min(dx, 0) + max(dx, 0), h + min(dy, 0) + max(dy, 0)))
            pb = b.crop((max(-dx, 0), max(-dy, 0), w + min(dx, 0) + max(-dx, 0), h + min(dy, 0) + max(-dy, 0)))
            diff = ImageChops.difference(pa, pb).convert("L")
            best = min(best, sum(diff.histogram()[41:]) / (pa.size[0] * pa.size[1]))
    return best


def _lab(hexcolor):
    def lin(v):
        v /= 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(int(hexcolor[i:i + 2], 16)) for i in (1, 3, 5))
    X, Y, Z = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047, 0.2126 * r + 0.7152 * g + 0.0722 * b, \
        (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t):
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116

    return 116 * f(Y) - 16, 500 * (f(X) - f(Y)), 200 * (f(Y) - f(Z))


def _theme_page_html(theme, body):
    if theme == "plain":
        return "<!doctype html><html><head><meta charset='utf-8'></head><body style='margin:8px'>%s</body></html>" % body
    css, _ = jupyterlab_theme_css(theme)
    return ("<!doctype html><html><head><meta charset='utf-8'><style>%s\nbody{margin:8px;background:var(--jp-layout-color0);"
            "color:var(--jp-content-font-color1)}</style></head><body data-jp-theme-light='%s' data-jp-theme-name='JupyterLab %s' "
            "style='color-scheme:%s'>%s</body></html>"
            % (css, "true" if theme == "light" else "false", theme.title(), theme, body))


PAGE_BG = {"plain": "rgb(255, 255, 255)", "light": "rgb(255, 255, 255)", "dark": "rgb(17, 17, 17)"}


@pytest.mark.parametrize("theme", THEMES)
def test_graph_colours_are_readable_in_light_and_dark_themes(browser, theme):
    import urllib.parse

    out = OUT / "themes"
    out.mkdir(parents=True, exist_ok=True)
    pics = themed_pictures()
    scheme = "dark" if theme == "dark" else "light"
    pg = browser.new_page(viewport={"width": 1040, "height": 800}, color_scheme="light")
    measured = {}
    try:
        # 1) 内嵌的 <svg>（控件、nbconvert、反馈）
        body = "".join('<div class="column" data-name="%s" id="%s" style="width:1000px;margin:8px 0">%s</div>'
                       % (n, n, s) for n, s in pics.items())
        pg.set_content(_theme_page_html(theme, body))
        inline = pg.evaluate(CONTRAST, PAGE_BG[theme])
        pg.screenshot(path=str(out / ("%s-inline.png" % theme)), full_page=True)
        for n in ("stepper_start", "diagnosis_wrong", "shopping_explorer"):
            pg.locator("#" + n).screenshot(path=str(out / ("%s-inline-%s.png" % (theme, n))))
        # 2) JupyterLab 显示 image/svg+xml 的样子：<img src="data:image/svg+xml,...">
        imgs = "".join('<div class="column" style="width:1000px;margin:8px 0"><img id="img-%s" src="data:image/svg+xml,%s"></div>'
                       % (n, urllib.parse.quote(s)) for n, s in pics.items())
        pg.set_content(_theme_page_html(theme, imgs))
        pg.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
        pg.screenshot(path=str(out / ("%s-img.png" % theme)), full_page=True)
        shot_img = out / ("%s-img-stepper_start.png" % theme)
        pg.locator("#img-stepper_start").screenshot(path=str(shot_img))
        # <img> 里的 SVG 只看得到 prefers-color-scheme：把它单独当作文档打开，模拟同样的配色来量
        pg.emulate_media(color_scheme=scheme)
        as_image = {"items": [], "colors": {}}
        for n, s in pics.items():
            pg.goto("data:image/svg+xml," + urllib.parse.quote(s.replace("<svg", '<svg data-name="%s"' % n, 1)))
            r = pg.evaluate(CONTRAST, PAGE_BG[theme])
            for it in r["items"]:
                it["name"] = n
            as_image["items"] += r["items"]
            as_image["colors"].update({k: v for k, v in r["colors"].items() if v})
            if n == "stepper_start":
                shot_doc = out / ("%s-doc-stepper_start.png" % theme)
                pg.locator("svg").first.screenshot(path=str(shot_doc))
    finally:
        pg.close()
    # 单独打开的 SVG 文档和页面里的 <img> 看起来一样：上面在文档里量到的，就是学生在 <img> 里看到的
    changed = picture_difference(shot_img, shot_doc)
    measured = {"inline": inline, "img": as_image}
    summary = {}
    for mode, m in measured.items():
        for it in m["items"]:
            key = "%s / %s / %s" % (mode, it["kind"], it["cat"])
            if key not in summary or it["ratio"] < summary[key]["ratio"]:
                summary[key] = it
    (out / ("contrast-%s.json" % theme)).write_text(json.dumps({"min": summary, "colors": {k: v["colors"] for k, v in measured.items()},
                                                                "all": measured}, ensure_ascii=False, indent=1), encoding="utf-8")
    problems = ["%s %s：%s 在 %s 上只有 %.2f:1（%s）" % (mode, it["name"], it["fg"], it["bg"], it["ratio"], it["what"])
                for mode, m in measured.items() for it in m["items"]
                if it["ratio"] < (TEXT_MIN if it["kind"] == "text" else GRAPHIC_MIN)]
    assert not problems, "%s 主题里看不清：\n%s" % (theme, "\n".join(problems[:40]))
    for mode, m in measured.items():
        cats = {it["cat"] for it in m["items"]}
        assert {"labels", "edge values", "captions", "badges", "edges", "arrowheads", "node outlines"} <= cats, (mode, cats)
        red, orange = m["colors"].get("backward"), m["colors"].get("wrong")
        assert red and orange, m["colors"]
        dist = sum((a - b) ** 2 for a, b in zip(_lab(red), _lab(orange))) ** 0.5
        assert dist >= 20, "%s：反向值的红色 %s 和算错的橙色 %s 太像了（ΔE = %.1f）" % (mode, red, orange, dist)
    assert changed < 0.01, "%s：<img> 里的图和单独打开的 SVG 不一样（%.1f%% 的像素不同）" % (theme, 100 * changed)


LAB_CELLS = [
    "from course.graph.examples import apple_orange_graph\nfrom course.widgets.stepper import BackwardStepper\n"
    "from course.checks.diagnosis import diagnose_apple_orange\napple_orange_graph()",
    "BackwardStepper(apple_orange_graph(), position=3)",
    "from test_diagnosis import AddLayer, MulSwapped\ndiagnose_apple_orange(MulSwapped, AddLayer)",
]


def test_graphs_in_jupyterlab_dark_theme(browser, tmp_path):
    """真的 JupyterLab，设成深色主题：image/svg+xml 的图（<img>）和控件里内嵌的图都换成深色的配色。

    内嵌的图直接量对比度；<img> 里量不到，就把同一段 SVG 单独打开（模拟深色的 prefers-color-scheme），
    和 <img> 的截图逐像素比较：一样，说明上面 test_graph_colours_are_readable_in_light_and_dark_themes[dark]
    量过的就是学生看到的。
    """
    import base64
    import urllib.parse

    import nbformat

    import browser_helpers as bh

    out = OUT / "themes"
    out.mkdir(parents=True, exist_ok=True)
    root, state = tmp_path / "root", tmp_path / "state"
    root.mkdir()
    shutil.copy2(Path(__file__).with_name("test_diagnosis.py"), root / "test_diagnosis.py")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in LAB_CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "graphs.ipynb")
    themes = state / "settings" / "@jupyterlab" / "apputils-extension" / "themes.jupyterlab-settings"
    themes.parent.mkdir(parents=True, exist_ok=True)
    themes.write_text(json.dumps({"theme": "JupyterLab Dark"}), encoding="utf-8")
    with bh.JupyterLab(root, state, tmp_path / "lab.log") as lab:
        pg = browser.new_page(viewport={"width": 1300, "height": 1800})
        try:
            pg.set_default_timeout(bh.UI_TIMEOUT_MS)
            pg.goto(lab.lab_url("graphs.ipynb"))
            pg.locator(bh.NOTEBOOK).wait_for()
            bh.wait_kernel_idle(pg)
            bh.run_all(pg)
            pg.locator(".widget-html-content svg.cgraph").first.wait_for()
            assert pg.evaluate("() => [document.body.dataset.jpThemeLight, document.body.style.colorScheme]") == ["false", "dark"]
            pg.wait_for_function("() => [...document.querySelectorAll('.jp-OutputArea-output img')]"
                                 ".filter(i => i.complete && i.naturalWidth > 0).length >= 2")
            pg.screenshot(path=str(out / "jupyterlab-dark.png"), full_page=True)
            bg = pg.evaluate("() => getComputedStyle(document.querySelector('.jp-Notebook')).backgroundColor")
            inline = pg.evaluate(CONTRAST, bg)
            bad = [it for it in inline["items"] if it["ratio"] < (TEXT_MIN if it["kind"] == "text" else GRAPHIC_MIN)]
            assert inline["items"] and not bad, bad[:10]
            imgs = pg.locator(".jp-OutputArea-output img")
            srcs = imgs.evaluate_all("els => els.map(e => e.getAttribute('src'))")
            assert len(srcs) == 2, srcs
            for i, src in enumerate(srcs):
                shot = out / ("jupyterlab-dark-img%d.png" % i)
                imgs.nth(i).screenshot(path=str(shot))
                head, _, body = src.partition(",")
                svg = base64.b64decode(body).decode() if head.endswith(";base64") else urllib.parse.unquote(body)
                doc = browser.new_page(viewport={"width": 1300, "height": 1800}, color_scheme="dark")
                try:
                    doc.goto("data:image/svg+xml," + urllib.parse.quote(svg))
                    doc.locator("svg").first.screenshot(path=str(out / ("jupyterlab-dark-doc%d.png" % i)))
                finally:
                    doc.close()
                changed = picture_difference(shot, out / ("jupyterlab-dark-doc%d.png" % i))
                assert changed < 0.01, "JupyterLab 深色主题里第 %d 张 <img> 图和深色配色的 SVG 不一样（%.1f%%）" % (i, 100 * changed)
        finally:
            pg.close()
