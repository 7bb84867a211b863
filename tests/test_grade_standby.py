"""预先启动的评分内核（course/grading/execute/standby.py）：评分服务的工人为下一份提交提前启动好沙箱内核。

在 pytest 进程里直接调用 prepare / adopt，内核是真正的 bubblewrap 沙箱内核：
- 待命内核看不到工人缓存里的任何东西（作业包里的隐藏测试、别的任务），只看到一个空的工作文件夹；
  对照：同样的内核、只是不盖住缓存，就读得到（缓存在 c.GradingSandbox.extra_ro_paths 只读挂载的文件夹里）；
- 接手时提交的文件移进内核的工作文件夹，nbgrader 整理好的、含隐藏测试的 notebook 不进去，内核结束后才放回；
- 启动参数和这份 notebook 冷启动时的不一样（例如内存上限）时不接手，待命内核结束；
- 一个待命内核只给一次；
- 待命内核启动后静默地导入了学生版普通单元要导入的 numpy 和课程模块：不多出名字，执行次数和冷启动的一样
  （对照：冷启动的内核没有导入）；导入哪些模块只看老师写的普通单元；
- 评分内核的客户端（PromptKernelClient）在内核回答了 kernel_info、IOPub 也送来消息时就算就绪，不再白等 0.2 秒；
  内核死了时照样报错。
评分服务整条路上的接手（成绩和批量评分逐个单元相同）见 test_grade_service.py，学生代码的攻击见 test_redteam_service.py。
"""
import copy
import os

import pytest

from conftest import ROOT
from course.grading.batch import selftest as st
from course.grading.sandbox import bubblewrap as sandbox

needs_bwrap = pytest.mark.skipif(not sandbox.probe().available, reason="bubblewrap 沙箱不可用")

SECRET = "BEGIN HIDDEN TESTS (作业包里的)"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("standby"))
    root = os.path.join(base, "course")
    # 工人缓存所在的文件夹被教师设成只读挂进沙箱：不盖住缓存的内核就能读到里面的东西（对照用）
    st.build_course(root, str(ROOT / "nbgrader_config.py"), "c.GradingSandbox.extra_ro_paths = [%r]\n" % base)
    cache = os.path.join(base, "cache")
    secret = os.path.join(cache, "bundles", "abc123", "source", st.ASSIGNMENT)
    os.makedirs(secret)
    with open(os.path.join(secret, "secret.txt"), "w", encoding="utf-8") as f:
        f.write(SECRET)
    return {"base": base, "root": root, "cache": cache, "secret": os.path.join(secret, "secret.txt")}


@pytest.fixture
def environ():
    """prepare() 换掉整个 os.environ（它本来在待命的子进程里运行）：测试之后换回来。"""
    saved = dict(os.environ)
    yield dict(os.environ, LANG="C.UTF-8")
    os.environ.clear()
    os.environ.update(saved)


def _run(km, code):
    """在内核里运行 code，返回 stdout。"""
    from jupyter_core.utils import run_sync

    kc = km.client()
    kc.start_channels()
    out = []
    try:
        run_sync(kc.wait_for_ready)(timeout=60)
        reply = run_sync(kc.execute_interactive)(code, timeout=60, output_hook=lambda m: out.append(
            m["content"].get("text", "") if m["msg_type"] == "stream" else ""))
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        kc.stop_channels()
    return "".join(out)


def _shutdown(km):
    from jupyter_core.utils import run_sync

    run_sync(km.shutdown_kernel)(now=True)


def _run_cold(course, name, code):
    """按课程配置冷启动一个沙箱内核（工作文件夹在缓存的 jobs/name，缓存不盖住），运行 code，返回 stdout。"""
    from jupyter_core.utils import run_sync

    from course.grading.execute import standby

    slot = os.path.join(course["cache"], "jobs", name)
    os.makedirs(slot, exist_ok=True)
    client, km = standby.kernel_manager(course["root"], st.ASSIGNMENT, slot)
    client.km = km
    run_sync(client.async_start_new_kernel)()
    try:
        return _run(km, code)
    finally:
        _shutdown(km)


PEEK = """
import glob, os
def _peek(path):
    try:
        return open(path, encoding='utf-8').read()
    except OSError as e:
        return type(e).__name__
print('SECRET=' + _peek(%r))
print('CACHE=' + repr(sorted(glob.glob(%r + '/**', recursive=True))))
print('CWD=' + repr(sorted(os.listdir('.'))))
"""


