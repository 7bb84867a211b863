"""预先启动的评分内核：评分服务的工人在评这一份提交时，就为下一份提交启动好沙箱内核。

内核启动（Python 导入 ipykernel、numpy……）约占一份 notebook 评分用时的一半。评分服务的工人
（service/forkrun.py 的 Standby）提前 fork 一个待命的子进程，子进程调用 prepare()：按作业模板课程的
nbgrader_config.py 建好 RobustExecute 会用的 SandboxedKernelManager，启动内核，等它能回应，再让它静默地导入学生版的
普通代码单元要导入的 numpy、matplotlib 和课程模块（preimports()：只导入，不绑定名字，不计执行次数）；之后子进程
运行下一份提交的 `nbgrader autograde`，RobustExecute.create_kernel_manager() 调用 adopt() 接手这个内核。

接手的条件（任何一条不满足就照常冷启动一个新内核，待命的内核结束）：
- 启动这个内核的一切（launch_spec：内核命令、沙箱里的环境变量、资源上限、挂载的目录、盖住的课程模块……）
  和这份 notebook 冷启动时会用的完全相同；
- 它看不到的路径包含这份 notebook 的内核看不到的全部路径：待命内核看不到整个工人缓存文件夹
  （所有作业包和所有任务），只看到一个空的工作文件夹；
- 它还活着，它的工作文件夹还是空的（内核启动时没有往里写东西）。

接手时把 nbgrader 放进工作文件夹（autograded/<学生>/<作业>）的文件移进待命内核的工作文件夹，再把后者
改名成前者：内核看到的就是这份提交的文件，nbgrader 照旧在原来的路径读写。工作文件夹里的 notebook
（含隐藏测试）不移进去，内核结束后才放回（见 Ready.move_in）。一个待命内核只被接手一次
（拿走就清空），用完照常结束：一个内核从不运行两份提交。内核出事重启时照常冷启动。
"""
import os
import shutil
import tempfile

__all__ = ["prepare", "adopt", "holding", "put_back", "kernel_manager", "preimports", "Ready", "PREIMPORT_PACKAGES"]

# 待命内核启动好以后先导入学生版里普通代码单元导入的这几个包的模块（不绑定任何名字）：学生的第一个单元
# `import numpy as np` 就不必在评分的路上等
PREIMPORT_PACKAGES = ("numpy", "matplotlib", "course")

_READY = None  # 这个进程里待命的内核（至多一个）
_ADOPTED = None  # 已经被接手、还有 notebook 放在一旁的那个


def holding():
    """有接手时放在一旁、还没放回的 notebook 吗。"""
    return _ADOPTED is not None


def put_back():
    """RobustExecute 结束内核以后调用：接手时放在一旁的 notebook 放回工作文件夹。"""
    global _ADOPTED
    ready, _ADOPTED = _ADOPTED, None
    if ready is not None:
        ready.put_back()


