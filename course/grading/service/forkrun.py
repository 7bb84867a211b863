"""热工人：nbgrader 和课程的评分部分只导入一次，每条 nbgrader 命令在 fork 出的子进程里运行。

`python -m course.grading.batch.nbgrader_cli autograde …` 每次启动都要花三四秒导入 nbgrader、nbconvert、
jupyter_client、课程的插件。工人进程启动时（warm）把这些都导入好；每条命令（run）从工人 os.fork() 一个子进程，
子进程里运行的就是同一条命令：同样的参数、同样的环境变量和工作目录、同一个入口（nbgrader_cli.main，
也就是 nbgrader 本身和 dbsafe），只是省掉了导入。子进程和以前的命令进程一样：

- 自成一个会话（setsid），工人死掉时它收到 SIGKILL（PR_SET_PDEATHSIG）；
- 超过时限就连同它起的内核一起杀掉（killpg 整个进程组）；
- 标准输入是 /dev/null，输出写进一个临时文件，返回结尾的几千个字符；
- 工人进程里装的 Python 信号处理函数（Celery 的）在子进程里恢复成默认，忽略的信号照旧忽略（和 exec 一样）。

autograde 还有待命的子进程（Standby）：和上一份提交的评分同时 fork 出来，先为下一份同一作业的提交启动好沙箱内核
（execute/standby.py），再等工人交给它命令。内核用完就结束：一个内核从不运行两份提交。待命的内核只能给同一份作业包
（盖住哪些课程模块、导入哪些模块，每课都不一样），所以每份作业包各留一个待命子进程，最近用过的至多
standbys.standby_limit() 份（环境变量 COURSE_GRADING_STANDBY；grade-service 和 grade-worker 的 --standby）：
全班同时交几课时，工人轮到另一课不再扔掉刚启动好的内核、再冷启动一个。闲置超过 standbys.IDLE_SECONDS 秒
的待命子进程自己收拾好退出（那份作业一直没人交时不白占内存）。
"""
import collections
import contextlib
import importlib
import io
import json
import os
import select
import signal
import sys
import tempfile
import time

from . import standbys

__all__ = ["warm", "warm_release", "as_graded", "run", "Standby", "discard_standby", "WARM_MODULES"]

# 评分和生成反馈时 nbgrader 要导入的模块（按类名加载的课程插件也在内）
WARM_MODULES = (
    "course.grading.batch.dbsafe", "nbgrader.apps.nbgraderapp", "nbgrader.apps.autogradeapp",
    "nbgrader.apps.generatefeedbackapp", "nbgrader.apps.generateassignmentapp", "nbgrader.converters.autograde",
    "nbgrader.converters.generate_feedback", "nbgrader.converters.generate_assignment", "nbgrader.preprocessors",
    "nbgrader.api", "nbclient", "jupyter_client", "jupyter_client.manager", "nbconvert", "nbconvert.exporters.html",
    "course.grading.exporters", "course.grading.sanitize", "course.grading.submissions", "course.grading.collect",
    "course.grading.execute.robust", "course.grading.feedback.hidden", "course.grading.feedback.html",
    "course.grading.feedback.release", "course.grading.nbgrader_patches",
)
_warmed = False


def warm():
    """导入 WARM_MODULES（只做一次；不起线程、不开内核、不连数据库）。导入不了的跳过：子进程里会照常报错。"""
    global _warmed
    if _warmed:
        return
    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # 缺某个可选部分时，命令自己会说清楚
            pass
    try:  # nbformat 第一次校验时要编译 JSON schema：编译好的留在工人里
        import nbformat.validator

        nbformat.validator.get_validator(version=4, version_minor=5)
    except Exception:
        pass
    _alembic_head()
    _warm_feedback()
    _warmed = True


def _alembic_head():
    """新建成绩库时 nbgrader 要问 alembic 数据库结构的版本：nbgrader.api.get_alembic_version 为此启动一个
    `alembic heads` 进程（又是三秒的导入）。这里在工人里用 alembic 的 Python 接口算一次同一个值
    （同一份 nbgrader/alembic 迁移脚本的 head），之后 fork 出的命令直接用它。只有一个 head 时才这样做。"""
    try:
        import nbgrader.api
        from alembic.config import Config
        from alembic.script import ScriptDirectory
        from nbgrader.dbutil import _temp_alembic_ini

        with _temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:
            heads = ScriptDirectory.from_config(Config(ini)).get_heads()
    except Exception:
        return None
    if len(heads) != 1:
        return None
    head = heads[0]
    nbgrader.api.get_alembic_version = lambda: head
    return head


