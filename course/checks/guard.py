"""隐藏测试开始前的“复原”：把学生代码可能改动过的公共对象换回原样。

隐藏测试的第一行：

    from course.checks.guard import restore as _restore; _restore()

复原的内容：
- builtins、math、numbers、functools、warnings、random 和 numpy（含 numpy.testing、numpy.linalg、
  numpy.random 等全部已加载的子模块）里被改写的函数；
- sys.excepthook / displayhook / stdout / stderr、trace/profile 函数、导入机制（sys.meta_path、
  path_hooks）、SIGINT 处理函数；递归深度被调低时调回原值；
- IPython：被替换的 showtraceback 等方法、输入/AST 变换器、自定义异常处理、事件回调；
  ipykernel 的消息处理函数；
- course 包和全部检查模块（course.checks.*）：sys.modules 里的条目、模块里的函数和 __path__
  都换回原样（对象身份不变，学生用 course.graph.model.Graph 建的对象照样通过 isinstance），
  所以随后 `from course.checks.xxx import check_xxx` 拿到的一定是原版，
  学生在作业文件夹里放一个假的 course/ 也冒充不了；
- notebook 里的 np / numpy 名字若被换掉，重新指向真正的 numpy。

原样在第一次调用 snapshot()（或 restore()）时拍下。autograde 时（course.grading.execute.robust.RobustExecute）
在任何学生代码运行之前就调用 snapshot()，并且每个测试单元执行前都会先复原一次。
这能挡住常见的篡改（猴子补丁、关掉 traceback 等）；一个能在内核里执行任意代码、并且专门
针对本模块下手的学生理论上仍能绕过它，这类代码会被 course.grading.files.events 的静态扫描标出来。
"""
import builtins
import importlib
import signal
import sys
import threading
import types

__all__ = ["restore", "snapshot", "HIDDEN_MARK_MIME"]

HIDDEN_MARK_MIME = "application/vnd.course.hidden-tests+json"
_PREFIXES = ("numpy.", "course.")
_WATCHED = ("course", "builtins", "math", "cmath", "numbers", "operator", "functools", "itertools", "warnings",
            "random", "copy", "numpy")
_SHELL_ATTRS = ("InteractiveTB", "SyntaxTB", "CustomTB", "custom_exceptions", "displayhook", "display_pub",
                "display_formatter", "excepthook")

# 复原时要用的东西，在导入时就握在手里（之后学生改写模块属性也影响不到这里）
_vars, _setattr, _getattr, _isinstance, _list, _dict = vars, setattr, getattr, isinstance, list, dict
_module_type = types.ModuleType
_import_module = importlib.import_module
_modules = sys.modules
_SNAP = None


def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _class_functions(classes):
    return {cls: {k: v for k, v in _vars(cls).items() if _isinstance(v, (types.FunctionType, property,
                                                                           classmethod, staticmethod))}
            for cls in classes}


def snapshot():
    """拍下当前状态作为“原样”。只有第一次调用有效，之后不会覆盖已有的快照。"""
    global _SNAP
    if _SNAP is not None:
        return
    for name in ("numpy", "numpy.linalg", "numpy.random", "numpy.testing"):  # 让它们以原样进入快照
        _import_module(name)
    for name in _WATCHED:
        try:
            _import_module(name)
        except ImportError:
            pass
    _import_all_checks()
    mods = {name: (m, _dict(_vars(m)), _list(_getattr(m, "__path__", None) or []))
            for name, m in _list(_modules.items())
            if _isinstance(m, _module_type) and name != __name__
            and (name in _WATCHED or name.startswith(_PREFIXES))}
    snap = {
        "modules": mods,
        "sys": {k: _getattr(sys, k) for k in ("excepthook", "displayhook", "stdout", "stderr", "breakpointhook")},
        "recursionlimit": sys.getrecursionlimit(),
        "meta_path": _list(sys.meta_path), "path_hooks": _list(sys.path_hooks), "path": _list(sys.path),
        "sigint": signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None,
        "ip": None,
    }
    ip = _ipython()
    if ip is not None:
        kernel = _getattr(ip, "kernel", None)
        objs = [ip] + ([kernel, kernel.session] if kernel is not None else [])
        snap["ip"] = {
            "shell": ip, "kernel": kernel,
            "classes": _class_functions([c for o in objs for c in type(o).__mro__ if c is not object]),
            "instance": {id(o): (o, {k: v for k, v in _vars(o).items() if callable(v)}) for o in objs},
            "attrs": {a: _getattr(ip, a) for a in _SHELL_ATTRS if hasattr(ip, a)},
            "lists": {a: _list(_getattr(ip, a)) for a in ("input_transformers_post", "ast_transformers")},
            "itm": {a: _list(_getattr(ip.input_transformer_manager, a, [])) for a in
                    ("cleanup_transforms", "line_transforms", "token_transformers")},
            "events": {k: _list(v) for k, v in ip.events.callbacks.items()},
            "handlers": _dict(kernel.shell_handlers) if kernel is not None else {},
            "control_handlers": _dict(_getattr(kernel, "control_handlers", {})) if kernel is not None else {},
        }
    _SNAP = snap


