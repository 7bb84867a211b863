"""matplotlib 的中文显示：所有作图前调用一次 use_chinese_font()（course.plots.charts 的作图函数会自己调用）。

按顺序尝试 Windows、macOS、Linux 和 Binder（Debian 的 fonts-noto-cjk）上常见的中文字体，
只把本机真正有的字体放进 font.sans-serif。

一个中文字体都没有时（WSL、容器、精简的 Linux 常常如此），不让汉字悄悄变成方框：
- 第一次调用时打印一行中文说明：缺什么、在这个系统上用哪一条命令装上（评分时不打印）；
- 课程自己的图用 label(zh, en) 写文字，这时换成英文标签，图上没有方框；
- 说明打印之后，才屏蔽 matplotlib 的“缺少字形”警告（notebook 里直接写的中文标签每个字一条，
  只会把上面那一行说明淹没；评分时写进 stderr 的警告还会让测试单元记 0 分）。
刚装好字体时 matplotlib 的字体缓存里还没有它：这里发现系统里有缓存外的字体文件，就重建一次缓存。
"""
import os
import platform
import warnings

__all__ = ["use_chinese_font", "label", "has_chinese_font", "missing_font_message", "CJK_FONTS"]

CJK_FONTS = [
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",
    "Microsoft YaHei", "SimHei", "DengXian",  # Windows
    "PingFang SC", "Hiragino Sans GB", "Heiti SC", "STHeiti",  # macOS
    "AR PL UMing CN", "Droid Sans Fallback",
]

_found = None  # 本机有的中文字体（按 CJK_FONTS 的顺序）；None 表示还没查过
_told = False  # 缺字体的说明是否已经打印过（每个进程一次）

_LINUX_COMMANDS = [  # /etc/os-release 的 ID 或 ID_LIKE -> 安装命令
    (("debian", "ubuntu"), "sudo apt-get install fonts-noto-cjk"),
    (("fedora", "rhel", "centos"), "sudo dnf install google-noto-sans-cjk-fonts"),
    (("arch",), "sudo pacman -S noto-fonts-cjk"),
    (("alpine",), "sudo apk add font-noto-cjk"),
    (("suse", "opensuse"), "sudo zypper install noto-sans-cjk-fonts"),
]


def _linux_ids(path="/etc/os-release"):
    ids = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key in ("ID", "ID_LIKE"):
                    ids += value.strip('"').lower().split()
    except OSError:
        pass
    return ids


def missing_font_message(system=None, linux_ids=None):
    """没有中文字体时打印的那一行：缺什么，以及这个系统上装字体的一条命令。"""
    system = platform.system() if system is None else system
    head = "提示：matplotlib 找不到中文字体，课程的图暂时用英文标签（不然汉字会显示成方框）。"
    if system == "Linux":
        ids = _linux_ids() if linux_ids is None else linux_ids
        command = next((cmd for names, cmd in _LINUX_COMMANDS if any(n in ids for n in names)),
                       _LINUX_COMMANDS[0][1])
        known = any(n in ids for names, _ in _LINUX_COMMANDS for n in names)
        where = "" if known else "（这是 Debian/Ubuntu 的命令，其他发行版请装 Noto Sans CJK 字体）"
        return head + "想看中文：在终端运行 %s%s，再重启内核（Kernel → Restart Kernel）。" % (command, where)
    if system == "Darwin":
        return head + "macOS 自带中文字体（苹方）：在终端运行 rm -rf ~/.matplotlib 清掉 matplotlib 的字体缓存，再重启内核。"
    if system == "Windows":
        return head + "Windows 自带中文字体（微软雅黑）：删掉 matplotlib 的字体缓存文件夹 %USERPROFILE%\\.matplotlib，再重启内核。"
    return head + "想看中文：装上 Noto Sans CJK 字体，再重启内核。"


def _cjk_in(font_manager):
    names = {f.name for f in font_manager.fontManager.ttflist}
    return [n for n in CJK_FONTS if n in names]


def _find_fonts():
    from matplotlib import font_manager

    found = _cjk_in(font_manager)
    if found:
        return found
    # 字体可能是在 matplotlib 建好字体缓存之后才装上的：系统里有缓存外的字体文件时重建一次
    try:
        known = {os.path.realpath(f.fname) for f in font_manager.fontManager.ttflist}
        new = [p for p in font_manager.findSystemFonts() if os.path.realpath(p) not in known]
    except Exception:  # 查字体文件失败不是学生的错：按没有中文字体处理
        new = []
    if new:
        for path in new:
            try:
                font_manager.fontManager.addfont(path)
            except Exception:  # 坏的字体文件：跳过
                continue
        found = _cjk_in(font_manager)
    return found


def has_chinese_font():
    """matplotlib 能不能用中文字体（只查一次）。"""
    global _found
    if _found is None:
        _found = _find_fonts()
    return bool(_found)


def use_chinese_font():
    """设置中文字体并返回找到的字体名（没有则返回 None，并在第一次时打印一行中文说明）。可以重复调用。"""
    global _told
    import matplotlib

    has_chinese_font()
    matplotlib.rcParams["font.sans-serif"] = _found + ["DejaVu Sans"]
    matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["axes.unicode_minus"] = False  # 中文字体里常常没有 U+2212 减号
    if _found:
        return _found[0]
    if not _told:
        _told = True
        if not os.environ.get("NBGRADER_EXECUTION"):
            print(missing_font_message())
        # 说明已经打印：notebook 里直接写的中文标签不再每个字刷一条警告
        warnings.filterwarnings("ignore", message=r"Glyph .* missing from (current )?font")
    return None


def label(zh, en):
    """作图用的文字：本机有中文字体时用中文，没有时用英文，免得图上的汉字变成方框。"""
    return zh if use_chinese_font() else en