def _feedback_exporter():
    """和 nbgrader 的 GenerateFeedback 一样设置的课程反馈导出器。"""
    from traitlets.config import Config

    import nbgrader.converters.generate_feedback as generate_feedback

    from ..exporters import FeedbackExporter

    here = os.path.dirname(generate_feedback.__file__)  # 同 nbgrader 的 GenerateFeedback 给导出器的设置
    config = Config()
    config.HTMLExporter.template_name = "feedback"
    config.HTMLExporter.extra_template_basedirs = [
        os.path.abspath(os.path.join(here, "..", "server_extensions", "formgrader", "templates"))]
    config.HTMLExporter.extra_template_paths = [os.path.abspath(os.path.join(
        here, "..", "server_extensions", "formgrader", "static", "node_modules", "bootstrap", "dist", "css"))]
    return FeedbackExporter(config=config)


def _render_feedback(nb):
    _feedback_exporter().from_notebook_node(nb, resources={"nbgrader": {
        "notebook": "warm", "score": 1, "max_score": 1, "late_penalty": 0}})


def _warm_feedback():
    """用课程的反馈导出器把一份小 notebook 生成一遍 HTML：正则、代码高亮的词法表、HTML 解析器的类表、
    编译好的模板之类只在第一次用时才建的缓存留在工人里（它们只取决于代码，不取决于这份 notebook）。"""
    try:
        import nbformat
        from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

        from ..feedback import formulas, html

        code = new_code_cell("import numpy as np\nx = np.arange(3)\nprint(x)\n%timeit x\n# 注释", outputs=[
            new_output("stream", name="stdout", text="[0 1 2]\n"),
            new_output("display_data", data={"text/html": "<b>粗体</b><script>x()</script>", "text/plain": "x",
                                             "text/latex": "$x^2$"}),
            new_output("error", ename="AssertionError", evalue="不对", traceback=["\x1b[0;31mAssertionError\x1b[0m"]),
        ])
        code.metadata["nbgrader"] = {"grade": True, "grade_id": "t", "points": 1, "score": 1, "solution": False}
        text = "# 标题\n\n**粗体** *斜体* `代码` $x^2$ 和 $$\\frac{a}{b}$$ [链接](https://example.com)\n\n" \
               "- 一\n- 二\n\n1. 甲\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nprint(1)\n```\n\n<b>x</b>"
        nb = new_notebook(cells=[new_markdown_cell(text), code], metadata={"kernelspec": {
            "name": "python3", "language": "python", "display_name": "Python 3"}, "language_info": {"name": "python"}})
        html.escape_markdown_html(text)
        html.clean_output_html("<b>粗体</b><script>x()</script>")
        formulas.latex_output_to_html("$x^2$")
        _render_feedback(nbformat.from_dict(nb))
    except Exception:
        pass


_warm_releases = set()


def warm_release(paths):
    """一份作业的学生版 notebook：在工人进程里按反馈的样子生成一遍，Markdown 单元排好的 HTML 留在缓存里
    （feedback/template.py），之后每名学生的反馈里没改过的 Markdown 单元不再重排。每个文件只做一次。"""
    import nbformat

    for path in paths:
        if path in _warm_releases:
            continue
        _warm_releases.add(path)
        try:
            _render_feedback(as_graded(nbformat.read(path, as_version=4)))
        except Exception:  # 只是预热：失败了反馈照常生成
            pass


def as_graded(nb):
    """学生版 notebook 补上评分后才有的东西，预热才和真的反馈一样：分数（nbgrader 的 GetGrades 写进每个评分单元的
    score；没有它，反馈模板在开头的得分列表就出错，后面的单元一个也排不到），和内核运行后写进 notebook 的
    language_info.pygments_lexer（代码按它高亮；Python 内核 ipykernel 写的是 ipython3）。只为预热，分数是 0。"""
    info = nb.setdefault("metadata", {}).setdefault("language_info", {})
    if isinstance(info, dict) and info.get("name", "python") == "python":
        info.setdefault("name", "python")
        info.setdefault("pygments_lexer", "ipython3")
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader")
        if isinstance(meta, dict) and (meta.get("grade") or meta.get("task")):
            meta.setdefault("score", 0)
            meta.setdefault("points", 0)
    return nb


