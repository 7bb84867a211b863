"""nbgrader_config.py 只有设置：加载它不改动 nbgrader，每项设置都和默认值不同；补丁由 nbgrader 按名字加载的
导出器装上（course/grading/nbgrader_patches.py），版本不对就拒绝。"""
import json
import subprocess
import sys

from conftest import ROOT

LOAD = r"""
import json, sys
from traitlets.config.loader import PyFileConfigLoader
config = PyFileConfigLoader("nbgrader_config.py", path=%r).load_config()
from nbgrader.converters.base import BaseConverter
print(json.dumps({"patched": bool(getattr(BaseConverter, "_course_filesafe", False)),
                  "course": sorted(m for m in sys.modules if m.startswith("course")),
                  "settings": {s: {k: repr(v) for k, v in config[s].items()} for s in config}}))
"""

DEFAULTS = r"""
import json
from traitlets.config.loader import PyFileConfigLoader
from traitlets.utils.importstring import import_item
from nbgrader.apps import NbGraderApp
config = PyFileConfigLoader("nbgrader_config.py", path=%r).load_config()
classes = {c.__name__: c for c in NbGraderApp().all_configurable_classes()}
from course.grading.execute.robust import RobustExecute
from course.grading.sandbox.bubblewrap import GradingSandbox
from nbgrader.exchange import ExchangeFactory
from nbgrader.exchange.default.exchange import Exchange
from nbgrader.validator import Validator
classes.update(RobustExecute=RobustExecute, GradingSandbox=GradingSandbox, ExchangeFactory=ExchangeFactory,
               Exchange=Exchange, Validator=Validator)
same, unknown = [], []
for section in config:
    cls = classes.get(section)
    for key, value in config[section].items():
        trait = cls.class_traits().get(key) if cls is not None else None
        if trait is None:
            unknown.append("%%s.%%s" %% (section, key))
            continue
        default = trait.default()
        if isinstance(default, type):
            default = "%%s.%%s" %% (default.__module__, default.__qualname__)
        if value == default:
            same.append("%%s.%%s" %% (section, key))
print(json.dumps({"same": same, "unknown": unknown}))
"""


def _run(code):
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_loading_the_config_changes_nothing_in_nbgrader():
    got = _run(LOAD % str(ROOT))
    assert not got["patched"] and got["course"] == [], got["course"]
    assert "course.grading.exporters" in got["settings"]["Autograde"]["exporter_class"]
    assert "course.grading.exporters" in got["settings"]["GenerateFeedback"]["exporter_class"]


def test_no_setting_restates_a_default(tmp_path):
    got = _run(DEFAULTS % str(ROOT))
    assert got["unknown"] == [] and got["same"] == [], got
    # 对照：复述两个默认值（nbgrader 的和课程自己的），这个检查就会把它们找出来
    config = (ROOT / "nbgrader_config.py").read_text(encoding="utf-8")
    (tmp_path / "nbgrader_config.py").write_text(
        config + "\nc.LimitOutput.max_lines = 1000\nc.GradingSandbox.memory_mb = 4096\n", encoding="utf-8")
    assert _run(DEFAULTS % str(tmp_path))["same"] == ["LimitOutput.max_lines", "GradingSandbox.memory_mb"]


def test_nbgrader_loading_the_exporter_installs_the_patches_for_the_pinned_version_only():
    code = ("import json, nbgrader\nfrom nbgrader.converters.base import BaseConverter\n%s"
            "try:\n    import course.grading.exporters\n    print(json.dumps({'patched': BaseConverter._course_filesafe}))\n"
            "except RuntimeError as exc:\n    print(json.dumps({'refused': str(exc)}))\n")
    assert _run(code % "") == {"patched": True}
    refused = _run(code % "nbgrader.__version__ = '0.9.7'\n")["refused"]
    assert "0.9.6" in refused and "0.9.7" in refused and "requirements.txt" in refused


