"""评分程序不被学生文件夹里的东西骗（course/grading/files/safe.py）、反馈 HTML 里没有学生的活代码
（course/grading/feedback/html.py）。

先在单个函数上检查，再用一次真正的 `nbgrader autograde` + `nbgrader generate_feedback`：一名学生
在提交里留下指向课程外的符号链接、FIFO 和超大文件，评分时又在自己的工作目录里种下符号链接和 FIFO，
输出 <script>；另一名学生老老实实地做。对照组用去掉 filesafe 的原版做法评同样的提交，证明这些攻击
不加防护时确实得逞（也就证明这里的断言能发现它们）。
"""
import copy
import os
import re
import stat
import sys
from pathlib import Path

import nbformat
import pytest

from course.grading.files import safe as filesafe, events as report
from course.grading.batch import selftest as kit
from course.grading.feedback.html import clean_output_html, escape_markdown_html, with_csp

ROOT = Path(__file__).resolve().parent.parent
SECRET = "filesafe-secret-do-not-copy"
ATTACKS = [
    "<script>window.PWNED=1</script>", "<img src=x onerror=alert(1)>", "<img src='http://evil.example/x.png'>",
    "[a](javascript:alert(1))", "<a href='javascript:alert(1)'>a</a>", "<iframe srcdoc='<script>'></iframe>",
    "<svg onload=alert(1)>", "<details open ontoggle=alert(1)>", "[x]: javascript:alert(1)",
    "<img\nsrc=x\nonerror=alert(1)>", "<scr<script>ipt>alert(1)</script>",
]


# ---------- 单个函数 ----------

def test_open_regular_refuses_links_fifos_and_big_files(tmp_path):
    (tmp_path / "ok.txt").write_text("ok")
    (tmp_path / "big.bin").write_bytes(b"x" * 2048)
    (tmp_path / "link").symlink_to(tmp_path / "ok.txt")
    os.mkfifo(tmp_path / "pipe")
    fd = filesafe.open_regular(str(tmp_path / "ok.txt"))
    assert os.read(fd, 10) == b"ok"
    os.close(fd)
    for name, words in [("link", "符号链接"), ("pipe", "FIFO"), ("big.bin", "超过上限")]:
        with pytest.raises(filesafe.Refused, match=words):
            filesafe.open_regular(str(tmp_path / name), max_bytes=1024)