def _die_with_parent(parent):
    from ...tools.procs import die_with_parent

    os.setsid()
    if not die_with_parent(parent):  # 工人在 fork 和 prctl 之间就死了
        os._exit(70)


def _reset_signals():
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD,
                signal.SIGALRM, signal.SIGINT):
        try:
            handler = signal.getsignal(sig)
            if callable(handler) and handler is not signal.default_int_handler:
                signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.setitimer(signal.ITIMER_REAL, 0)


def _own_streams(log_fd):
    """子进程的标准输入换成 /dev/null，输出都写进 log_fd。"""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(devnull)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8", errors="replace")
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="replace",
                                  line_buffering=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace",
                                  line_buffering=True)


def _command(work, args, env, entry):
    """目录、环境变量、命令行都换成命令自己的，再运行 entry。返回退出码。"""
    os.chdir(work)
    os.environ.clear()
    os.environ.update(env)
    try:
        import locale

        locale.setlocale(locale.LC_CTYPE, "")
    except Exception:
        pass
    sys.argv = ["nbgrader", *args]
    try:
        code = entry()
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    return code


def _child(parent, work, args, env, log_fd, entry):
    """子进程：环境、目录、标准流都换成命令自己的，再运行 entry（默认 nbgrader_cli.main）。返回退出码。"""
    _die_with_parent(parent)
    _reset_signals()
    _own_streams(log_fd)
    return _command(work, args, env, entry)


def _default_entry():
    from ..batch.nbgrader_cli import main

    return main()


def _wait(pid, timeout):
    """等子进程结束，至多 timeout 秒；返回 waitpid 的状态，超时返回 None。"""
    deadline = time.monotonic() + timeout
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if fd is not None:
                select.select([fd], [], [], min(left, 60))
            else:
                time.sleep(min(left, 0.02))
    except ChildProcessError:
        return 0
    finally:
        if fd is not None:
            os.close(fd)


def _flush_streams():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass


COMMAND_MAX_BYTES = 1 << 20  # 交给待命子进程的命令（参数、环境变量、目录）至多这么大


class Standby:
    """一个提前 fork 好的子进程：先运行 prepare()（例如为下一份提交启动好沙箱内核，见 execute/standby.py），
    再等工人经管道交给它一条命令，之后和 run() 里 fork 出的子进程完全一样地运行（它为哪份作业包准备，记在
    _standbys 的键上）；不再需要时 discard()：管道关掉，子进程不运行任何命令，收拾好 prepare 留下的东西就退出。"""

    def __init__(self, prepare, entry=None):
        self.log = tempfile.TemporaryFile("w+b")
        parent = os.getpid()
        read_end, self._pipe = os.pipe()
        _flush_streams()
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                os.close(self._pipe)
                _close_other_pipes()
                code = _standby_child(parent, read_end, self.log.fileno(), prepare, entry or _default_entry)
                _flush_streams()
            finally:
                os._exit(code & 0xFF if isinstance(code, int) else 1)
        os.close(read_end)
        self.pid = pid

    def alive(self):
        try:
            done, _ = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return False
        if done:
            self.pid = None
        return not done

    def hand(self, work, args, env):
        """把命令交给子进程；交不出去（子进程已经不在了）时返回 False。"""
        data = json.dumps({"work": work, "args": list(args), "env": dict(env)}).encode("utf-8")
        if len(data) > COMMAND_MAX_BYTES or self.pid is None:
            return False
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._pipe, view):]
        except OSError:
            return False
        finally:
            os.close(self._pipe)
            self._pipe = None
        return True

    def discard(self, wait=10.0):
        """不用了：关掉管道（子进程收拾好就退出），等它至多 wait 秒，之后连同它的进程组一起杀掉。"""
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        if self.pid is not None:
            if _wait(self.pid, wait) is None:
                _kill_group(self.pid)
            self.pid = None
        self.log.close()