def test_cell_metadata_checks_build_the_schema_validator_once_and_fail_exactly_as_before(monkeypatch):
    """nbgrader 检查每个单元的元数据（CheckCellMetadata）：补丁以后每份 schema 只检查一次，结果和出错都与原来相同。"""
    import jsonschema
    import pytest
    from nbformat.v4 import new_code_cell
    from nbgrader.nbgraderformat import common
    from nbgrader.nbgraderformat.v3 import MetadataValidatorV3

    from course.grading import nbgrader_patches

    nbgrader_patches.install()
    validator = MetadataValidatorV3()
    good = {"grade": True, "grade_id": "t1", "points": 2, "solution": False, "locked": True, "schema_version": 3}
    bad = [dict(good, points="两分"), dict(good, grade="yes"), dict(good, grade_id=7), {"schema_version": 3}]
    checks = []
    original = jsonschema.Draft4Validator.check_schema
    monkeypatch.setattr(jsonschema.Draft4Validator, "check_schema",
                        classmethod(lambda cls, s, *a, **k: checks.append(1) or original.__func__(cls, s, *a, **k)))
    for _ in range(20):
        validator.validate_cell(new_code_cell("x = 1", metadata={"nbgrader": dict(good)}))
    for meta in bad:
        with pytest.raises(jsonschema.ValidationError) as ours:
            validator.validate_cell(new_code_cell("x = 1", metadata={"nbgrader": dict(meta)}))
        with pytest.raises(jsonschema.ValidationError) as stock:
            jsonschema.validate(dict(meta), validator.schema)
        assert (ours.value.message, list(ours.value.path)) == (stock.value.message, list(stock.value.path))
    assert len(checks) - len(bad) == 1  # 课程：24 次校验只检查了一次 schema（减去上面对照用的 jsonschema.validate）
    # 对照：nbgrader 原来的写法（common 里的 jsonschema 就是 jsonschema 模块）每次都检查
    monkeypatch.setattr(common, "jsonschema", jsonschema)
    checks.clear()
    for _ in range(20):
        MetadataValidatorV3().validate_cell(new_code_cell("x = 1", metadata={"nbgrader": dict(good)}))
    assert len(checks) == 20


_ADD_SUBMISSION = r"""
import sys
from nbgrader.api import Gradebook
if sys.argv[1] == "quiet":
    from course.grading.nbgrader_patches import quiet_add_submission_warning
    quiet_add_submission_warning()
with Gradebook("sqlite:///" + sys.argv[2]) as gb:
    gb.update_or_create_assignment("a1")
    gb.update_or_create_notebook("nb", "a1")
    gb.update_or_create_grade_cell("g1", "nb", "a1", max_score=1, cell_type="code")
    gb.add_student("s1")
    gb.add_submission("a1", "s1")
    print(gb.find_submission("a1", "s1").student.id)
import warnings
from sqlalchemy.exc import SAWarning
warnings.warn("Object of type <Grade> is something else", SAWarning)
"""


def test_the_add_submission_warning_is_filtered_and_nothing_else(tmp_path):
    """nbgrader 的 add_submission 在 SQLAlchemy 2 下打印的 SAWarning（成绩其实照常写下）在我们的进程里滤掉；
    对照：不装过滤时真的打印，提交也真的加进了成绩库。"""
    def run(mode):
        res = subprocess.run([sys.executable, "-W", "default", "-c", _ADD_SUBMISSION, mode,
                              str(tmp_path / ("%s.db" % mode))], capture_output=True, text=True, cwd=str(ROOT),
                             timeout=120)
        assert res.returncode == 0 and res.stdout.strip() == "s1", res.stderr[-2000:]
        return res.stderr

    stock = run("stock")
    assert "SAWarning" in stock and "not in session" in stock
    quiet = run("quiet")
    assert "not in session" not in quiet
    assert "SAWarning: Object of type <Grade> is something else" in quiet  # 别的 SAWarning 照样打印