@needs_bwrap
def test_a_prestarted_kernel_sees_nothing_of_the_worker_cache(course, environ):
    from course.grading.execute import standby

    ready = standby.prepare(course["root"], st.ASSIGNMENT, course["cache"], environ)
    assert ready is not None and standby._READY is ready
    try:
        out = _run(ready.km, PEEK % (course["secret"], course["cache"]))
        assert "SECRET=FileNotFoundError" in out and SECRET not in out, out
        # 缓存里只看得见内核自己的（空的）工作文件夹
        cache_line = [x for x in out.splitlines() if x.startswith("CACHE=")][0]
        assert "abc123" not in cache_line and "secret" not in cache_line, out
        assert "CWD=[]" in out
    finally:
        standby._READY = None
        ready.close()
    assert not os.path.exists(ready.slot)

    # 对照：同样按课程配置建的沙箱内核、工作文件夹同在缓存里，只是不盖住缓存：作业包里的隐藏测试读得到
    out = _run_cold(course, "control", PEEK % (course["secret"], course["cache"]))
    assert "SECRET=" + SECRET in out, out


def _job_folder(course, name):
    """一份任务的工作文件夹（nbgrader 刚整理好的样子）：附带的数据文件和含隐藏测试的 notebook。"""
    work = os.path.join(course["cache"], "jobs", name, "autograded", "alice", st.ASSIGNMENT)
    os.makedirs(work)
    with open(os.path.join(work, "data.txt"), "w", encoding="utf-8") as f:
        f.write("学生的数据")
    with open(os.path.join(work, st.NOTEBOOK + ".ipynb"), "w", encoding="utf-8") as f:
        f.write(SECRET)
    return work


@needs_bwrap
def test_adopting_moves_the_submission_in_and_keeps_the_notebook_with_hidden_tests_out(course, environ):
    from course.grading.execute import standby

    ready = standby.prepare(course["root"], st.ASSIGNMENT, course["cache"], environ)
    work = _job_folder(course, "job-adopt")
    client, km = standby.kernel_manager(course["root"], st.ASSIGNMENT, work)
    adopted = standby.adopt(km, client)
    try:
        assert adopted is ready.km and adopted.has_kernel
        assert standby._READY is None and standby.adopt(km, client) is None  # 只给一次
        assert sorted(os.listdir(work)) == ["data.txt"]  # notebook 放在一旁
        out = _run(adopted, "import os, glob\nprint(sorted(os.listdir('.')), open('data.txt', encoding='utf-8').read())\n"
                            "print(glob.glob('**/*.ipynb', recursive=True), glob.glob('../**/*.ipynb', recursive=True))\n"
                            "open('written.txt', 'w').write('内核写的')\n"
                            # 攻击：在 notebook 的名字上放一个文件夹，nbgrader 就写不进评好的 notebook，反馈也没了
                            "os.makedirs('%s.ipynb/x')\n" % st.NOTEBOOK)
        assert "['data.txt'] 学生的数据" in out and SECRET not in out, out
        assert "%s.ipynb" % st.NOTEBOOK not in out, out
        with open(os.path.join(work, "written.txt"), encoding="utf-8") as f:  # nbgrader 在原来的路径看到内核写的文件
            assert f.read() == "内核写的"
        assert adopted.workdir == work  # 之后重启内核时用这份提交真正的路径
        assert os.path.isdir(os.path.join(work, st.NOTEBOOK + ".ipynb"))  # 攻击得手的样子（冷启动的内核做不到）
    finally:
        _shutdown(adopted)
        standby.put_back()
    assert sorted(os.listdir(work)) == ["data.txt", st.NOTEBOOK + ".ipynb", "written.txt"]
    with open(os.path.join(work, st.NOTEBOOK + ".ipynb"), encoding="utf-8") as f:  # 同名的文件夹删掉，notebook 放回
        assert f.read() == SECRET
    assert not [n for n in os.listdir(os.path.dirname(work)) if n.startswith(".held-")]