def _read_command(fd):
    chunks, size = [], 0
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        size += len(chunk)
        if size > COMMAND_MAX_BYTES:
            return None
        chunks.append(chunk)
    os.close(fd)
    try:
        cmd = json.loads(b"".join(chunks).decode("utf-8")) if chunks else None
    except ValueError:
        return None
    return cmd if isinstance(cmd, dict) else None


def _standby_child(parent, fd, log_fd, prepare, entry):
    _die_with_parent(parent)
    _reset_signals()
    _own_streams(log_fd)
    ready = None
    try:
        ready = prepare()
    except Exception:  # 准备不成只是少了个预先启动的内核：命令照常运行
        import traceback

        traceback.print_exc()
    # 闲置太久（这份作业一直没有新提交）就收拾好自己退出，内核占的内存还给机器；工人以后看它已经不在，照常 fork
    idle = standbys.IDLE_SECONDS  # 读模块里的值：测试可以改它
    if idle and not select.select([fd], [], [], idle)[0]:
        cmd = None
    else:
        cmd = _read_command(fd)
    if cmd is None:
        if ready is not None:
            with contextlib.suppress(Exception):
                ready.close()
        return 0
    return _command(cmd["work"], cmd["args"], cmd["env"], entry)


_standbys = collections.OrderedDict()  # 作业包的键 -> 这个工人进程里为它待命的子进程；最久没用的在前


def discard_standby():
    """结束所有待命的子进程（工人退出时）。"""
    while _standbys:
        _, standby = _standbys.popitem(last=False)
        standby.discard()


def _take_standby(key):
    """为 key 准备的、还活着的待命子进程（拿走）；别的作业包的待命子进程留着。"""
    standby = _standbys.pop(key, None)
    if standby is None:
        return None
    if standby.alive():
        return standby
    standby.discard(wait=0)
    return None


def _keep_standby(key, prepare, entry):
    """为 key fork 一个新的待命子进程；超过 standby_limit() 份时先结束最久没用的。"""
    limit = standbys.standby_limit()
    while _standbys and len(_standbys) >= max(limit, 1):
        _, old = _standbys.popitem(last=False)
        old.discard()
    if limit > 0:
        _standbys[key] = Standby(prepare, entry)


def _close_other_pipes():
    """fork 出的子进程里：关掉继承来的、通往别的待命子进程的管道写端。不关的话，那个待命子进程被交给命令以后
    要等这个子进程也退出才读得到管道的结尾，命令就白等。"""
    for standby in _standbys.values():
        if standby._pipe is not None:
            with contextlib.suppress(OSError):
                os.close(standby._pipe)


def _kill_group(pid):
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def run(work, args, env, timeout, entry=None, standby=None):
    """在 work 里、环境 env 下运行 `nbgrader 参数…`（fork 出的子进程）。返回 (退出码或 "timeout", 输出的结尾)。

    standby=(key, prepare)：有为 key 待命的子进程时交给它运行（它已经做好了 prepare()）；然后马上为下一条
    同样的命令 fork 一个新的待命子进程，让它的 prepare() 和这条命令同时进行。别的键的待命子进程留着。"""
    entry = entry or _default_entry
    parent = os.getpid()
    ready = _take_standby(standby[0]) if standby else None
    if ready is not None and not ready.hand(work, args, env):
        ready.discard(wait=0)
        ready = None
    log = ready.log if ready is not None else tempfile.TemporaryFile("w+b")
    with log:
        if ready is not None:
            pid = ready.pid
        else:
            _flush_streams()
            pid = os.fork()
            if pid == 0:  # 子进程：无论如何都用 os._exit 结束，不回到工人的代码里
                code = 70
                try:
                    _close_other_pipes()
                    code = _child(parent, work, args, env, log.fileno(), entry)
                    _flush_streams()
                finally:
                    os._exit(code & 0xFF if isinstance(code, int) else 1)
        if standby:
            _keep_standby(standby[0], standby[1], entry)
        try:
            status = _wait(pid, timeout)
        except BaseException:  # 等的时候被打断（例如 Celery 的软时限）：命令不能在工人删掉它的文件夹时还在跑
            _kill_group(pid)
            raise
        if status is None:
            _kill_group(pid)
            code = "timeout"
        else:
            code = os.waitstatus_to_exitcode(status)
        log.seek(0, os.SEEK_END)
        size = log.tell()
        log.seek(max(0, size - 24000))
        text = log.read().decode("utf-8", "replace")
    return code, text[-6000:]