class Ready:
    """一个已经启动、能回应的待命内核。"""

    def __init__(self, km, slot, log):
        self.km, self.slot, self.log = km, slot, log

    def close(self):
        from jupyter_core.utils import run_sync

        try:
            run_sync(self.km.shutdown_kernel)(now=True)
        except Exception as exc:
            self.log.debug("结束待命内核时出错：%s", exc)
        shutil.rmtree(self.slot, ignore_errors=True)

    def refuse(self, km, client):
        """这份 notebook 不能接手它的原因；能接手时返回空字符串。"""
        if type(km) is not type(self.km) or km.kernel_name != self.km.kernel_name:
            return "内核种类不同"
        try:
            if km.kernel_spec.env:
                return "内核规格里有环境变量"
            wanted = dry_spec(km, client)
        except Exception as exc:
            return "算不出冷启动的参数（%s）" % exc
        if wanted != getattr(self.km, "launched_spec", None):
            return "启动参数不同"
        roots = [os.path.realpath(p) for p in self.km.strict_paths]
        for path in km.hidden_paths:
            real = os.path.realpath(path)
            if not any(real == r or real.startswith(r.rstrip("/") + "/") for r in roots):
                return "待命内核能看到 %s" % path
        workdir = km.workdir
        if not workdir or os.path.islink(workdir) or not os.path.isdir(workdir):
            return "没有工作文件夹"
        if os.listdir(self.slot) or os.stat(self.slot).st_dev != os.stat(workdir).st_dev:
            return "待命内核的工作文件夹不能用"
        from jupyter_core.utils import run_sync

        if not run_sync(self.km.is_alive)():
            return "待命内核已经退出"
        return ""

    def move_in(self, workdir):
        """workdir 里的文件移进待命内核的工作文件夹，再把它改名成 workdir。

        workdir 里的 notebook（nbgrader 整理好、正要运行的这一份，测试单元已换成含隐藏测试的原版）不移进去：
        冷启动的内核启动时它们被盖上 /dev/null，待命内核早已启动，盖不上了。它们先放在 workdir 旁边
        内核看不到的地方，内核结束后 put_back() 放回（nbgrader 随后写评好的 notebook 时照常覆盖）。"""
        mode = os.stat(workdir).st_mode & 0o7777
        self.workdir = workdir
        self.held = tempfile.mkdtemp(prefix=".held-", dir=os.path.dirname(workdir))
        moved = []
        try:
            for name in os.listdir(workdir):
                dest = self.held if name.endswith(".ipynb") else self.slot
                os.rename(os.path.join(workdir, name), os.path.join(dest, name))
                moved.append((name, dest))
            os.rmdir(workdir)
            os.rename(self.slot, workdir)
        except OSError:
            os.makedirs(workdir, exist_ok=True)
            for name, dest in moved:
                os.rename(os.path.join(dest, name), os.path.join(workdir, name))
            os.rmdir(self.held)
            self.held = None
            raise
        os.chmod(workdir, mode)

    def put_back(self):
        """内核结束以后：放在一旁的 notebook 放回工作文件夹。

        学生代码可能在同名的位置放了东西（例如一个叫 layers.ipynb 的文件夹：nbgrader 写不进评好的 notebook，
        反馈也就没了）。冷启动的内核做不到（那个名字上盖着 /dev/null），这里也不让它做到：同名的东西删掉
        （不跟随链接），再放回。内核进程没能确认已经结束时不放回，直接删掉（nbgrader 随后照样写评好的 notebook）。"""
        if not getattr(self, "held", None):
            return
        dead = self._kernel_gone()
        for name in os.listdir(self.held):
            target = os.path.join(self.workdir, name)
            if not dead:
                continue
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target, ignore_errors=True)
            elif os.path.lexists(target):
                os.unlink(target)
            os.rename(os.path.join(self.held, name), target)
        shutil.rmtree(self.held, ignore_errors=True)
        self.held = None

    def _kernel_gone(self):
        """接手的内核（bwrap 进程和它的 cgroup 里的进程）确实都结束了吗。"""
        process = getattr(self, "process", None)
        if process is not None and process.poll() is None:
            return False
        group = getattr(self, "group", None)
        try:
            return group is None or not group.pids()
        except OSError:
            return True  # cgroup 已经删掉了


def dry_spec(km, client):
    """km 冷启动时 SandboxedKernelManager.launch_spec 会算出的值（nbclient 启动内核时加的参数也照样加上）。"""
    extra = list(client.extra_arguments)
    if getattr(km, "ipykernel", False) and client.ipython_hist_file and \
            not any(a.startswith("--HistoryManager.hist_file") for a in extra):
        extra.append("--HistoryManager.hist_file=%s" % client.ipython_hist_file)
    saved = km.connection_file
    km.connection_file = "/nonexistent/standby/kernel.json"  # 冷启动时的连接文件在 launch_spec 里换成占位符
    try:
        return km.launch_spec(km.format_kernel_cmd(extra), os.environ)
    finally:
        km.connection_file = saved


def kernel_manager(course, assignment, workdir, config=None):
    """按 course（作业模板课程）的 nbgrader_config.py（或给定的 config），像 RobustExecute 那样为这份作业的
    第一个学生版 notebook 建好（还没启动的）KernelManager。返回 (client, km)；没有学生版时返回 (None, None)。"""
    import nbformat
    from nbclient import NotebookClient
    from traitlets.config.loader import PyFileConfigLoader

    from .kernel_control import KernelChoice
    from .robust import RobustExecute

    from ..files.release import assignment_notebooks

    release = assignment_notebooks(os.path.join(course, "release"), assignment)
    if not release:
        return None, None
    if config is None:
        config = PyFileConfigLoader("nbgrader_config.py", path=course).load_config()
    client = RobustExecute(config=config)
    NotebookClient.__init__(client, nbformat.read(release[0], as_version=4), None)
    client.resources = {"metadata": {"path": workdir}}
    choice = KernelChoice(client, client.log, None, client.config.get("Exchange", {}).get("root"), workdir,
                          release[0], client.trusted_tests)
    choice.choose()
    client.kernel_manager_class = choice.manager_class
    return client, choice.configure(NotebookClient.create_kernel_manager(client))