@needs_bwrap
def test_a_notebook_is_not_put_back_while_the_adopted_kernel_may_still_run(course, environ):
    from course.grading.execute import standby

    standby.prepare(course["root"], st.ASSIGNMENT, course["cache"], environ)
    work = _job_folder(course, "job-alive")
    client, km = standby.kernel_manager(course["root"], st.ASSIGNMENT, work)
    adopted = standby.adopt(km, client)
    try:
        standby.put_back()  # 内核还在运行：放在一旁的 notebook（含隐藏测试）不放回，直接删掉
        assert sorted(os.listdir(work)) == ["data.txt"]
        assert not [n for n in os.listdir(os.path.dirname(work)) if n.startswith(".held-")]
        assert "[]" in _run(adopted, "import glob\nprint(glob.glob('*.ipynb'))")
    finally:
        _shutdown(adopted)


@needs_bwrap
def test_a_kernel_started_with_other_limits_is_not_adopted(course, environ):
    from traitlets.config.loader import PyFileConfigLoader

    from course.grading.execute import standby

    ready = standby.prepare(course["root"], st.ASSIGNMENT, course["cache"], environ)
    work = _job_folder(course, "job-other-limits")
    config = copy.deepcopy(PyFileConfigLoader("nbgrader_config.py", path=course["root"]).load_config())
    config.GradingSandbox.memory_mb = 1234
    client, km = standby.kernel_manager(course["root"], st.ASSIGNMENT, work, config=config)
    messages = []
    client.log.info = lambda fmt, *args: messages.append(fmt % args)
    assert standby.adopt(km, client) is None
    assert any("启动参数不同" in m for m in messages), messages
    assert not ready.km.has_kernel and not os.path.exists(ready.slot)  # 待命内核结束了
    assert sorted(os.listdir(work)) == ["data.txt", st.NOTEBOOK + ".ipynb"]  # 提交的文件原样不动
    # 对照：同样的配置就接手
    ready = standby.prepare(course["root"], st.ASSIGNMENT, course["cache"], environ)
    client, km = standby.kernel_manager(course["root"], st.ASSIGNMENT, work)
    adopted = standby.adopt(km, client)
    try:
        assert adopted is ready.km
    finally:
        _shutdown(adopted)
        standby.put_back()


def test_the_grading_kernel_client_is_ready_without_idling_and_still_sees_every_output():
    from jupyter_core.utils import run_sync

    from course.grading.sandbox.kernels import LimitedKernelManager, PromptKernelClient

    km = LimitedKernelManager()
    run_sync(km.start_kernel)()
    try:
        for i in range(5):  # 每次一个新的客户端（每份 notebook 都是这样）：就绪以后第一个单元的输出一个不少
            kc = km.client()
            assert isinstance(kc, PromptKernelClient)
            assert _run(km, "print('第 %d 次', 6 * 7)" % i) == "第 %d 次 42\n" % i
    finally:
        run_sync(km.shutdown_kernel)(now=True)
    # 内核死了：不会一直等下去
    kc = km.client()
    kc.start_channels()
    try:
        with pytest.raises(RuntimeError):
            run_sync(kc.wait_for_ready)(timeout=5)
    finally:
        kc.stop_channels()


PREIMPORTED = ("import sys\n"
               "print('NUMPY=%s' % ('numpy' in sys.modules))\n"
               "print('NAMES=%s' % sorted(n for n in ('np', 'numpy') if n in globals()))\n"
               "print('COUNT=%d' % get_ipython().execution_count)\n")


@needs_bwrap
def test_a_prestarted_kernel_has_imported_numpy_without_binding_a_name_or_counting_an_execution(course, environ):
    from course.grading.execute import standby

    assert "numpy" in standby.preimports([os.path.join(course["root"], "release", st.ASSIGNMENT, n)
                                          for n in os.listdir(os.path.join(course["root"], "release", st.ASSIGNMENT))
                                          if n.endswith(".ipynb")])
    ready = standby.prepare(course["root"], st.ASSIGNMENT, course["cache"], environ)
    try:
        out = _run(ready.km, PREIMPORTED)
    finally:
        standby._READY = None
        ready.close()
    # 导入过了，但学生的命名空间里没有多出名字
    assert "NUMPY=True" in out and "NAMES=[]" in out, out
    warm = out

    # 对照：同样的内核冷启动，numpy 还没有导入
    out = _run_cold(course, "cold", PREIMPORTED)
    assert "NUMPY=False" in out and "NAMES=[]" in out, out
    # 执行次数和冷启动的一样：静默的导入不计数
    count = [line for line in warm.splitlines() if line.startswith("COUNT=")]
    assert count and count == [line for line in out.splitlines() if line.startswith("COUNT=")], (warm, out)