def test_safe_copy_never_writes_through_a_link(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    src, dst = tmp_path / "src.txt", tmp_path / "out" / "dst.txt"
    src.write_text("new content")
    dst.parent.mkdir()
    dst.symlink_to(outside)
    assert filesafe.safe_copy(str(src), str(dst), 1024) == len("new content")
    assert outside.read_text() == "keep me"
    assert not dst.is_symlink() and dst.read_text() == "new content"
    with pytest.raises(filesafe.Refused):
        filesafe.safe_copy(str(src), str(tmp_path / "out" / "small.txt"), 4)
    assert not (tmp_path / "out" / "small.txt").exists()


def test_timestamp_is_read_from_the_one_file_it_checked(tmp_path, monkeypatch):
    """timestamp.txt：普通文件照常读；符号链接、FIFO、太大、空的按没有提交时间处理（不卡住），写错了照 nbgrader 报错。"""
    from nbgrader.coursedir import CourseDirectory

    cd = CourseDirectory()
    folders = {name: tmp_path / name for name in ("ok", "link", "fifo", "big", "empty", "bad", "missing")}
    for folder in folders.values():
        folder.mkdir()
    (folders["ok"] / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC\n")
    (folders["link"] / "timestamp.txt").symlink_to(folders["ok"] / "timestamp.txt")
    os.mkfifo(folders["fifo"] / "timestamp.txt")
    (folders["big"] / "timestamp.txt").write_text("2026-12-01 10:00:00 UTC" + " " * 10000)
    (folders["empty"] / "timestamp.txt").write_text("")
    (folders["bad"] / "timestamp.txt").write_text("yesterday")
    got = filesafe.read_timestamp(cd, str(folders["ok"]))
    assert (got.year, got.month, got.day, got.hour) == (2026, 12, 1, 10)
    for name in ("link", "fifo", "big", "empty", "missing"):
        assert filesafe.read_timestamp(cd, str(folders[name])) is None, name
    with pytest.raises(RuntimeError, match="写的不是时间"):
        filesafe.read_timestamp(cd, str(folders["bad"]))
    # 检查和读取是同一次 open：之间不再有按路径的 lstat/isfile（换文件的空当）
    for fn in ("lexists", "isfile", "islink", "exists"):
        monkeypatch.setattr(os.path, fn, lambda *a: pytest.fail("按路径检查了 timestamp.txt"))
    assert filesafe.read_timestamp(cd, str(folders["ok"])) == got


def test_sweep_removes_links_and_special_files_only(tmp_path):
    target = tmp_path / "target.txt"
    target.write_text("t")
    folder = tmp_path / "graded"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.ipynb").write_text("{}")
    (folder / "sub" / "link").symlink_to(target)
    (folder / "dirlink").symlink_to(tmp_path)
    os.mkfifo(folder / "pipe")
    removed = dict(filesafe.sweep(str(folder)))
    assert set(removed) == {os.path.join("sub", "link"), "dirlink", "pipe"}
    assert "符号链接" in removed["dirlink"] and "FIFO" in removed["pipe"]
    assert (folder / "a.ipynb").is_file() and target.read_text() == "t"
    assert sorted(p.name for p in folder.rglob("*")) == ["a.ipynb", "sub"]


@pytest.mark.parametrize("attack", ATTACKS)
def test_markdown_and_output_html_lose_live_code(attack):
    md, changed = escape_markdown_html("学生写的：" + attack)
    assert changed >= 1
    live_html = r"(?i)<(script|iframe|svg)|<[^>]*\bon\w+\s*=|<[^>]*(href|src)\s*=\s*['\"]?(javascript:|http)"
    assert not re.search(live_html + r"|\]\(\s*javascript:|\]:\s*javascript:", md), md
    assert not re.search(live_html, clean_output_html(attack)), clean_output_html(attack)


def test_course_markdown_is_left_alone():
    for path in sorted(ROOT.glob("source/*/*.ipynb")):
        for cell in nbformat.read(path, 4).cells:
            if cell.cell_type == "markdown":
                assert escape_markdown_html(cell.source) == (cell.source, 0), (path.name, cell.source[:80])


def test_csp_allows_only_the_template_scripts():
    html = ('<html><head><script src="https://cdn.example/m.js"></script><script>var ok=1;</script></head>'
            '<body><script>window.PWNED=1</script></body></html>')
    out = with_csp(html)
    meta = re.search(r'<head>\n<meta http-equiv="Content-Security-Policy" content="([^"]+)">', out)
    assert meta, out[:300]
    policy = meta.group(1)
    assert "https://cdn.example" in policy and "default-src 'none'" in policy and "img-src data:" in policy
    import base64
    import hashlib

    def digest(s):
        return "'sha256-%s'" % base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()

    assert digest("var ok=1;") in policy and digest("window.PWNED=1") not in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]


# ---------- 一次真正的 autograde + generate_feedback ----------

PLANT = '''import os as _os
from IPython.display import HTML as _HTML, Javascript as _Js, display as _display
for _name, _target in [("layers.ipynb", {victim!r}), ("planted.txt", {chmod!r})]:
    try:
        if _os.path.lexists(_name):  # 评分中的 notebook 已经在这里了：删掉，换成链接
            _os.remove(_name)
        _os.symlink(_target, _name)
    except OSError:
        pass
try:
    _os.mkfifo("planted_fifo")
except OSError:
    pass
_display(_HTML("<b>hi</b><script>window.PWNED=1</script><img src=x onerror='window.PWNED2=1'>"
               "<img src='http://evil.example/x.png'>"))
_display(_Js("window.PWNED3=1"))
'''


def _outside(base):
    out = base / "outside"
    out.mkdir()
    files = {"victim": out / "victim.txt", "chmod": out / "chmod_target.txt", "secret": out / "secret.txt"}
    for name, path in files.items():
        path.write_text("%s %s\n" % (name, SECRET))
        path.chmod(0o600)
    return files


def _class(base, config_py, extra=""):
    root = kit.build_course(str(base / "course"), config_py, "c.Execute.timeout = 60\n" + extra)
    release = kit.release_notebook(root)
    kit.submit(root, "honest", kit.answer(copy.deepcopy(release)))
    files = _outside(base)
    nb = kit.answer(copy.deepcopy(release),
                    prefix={"mul_forward": PLANT.format(victim=str(files["victim"]), chmod=str(files["chmod"]))})
    nb.cells.append(nbformat.v4.new_markdown_cell("我的笔记\n\n" + "\n\n".join(ATTACKS)))
    kit.submit(root, "attacker", nb)
    folder = Path(root) / "submitted" / "attacker" / kit.ASSIGNMENT
    (folder / "notes.txt").symlink_to(files["secret"])
    os.mkfifo(folder / "pipe")
    with open(folder / "big.bin", "wb") as f:
        f.truncate((filesafe.MAX_FILE_MB + 5) * 2 ** 20)
    before = {k: (p.read_text(), stat.S_IMODE(p.stat().st_mode)) for k, p in files.items()}
    procs = [kit.run_nbgrader(root, "autograde", kit.ASSIGNMENT, timeout=600),
             kit.run_nbgrader(root, "generate_feedback", kit.ASSIGNMENT, timeout=600)]
    after = {k: (p.read_text(), stat.S_IMODE(p.stat().st_mode)) for k, p in files.items()}
    return {"root": Path(root), "procs": procs, "before": before, "after": after}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return _class(tmp_path_factory.mktemp("filesafe"), str(ROOT / "nbgrader_config.py"))


def _tree(folder):
    return [p for p in folder.rglob("*")] if folder.exists() else []


def test_the_grading_run_finishes(graded):
    for proc in graded["procs"]:
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]