def _import_all_checks():
    """把 course 包和全部检查模块先导入进快照（之后导入的模块无法保证是原样）。"""
    import pkgutil
    try:
        checks = _import_module("course.checks")
    except Exception:  # 没有 course 包时仍然复原 numpy、builtins 等
        return
    for info in pkgutil.iter_modules(checks.__path__):
        try:
            _import_module("course.checks." + info.name)
        except Exception:  # 个别模块导入失败时不影响其余模块
            pass


def _from_notebook(fn):
    """fn 是不是在 notebook 单元里定义的（或者是 notebook 里定义的类的实例）。"""
    for obj in (fn, _getattr(fn, "__func__", None), type(fn)):
        if obj is None:
            continue
        if _getattr(obj, "__module__", None) == "__main__":
            return True
        code = _getattr(obj, "__code__", None)
        if _isinstance(code, types.CodeType) and ("ipykernel_" in code.co_filename
                                                  or code.co_filename.startswith("<")):
            return True
    return False


def _restore_dict(target, original):
    for k, v in original.items():
        if target.get(k, _restore_dict) is not v:
            target[k] = v


def _restore_modules(snap):
    for name, (mod, original, path) in snap["modules"].items():
        if _modules.get(name) is not mod:
            _modules[name] = mod
        _restore_dict(_vars(mod), original)
        if path and _getattr(mod, "__path__", None) != path:
            mod.__path__[:] = path  # 学生在 course.__path__ 里塞进作业文件夹，就能冒充检查模块


def _restore_sys(snap):
    for k, v in snap["sys"].items():
        if _getattr(sys, k) is not v:
            _setattr(sys, k, v)
    sys.settrace(None)
    sys.setprofile(None)
    threading.settrace(None)
    threading.setprofile(None)
    if sys.getrecursionlimit() < snap["recursionlimit"]:  # 调高是正常需要（深的计算图），调低才是捣乱
        sys.setrecursionlimit(snap["recursionlimit"])
    sys.meta_path[:] = snap["meta_path"]
    sys.path_hooks[:] = snap["path_hooks"]
    sys.path_importer_cache.clear()
    extra = [p for p in sys.path if p not in snap["path"]]
    sys.path[:] = snap["path"] + extra
    if snap["sigint"] is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, snap["sigint"])


def _restore_ipython(ipsnap):
    ip = ipsnap["shell"]
    for cls, funcs in ipsnap["classes"].items():
        current = _vars(cls)
        for k, v in funcs.items():
            if current.get(k) is not v:
                _setattr(cls, k, v)
    for obj, callables in ipsnap["instance"].values():
        d = _vars(obj)
        for k in _list(d):
            if k in callables:
                if d[k] is not callables[k]:
                    d[k] = callables[k]
            elif callable(d[k]) and _isinstance(_getattr(type(obj), k, None), (types.FunctionType, property)):
                del d[k]  # 实例属性遮住了类里的方法（例如 ip.showtraceback = lambda *a: None）
    for a, v in ipsnap["attrs"].items():
        if _getattr(ip, a) is not v:
            _setattr(ip, a, v)
    for a, v in ipsnap["lists"].items():
        _setattr(ip, a, _list(v))
    for a, v in ipsnap["itm"].items():
        if hasattr(ip.input_transformer_manager, a):
            _setattr(ip.input_transformer_manager, a, _list(v))
    callbacks = ip.events.callbacks
    for k, registered in _list(callbacks.items()):
        # 只去掉 notebook 里定义的回调；matplotlib 等库之后注册的回调保留
        registered[:] = [f for f in registered if f in ipsnap["events"].get(k, ()) or not _from_notebook(f)]
    kernel = ipsnap["kernel"]
    if kernel is not None:
        kernel.shell_handlers.clear()
        kernel.shell_handlers.update(ipsnap["handlers"])
        if ipsnap["control_handlers"]:
            kernel.control_handlers.clear()
            kernel.control_handlers.update(ipsnap["control_handlers"])
    user_ns = ip.user_ns
    if user_ns.get("__builtins__") is not builtins:
        user_ns["__builtins__"] = builtins
    numpy = _modules.get("numpy")
    for name in ("np", "numpy"):
        if name in user_ns and user_ns[name] is not numpy:
            user_ns[name] = numpy


def restore(mark=True):
    """复原一切（见模块说明）。隐藏测试的第一行调用它；mark=True 时输出一个不可见的标记，
    生成反馈时标记之后的输出会被去掉（学生代码可能在隐藏测试期间打印测试源码）。"""
    snapshot()
    snap = _SNAP
    _restore_modules(snap)
    _restore_sys(snap)
    if snap["ip"] is not None:
        _restore_ipython(snap["ip"])
    if mark and snap["ip"] is not None:
        snap["ip"]["shell"].display_pub.publish(data={HIDDEN_MARK_MIME: {}}, metadata={})