def test_preimports_come_from_the_instructors_plain_cells_only(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from course.grading.execute.standby import preimports

    def cell(source, **nbgrader):
        c = new_code_cell(source)
        if nbgrader:
            c.metadata["nbgrader"] = dict({"grade": False, "solution": False, "locked": False,
                                           "grade_id": source[:8], "schema_version": 3}, **nbgrader)
        return c

    nb = new_notebook(cells=[
        cell("%matplotlib inline\nimport numpy as np\nimport os, json\nimport matplotlib.pyplot as plt"),
        cell("from course.graph import Graph\nfrom . import local\nimport layers\nimport numpy"),
        cell("def f():\n    import course.fmt\n"),                      # 不在顶层
        cell("import course.answers", solution=True),                     # 答案单元：学生会改
        cell("from course.checks.x import check", grade=True, points=1),  # 测试单元：在评判进程里运行
        cell("this is not python ("),
    ])
    path = tmp_path / "lesson.ipynb"
    nbformat.write(nb, str(path))
    assert preimports([str(path)]) == ["numpy", "matplotlib.pyplot", "course.graph"]


NEIGHBOUR = r"""
import os, signal, socket
target = %r
killed = []
for d in os.listdir('/proc'):
    if d.isdigit() and int(d) != os.getpid():
        try:
            cmd = open('/proc/%%s/cmdline' %% d, 'rb').read()
        except OSError:
            continue
        if target.encode() in cmd:
            try:
                os.kill(int(d), signal.SIGKILL)
                killed.append(d)
            except OSError:
                pass
seen = sorted(os.listdir(target)) if os.path.exists(target) else []
conn = []
for path in %r:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        conn.append('connected')
    except OSError as e:
        conn.append(type(e).__name__)
    finally:
        s.close()
print('KILLED=%%r SEEN=%%r CONN=%%r' %% (killed, seen, conn))
"""


@needs_bwrap
def test_a_student_kernel_cannot_reach_the_standby_kernel_kept_for_another_lesson(course, environ):
    """工人为每课各留一个待命内核（service/forkrun.py）：评分中的学生内核和它们同时在。学生代码知道隔壁内核的
    私有文件夹（连接文件、套接字）也够不着：看不到它的进程（杀不了）、看不到文件夹、连不上套接字，隔壁内核之后
    照常回答。对照：同样的代码不在沙箱里运行，就把隔壁内核杀掉了。"""
    import glob
    import subprocess
    import sys

    from jupyter_core.utils import run_sync

    from course.grading.execute import standby

    managers = []
    try:
        for name in ("neighbour", "student"):
            slot = os.path.join(course["cache"], "jobs", name)
            os.makedirs(slot, exist_ok=True)
            client, km = standby.kernel_manager(course["root"], st.ASSIGNMENT, slot)
            client.km = km
            run_sync(client.async_start_new_kernel)()
            managers.append(km)
        neighbour, student = managers
        assert _run(neighbour, "print('up')").strip() == "up"  # 内核已经绑好套接字
        sockets = sorted(glob.glob(os.path.join(neighbour.private_dir, "ipc", "*")))
        assert sockets, os.listdir(neighbour.private_dir)
        attack = NEIGHBOUR % (neighbour.private_dir, sockets)
        out = _run(student, attack)
        assert "KILLED=[] SEEN=[] CONN=[" in out and "connected" not in out, out
        assert run_sync(neighbour.is_alive)() and _run(neighbour, "print(6 * 7)").strip() == "42"

        # 对照：不在沙箱里，同样的代码找得到、杀得掉隔壁的内核
        res = subprocess.run([sys.executable, "-c", attack], capture_output=True, text=True, timeout=60)
        assert "KILLED=[]" not in res.stdout and "SEEN=[]" not in res.stdout and "connected" in res.stdout, \
            res.stdout + res.stderr
        for _ in range(100):
            if not run_sync(neighbour.is_alive)():
                break
            import time

            time.sleep(0.05)
        assert not run_sync(neighbour.is_alive)()
    finally:
        for km in managers:
            _shutdown(km)