def test_files_outside_the_student_folder_are_untouched(graded):
    assert graded["after"] == graded["before"]


def test_attacker_gets_no_more_than_the_honest_student(graded):
    honest, attacker = kit.scores(str(graded["root"]), "honest"), kit.scores(str(graded["root"]), "attacker")
    assert sum(honest.values()) == sum(kit.POINTS.values())
    assert sum(attacker.values()) <= sum(honest.values())


def test_nothing_unsafe_reaches_autograded_or_feedback(graded):
    root = graded["root"]
    for top in ("autograded", "feedback"):
        for path in _tree(root / top / "attacker"):
            st = os.lstat(path)
            assert stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode), "%s 不是普通文件" % path
            assert st.st_size < filesafe.MAX_FILE_MB * 2 ** 20, path
            if stat.S_ISREG(st.st_mode):
                assert SECRET not in path.read_text(errors="replace"), path
        names = {p.name for p in _tree(root / top / "attacker")}
        assert not names & {"notes.txt", "pipe", "big.bin", "planted.txt", "planted_fifo"}, (top, names)
    assert (root / "submitted" / "attacker" / kit.ASSIGNMENT / "big.bin").exists()  # 提交本身不动


def test_refusals_are_recorded_in_the_grading_report(graded):
    reps = [r for r in report.collect(str(graded["root"] / "autograded"), kit.ASSIGNMENT)
            if r["student"] == "attacker" and r["notebook"] == filesafe.FILES_NOTEBOOK]
    details = " ".join(e["detail"] for r in reps for e in r["events"])
    for words in ["notes.txt", "符号链接", "pipe", "FIFO", "big.bin", "超过上限", "planted.txt", "planted_fifo"]:
        assert words in details, (words, details)
    # 把评分中的 notebook 换成链接：有沙箱时根本换不了（工作目录里的 .ipynb 在沙箱里盖着 /dev/null），
    # 没有沙箱时换得了，由 filesafe 在写评分结果前拆掉并记下
    graded_report = [r for r in report.collect(str(graded["root"] / "autograded"), kit.ASSIGNMENT)
                     if r["student"] == "attacker" and r["notebook"] == kit.NOTEBOOK]
    assert graded_report
    assert ("layers.ipynb" in details) == (graded_report[0]["sandbox"] != "bwrap"), details
    assert not [r for r in report.collect(str(graded["root"] / "autograded"), kit.ASSIGNMENT)
                if r["student"] == "honest" and r["notebook"] == filesafe.FILES_NOTEBOOK]


