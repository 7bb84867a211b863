"""测试的分层（tests/conftest.py 的 LAYERS）：每个测试模块恰好属于一层，层名就是 pyproject.toml 里声明的 marker，
`python -m pytest -m unit` 之类的命令靠它挑出一层。新加的测试文件没写进表里时，这里和收集阶段都会失败。
"""
import tomllib
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

import conftest
from conftest import LAYERS, ROOT, layer_table

TESTS = Path(__file__).resolve().parent


def modules_on_disk():
    """tests/ 里 pytest 会收集的测试模块（pytest 默认的 test_*.py 和 *_test.py）。"""
    files = set(TESTS.glob("test_*.py")) | set(TESTS.glob("*_test.py"))
    return sorted(p.stem for p in files)


def test_every_test_module_is_in_exactly_one_layer():
    listed = Counter(module for modules in LAYERS.values() for module in modules)
    twice = sorted(m for m, n in listed.items() if n > 1)
    assert twice == [], "这些模块在 LAYERS 里出现了不止一次：%s" % twice
    missing = sorted(set(modules_on_disk()) - set(listed))
    assert missing == [], "这些测试文件还没有分层，把它们写进 tests/conftest.py 的 LAYERS：%s" % missing
    stale = sorted(set(listed) - set(modules_on_disk()))
    assert stale == [], "LAYERS 里的这些模块已经没有对应的文件：%s" % stale


def test_layers_are_the_declared_markers_and_markers_are_strict():
    ini = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    declared = [line.split(":", 1)[0].strip() for line in ini["markers"]]
    assert declared == list(LAYERS)
    assert "--strict-markers" in ini["addopts"].split()
    assert "-m" not in ini["addopts"].split(), "默认的 python -m pytest 要运行全部测试"


def test_each_collected_test_carries_exactly_one_layer(request):
    items = request.session.items
    assert request.node in items
    wrong = [item.nodeid for item in items if len([m for m in item.iter_markers() if m.name in LAYERS]) != 1]
    assert wrong == []
    here = [m.name for m in request.node.iter_markers() if m.name in LAYERS]
    assert here == ["unit"]


def test_a_module_listed_twice_is_refused(monkeypatch):
    monkeypatch.setitem(conftest.LAYERS, "browser", conftest.LAYERS["browser"] + ("test_graph",))
    with pytest.raises(ValueError, match="test_graph"):
        layer_table()
    with pytest.raises(pytest.UsageError, match="不止一次"):
        conftest.pytest_collection_modifyitems(None, [])


def test_a_new_file_without_a_layer_stops_the_collection():
    marks = []
    known = SimpleNamespace(path=TESTS / "test_graph.py", add_marker=marks.append)
    new = SimpleNamespace(path=TESTS / "test_brand_new_thing.py", add_marker=marks.append)
    with pytest.raises(pytest.UsageError, match="tests/test_brand_new_thing.py"):
        conftest.pytest_collection_modifyitems(None, [known, new])
    conftest.pytest_collection_modifyitems(None, [known])
    assert [m.name for m in marks] == ["unit", "unit"]
