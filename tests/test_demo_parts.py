"""course/demo 的各个零件（不运行 nbgrader 的评分，几秒钟）：把答案填进学生版、学生名单、
分批、sqlite 成绩库的并发写入保护和一致性检查。整个流程见 test_demo_class.py。"""
import os
import subprocess
import sys
import textwrap

import nbformat
import pytest

from conftest import RELEASE, SOURCE
from course.demo.notebooks import REF, DemoError, fill, regions, solution_cells
from course.demo.students import PERSONAS, Work, build_submission, roster
from course.grading.batch import dbsafe
from course.grading.batch.parallel import batch_args, plan_batches

LESSONS = sorted(p.name for p in SOURCE.iterdir() if p.is_dir())


def _pair(a):
    (src,) = (SOURCE / a).glob("*.ipynb")
    return nbformat.read(str(src), as_version=4), nbformat.read(str(RELEASE / a / src.name), as_version=4)


@pytest.mark.parametrize("a", LESSONS)
def test_untouched_work_is_exactly_the_release(a):
    src, rel = _pair(a)
    assert fill(rel, src, {}) == rel


@pytest.mark.parametrize("a", LESSONS)
def test_reference_answers_replace_every_stub(a):
    src, rel = _pair(a)
    nb = fill(rel, src, {(gid, "*"): REF for gid in solution_cells(src)})
    for gid, cell in solution_cells(nb).items():
        assert "NotImplementedError(\"还没有实现" not in cell.source and "BEGIN SOLUTION" not in cell.source, gid
        for r in regions(solution_cells(src)[gid].source):
            assert r.body.strip().splitlines()[0].strip() in cell.source
    assert [c.get("id") for c in nb.cells] == [c.get("id") for c in rel.cells]


def test_answers_are_indented_like_the_stub():
    src, rel = _pair(LESSONS[1])
    nb = fill(rel, src, {("mul_layer", "backward"): "dx = dout * self.y\nreturn dx, dout * self.x"})
    cell = solution_cells(nb)["mul_layer"].source
    assert "        dx = dout * self.y\n        return dx, dout * self.x" in cell
    assert "raise NotImplementedError" in cell  # forward 没动


def test_unknown_exercise_or_function_is_a_clear_error():
    src, rel = _pair(LESSONS[1])
    with pytest.raises(DemoError, match="没有函数 'backwards'"):
        fill(rel, src, {("mul_layer", "backwards"): "pass"})
    with pytest.raises(DemoError, match="不存在"):
        fill(rel, src, {("no_such_cell", "*"): "pass"})


def test_every_persona_builds_every_planned_submission():
    for persona in PERSONAS:
        for lesson, work in persona.plan.items():
            (a,) = [x for x in LESSONS if x.startswith(lesson)]
            src, rel = _pair(a)
            sub = build_submission(work, a, rel, src, "x.ipynb")
            if persona.id == "chu_yun" and lesson == "03":
                with pytest.raises(Exception):
                    nbformat.reads(sub.text, as_version=4)
            else:
                nbformat.reads(sub.text, as_version=4)
    with pytest.raises(DemoError, match="未知的写法"):
        build_submission(Work("fancy"), LESSONS[0], *reversed(_pair(LESSONS[0])), "x.ipynb")


def test_roster_cycles_through_the_class():
    ids = [sid for sid, _ in roster(30)]
    assert len(set(ids)) == 30 and ids[:12] == [p.id for p in PERSONAS] and ids[12] == "zhao_lei_002"
    assert [s for s, _ in roster(["wei_ning", "li_wei_007"])] == ["wei_ning", "li_wei_007"]
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValueError, match="正整数"):
            roster(bad)
    with pytest.raises(ValueError, match="没有学生"):
        roster(["nobody"])


def test_batches_cover_every_student_once_and_balance_the_work():
    costs = {"s%03d" % i: 6 if i % 3 else 2 for i in range(200)}
    batches = plan_batches(costs, 2)
    flat = [s for b in batches for s in b]
    assert sorted(flat) == sorted(costs) and len(flat) == len(set(flat))
    assert max(len(b) for b in batches) <= 8 and len(batches) >= 6
    loads = [sum(costs[s] for s in b) for b in batches]
    assert max(loads) - min(loads) <= 6
    assert plan_batches({}, 2) == [] and plan_batches({"a": 3}, 4) == [["a"]]
    # 小班级少分几批：四名学生共 7 份 notebook，两个进程各一批
    assert len(plan_batches({"a": 2, "b": 2, "c": 2, "d": 1}, 2)) == 2
    # 演示班级：48 份 notebook，两个进程分六批
    assert len(plan_batches({"s%d" % i: 6 if i < 6 else 2 for i in range(12)}, 2)) == 6


def test_batch_arguments_select_exactly_the_batch():
    everyone = ["a", "b", "c", "d"]
    assert batch_args(["b"], everyone) == ["--student", "b"]
    assert batch_args(["a", "c"], everyone) == ["--CourseDirectory.student_id_exclude=b,d"]
    assert batch_args(everyone, everyone) == []


WRITER = textwrap.dedent("""
    import sys
    from course.grading.batch import dbsafe
    if sys.argv[3] == "safe":
        dbsafe.install()
    from nbgrader.api import Gradebook
    url, tag = sys.argv[1], sys.argv[2]
    for i in range(6):
        with Gradebook(url, "backprop-zh") as gb:
            gb.update_or_create_student("%s%02d" % (tag, i), first_name="x")
            gb.add_submission("ps1", "%s%02d" % (tag, i))
""")


def test_parallel_writers_all_get_through_with_the_guard(tmp_path, monkeypatch):
    from nbgrader.api import Gradebook

    # 新建成绩库时 nbgrader 要调用同一个环境里的 alembic
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    url = "sqlite:///%s" % (tmp_path / "gradebook.db")
    with Gradebook(url, "backprop-zh") as gb:
        gb.add_assignment("ps1")
    env = dict(os.environ, LANG="C.UTF-8")
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, tag, "safe"], env=env, stderr=subprocess.PIPE,
                              text=True) for tag in ("p", "q", "r")]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    expected = {"ps1": {"%s%02d" % (t, i) for t in "pqr" for i in range(6)}}
    with Gradebook(url, "backprop-zh") as gb:
        assert {s.student.id for s in gb.find_assignment("ps1").submissions} == expected["ps1"]
    assert dbsafe.consistency_problems(url, "backprop-zh", expected) == []
    # 一致性检查确实会报告缺了的和多出来的提交
    wrong = {"ps1": (expected["ps1"] - {"p00"}) | {"zz"}}
    problems = dbsafe.consistency_problems(url, "backprop-zh", wrong)
    assert any("zz" in p and "没有评分记录" in p for p in problems)
    assert any("p00" in p and "不该有" in p for p in problems)


def test_guard_rejects_a_bad_timeout():
    with pytest.raises(ValueError, match="毫秒"):
        dbsafe.install(-1)