def _feedback_html(root, student):
    return (root / "feedback" / student / kit.ASSIGNMENT / (kit.NOTEBOOK + ".html")).read_text(encoding="utf-8")


def test_feedback_html_has_no_live_student_code(graded):
    html = _feedback_html(graded["root"], "attacker")
    body = html.split("</head>", 1)[1]
    assert 'http-equiv="Content-Security-Policy"' in html.split("</head>", 1)[0]
    assert not re.search(r"<script[^>]*>[^<]*PWNED", body, re.I)  # 源码里有这些字样，但不在 <script> 里
    assert not re.search(r"<[^>]*\bon(error|load|toggle)\s*=", body, re.I)
    assert not re.search(r"<[^>]*\b(src|href)\s*=\s*['\"]?javascript:", body, re.I)
    assert not re.search(r"<[^>]*\b(src|srcset|poster|background)\s*=\s*['\"]?http://evil", body, re.I)  # 链接可以，加载不行
    assert "application/javascript" not in body
    assert "我的笔记" in body and "&lt;script&gt;window.PWNED" in body  # 学生的 Markdown 还在，只是变成了文字


def test_feedback_scripts_do_not_run_in_a_browser(graded, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    sys.path.insert(0, str(Path(__file__).parent))
    from browser_helpers import CHROMIUM_FLAGS, INSTALL_HINT, find_chromium

    chromium = find_chromium()
    if chromium is None:
        pytest.skip(INSTALL_HINT)
    path = graded["root"] / "feedback" / "attacker" / kit.ASSIGNMENT / (kit.NOTEBOOK + ".html")
    requested, dialogs = [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.route("**/*", lambda route: (requested.append(route.request.url),
                                           route.continue_() if route.request.url.startswith("file:")
                                           else route.abort()))
        page.goto(path.as_uri())
        page.wait_for_timeout(1500)
        flags = page.evaluate("[typeof window.PWNED, typeof window.PWNED2, typeof window.PWNED3]")
        out = Path(os.environ.get("COURSE_ARTIFACTS", ROOT / "test-artifacts")) / "feedback"
        out.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out / "attacker-feedback.png"), full_page=False)
        browser.close()
    assert flags == ["undefined"] * 3 and not dialogs
    assert not [u for u in requested if "evil.example" in u], requested


def test_without_filesafe_the_same_attacks_succeed(tmp_path):
    """对照组：同样的提交，配置里不装 filesafe、反馈不清理（原版 nbgrader 的做法）。"""
    config = (ROOT / "nbgrader_config.py").read_text(encoding="utf-8")
    config = config.replace('    "course.grading.feedback.html.SanitizeStudentHTML",', "")
    # nbgrader 原来的导出器：不加载 course.grading.exporters，nbgrader_patches 也就没有装上
    config = config.replace('"course.grading.exporters.SafeNotebookExporter"', '"nbconvert.exporters.NotebookExporter"')
    config = config.replace('"course.grading.exporters.FeedbackExporter"', '"nbconvert.exporters.HTMLExporter"')
    assert "course.grading.exporters" not in config
    stock = tmp_path / "stock_config.py"
    stock.write_text(config, encoding="utf-8")
    result = _class(tmp_path, str(stock), "c.CourseDirectory.ignore = ['.ipynb_checkpoints', 'pipe']\n")
    assert result["after"] != result["before"]  # 写穿了符号链接，或者 chmod 了课程外的文件
    leaked = [p for top in ("autograded", "feedback") for p in _tree(result["root"] / top / "attacker")
              if p.is_file() and not p.is_symlink() and SECRET in p.read_text(errors="replace")]
    assert leaked
