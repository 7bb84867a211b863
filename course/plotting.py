"""matplotlib 的中文显示：所有作图前调用一次 use_chinese_font()。

按顺序尝试 Windows、macOS、Linux 和 Binder（Debian 的 fonts-noto-cjk）上常见的中文字体，
只把本机真正有的字体放进 font.sans-serif；一个都没有时退回默认字体，
并屏蔽“缺少字形”的警告，免得每个汉字都往 stderr 打一行（nbgrader 会因此判测试单元为 0 分）。
"""
import warnings

__all__ = ["use_chinese_font", "label", "CJK_FONTS"]

CJK_FONTS = [
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",
    "Microsoft YaHei", "SimHei", "DengXian",  # Windows
    "PingFang SC", "Hiragino Sans GB", "Heiti SC", "STHeiti",  # macOS
    "AR PL UMing CN", "Droid Sans Fallback",
]

_found = None


def use_chinese_font():
    """设置中文字体并返回找到的字体名（没有则返回 None）。可以重复调用。"""
    global _found
    import matplotlib
    from matplotlib import font_manager

    if _found is None:
        names = {f.name for f in font_manager.fontManager.ttflist}
        _found = [n for n in CJK_FONTS if n in names]
    matplotlib.rcParams["font.sans-serif"] = _found + ["DejaVu Sans"]
    matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["axes.unicode_minus"] = False  # 中文字体里常常没有 U+2212 减号
    if not _found:
        warnings.filterwarnings("ignore", message=r"Glyph .* missing from (current )?font")
        warnings.filterwarnings("ignore", message=r"findfont: Font family .* not found")
    return _found[0] if _found else None


def label(zh, en):
    """作图用的文字：本机有中文字体时用中文，没有时用英文，免得图上的汉字变成方框。"""
    return zh if use_chinese_font() else en