def prepare(course, assignment, cache_dir, env):
    """待命的子进程里：按 course（作业模板课程）的配置启动一个沙箱内核，登记为待命内核并返回 Ready；
    这份作业用不了沙箱（或者没有学生版）时返回 None。内核看不到整个 cache_dir（只看到其中一个空的工作文件夹）
    和课程配置里的交换目录。
    env 是评分命令的环境变量（nbgrader 运行 notebook 时还会加上 NBGRADER_EXECUTION=autograde）。"""
    global _READY
    from jupyter_core.utils import run_sync

    from ..files.release import assignment_notebooks
    from ..sandbox.kernels import SandboxedKernelManager

    os.environ.clear()
    os.environ.update(env)
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    jobs = os.path.join(cache_dir, "jobs")
    os.makedirs(jobs, exist_ok=True)
    slot = tempfile.mkdtemp(prefix=".standby-%d-" % os.getpid(), dir=jobs)
    client, km = kernel_manager(course, assignment, slot)
    if not isinstance(km, SandboxedKernelManager):
        os.rmdir(slot)
        return None
    km.hidden_paths = list(km.hidden_paths) + [os.path.realpath(cache_dir)]  # 课程配置里的交换目录照旧也盖住
    km.strict_paths = list(km.strict_paths) + [os.path.realpath(cache_dir)]
    client.km = km
    try:
        run_sync(client.async_start_new_kernel)()
        kc = km.client()
        kc.start_channels()
    except BaseException:
        Ready(km, slot, client.log).close()
        raise
    try:
        run_sync(kc.wait_for_ready)(timeout=120)
        modules = preimports(assignment_notebooks(os.path.join(course, "release"), assignment))
        if modules:
            _import_in_kernel(kc, modules)
    except BaseException:
        Ready(km, slot, client.log).close()
        raise
    finally:
        kc.stop_channels()
    _READY = Ready(km, slot, client.log)
    return _READY


def preimports(notebooks):
    """学生版 notebook 里普通代码单元（不是答案，也不是测试）在顶层导入的模块中属于 PREIMPORT_PACKAGES 的，
    按出现的顺序、不重复。只看老师写的学生版，不看学生交上来的任何东西。"""
    import ast

    from nbgrader import utils

    from ..files.release import read_release

    names = []
    for path in notebooks:
        nb = read_release(path)
        for cell in (nb.cells if nb is not None else []):
            if cell.cell_type != "code" or utils.is_grade(cell) or utils.is_solution(cell):
                continue
            code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.splitlines())
            try:
                tree = ast.parse(code)
            except SyntaxError:
                continue
            for node in tree.body:
                if isinstance(node, ast.Import):
                    found = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found = [node.module]
                else:
                    continue
                names += [n for n in found if n.split(".")[0] in PREIMPORT_PACKAGES and n not in names]
    return names


def _import_in_kernel(kc, modules, timeout=120):
    """在内核里静默地（不计执行次数、不进历史、不绑定名字）导入 modules；导入不了的（沙箱盖住的模块）跳过。"""
    from jupyter_core.utils import run_sync

    code = "\n".join("try:\n    __import__(%r)\nexcept Exception:\n    pass" % name for name in modules)
    msg_id = kc.execute(code, silent=True, store_history=False)
    while True:
        reply = run_sync(kc.get_shell_msg)(timeout=timeout)
        if reply.get("parent_header", {}).get("msg_id") == msg_id:
            return reply["content"].get("status")


def adopt(km, client):
    """RobustExecute.create_kernel_manager() 新建的 km（还没有启动）：能接手待命内核时把提交的文件移过去，
    返回待命内核的 KernelManager（已启动）；不能时返回 None（待命内核结束）。待命内核无论如何只给一次。"""
    global _READY
    ready, _READY = _READY, None
    if ready is None:
        return None
    why = ready.refuse(km, client)
    if not why:
        try:
            ready.move_in(km.workdir)
        except OSError as exc:
            why = "移不了工作文件夹（%s）" % exc
    if why:
        client.log.info("没有用预先启动的评分内核：%s", why)
        ready.close()
        return None
    global _ADOPTED
    _ADOPTED = ready
    adopted = ready.km
    ready.process = getattr(adopted.provisioner, "process", None)  # put_back 前确认它们都已结束
    ready.group = getattr(adopted, "cgroup", None)
    # 之后重启内核时用这份提交真正的路径
    adopted.workdir, adopted.hidden_paths, adopted.strict_paths = km.workdir, km.hidden_paths, km.strict_paths
    client.log.info("评分内核：接手预先启动的沙箱内核")
    return adopted
