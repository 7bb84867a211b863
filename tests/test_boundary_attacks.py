"""红队：学生的内核想驱动评判一方（course/boundary/ 的协议、judge.py 的评判进程）。

每种攻击都跑两遍：一遍对着今天的协议，攻击落空；一遍对着 LegacyPeer（照旧协议的规则：评判一方的
数组、列表、字典都带句柄交出去，内核可以读它们的任何公开属性、调用任何可调用的东西，回答里的
写回对任何句柄都算数），同一段攻击代码得手。后者就是对照：证明攻击是真的，挡住它的是协议。
"""
import gc
import json
import os
import socket
import sys
import threading
import time

import numpy as np
import pytest

from course import boundary as wire
from course.boundary import codec
from course.grading.execute import judge

# 学生的“内核代码”：在被检查函数调用时，顺着 gc 找到内核这一端的 Peer，自己发请求
ATTACKER = r'''
import gc
import numpy as np
from course.boundary import peer as _w

def _kernel_peer():
    return [o for o in gc.get_objects() if isinstance(o, _w.Peer) and not o.trusted][0]

def write_via_handles(x, path):
    """把评判一方交来的东西当句柄：挨个试编号，取 tofile 再调用。"""
    kp = _kernel_peer()
    for h in range(1, 60):
        try:
            fn = kp.request("getattr", r=h, name="tofile")
            fn(path)
            return "wrote"
        except Exception:
            continue
    return "blocked"

def grow_via_handles(x):
    """同样的路子调用 resize：评判一方的数组一下子变得很大。"""
    kp = _kernel_peer()
    for h in range(1, 60):
        try:
            kp.request("getattr", r=h, name="resize")((4, 4), refcheck=False)
            return "grew"
        except Exception:
            continue
    return "blocked"

_stash = {}

class Layer:
    def forward(self, x):
        kp = _kernel_peer()
        _stash["ids"] = [w for w, arr, data in kp.written_back]  # 记下 x 的编号（旧协议里是句柄）
        return x * 2

    def backward(self, dout):
        kp = _kernel_peer()
        for w in _stash.get("ids", []):  # 在后面的回答里，把早先那个 x 改成全 0
            kp.written_back.append((w, np.zeros(3), b"different"))
        return dout * 2
'''


class LegacyPeer(wire.Peer):
    """对照：旧协议的评判一方（数据带句柄、内核能取属性和调用、写回对任何句柄都算数）。"""

    def _enc_trusted(self, v, depth):
        if isinstance(v, np.ndarray) and v.dtype.kind in "biufc":
            return {"a": codec._array_fields(v), "w": self.export(v), "h": self.export(v)}
        if callable(v) or hasattr(v, "__dict__"):
            return {"h": self.export(v), "o": {"k": "function" if callable(v) else "object"}}
        return super()._enc_trusted(v, depth)

    def _perform_trusted(self, op, msg):
        target = self._target(msg)
        if op == "getattr" and not str(msg["name"]).startswith("_"):
            return getattr(target, str(msg["name"]))
        if op == "call" and callable(target):
            return target(*self.dec(msg.get("args") or {"t": []}), **dict(self.dec(msg.get("kwargs") or {"d": []})))
        return super()._perform_trusted(op, msg)

    def _apply_writeback(self, items, lent):
        for hid, data in items:
            target = self.objects.get(hid)
            if isinstance(target, np.ndarray):
                new, _ = codec.decode_array(data["a"], True)
                if new.shape == target.shape:
                    target[...] = new


class Pair:
    def __init__(self, trusted_cls):
        self.ns = {"__name__": "__main__"}
        exec(compile(ATTACKER, "<ipykernel_1>", "exec"), self.ns)  # noqa: S102  测试里的“学生代码”
        a, b = socket.socketpair()
        self.thread = threading.Thread(target=wire.serve_socket, args=(b, None, self.ns), daemon=True)
        self.thread.start()
        self.peer = trusted_cls(a, trusted=True, timeout=10)

    def get(self, name):
        return self.peer.request("get", name=name)

    def close(self):
        self.peer.close()
        self.thread.join(5)


@pytest.fixture(params=[wire.Peer, LegacyPeer], ids=["protocol", "legacy-control"])
def pair(request):
    p = Pair(request.param)
    p.legacy = request.param is LegacyPeer
    yield p
    p.close()
    gc.collect()


def test_the_kernel_cannot_reach_the_graders_arrays_to_write_files(pair, tmp_path):
    target = tmp_path / "written-by-the-kernel.bin"
    x = np.arange(3.0)
    got = pair.get("write_via_handles")(x, str(target))
    if pair.legacy:  # 对照：旧协议下学生真的在评判一方写出了文件
        assert got == "wrote" and target.exists()
    else:
        assert got == "blocked" and not target.exists()


def test_the_kernel_cannot_grow_the_graders_arrays(pair):
    x = np.arange(3.0)
    got = pair.get("grow_via_handles")(x)
    if pair.legacy:
        assert got == "grew" and x.shape == (4, 4)
    else:
        assert got == "blocked" and x.shape == (3,)


def test_write_backs_only_touch_the_arrays_of_the_current_call(pair):
    layer = pair.get("Layer")()
    x = np.array([1.0, 2.0, 3.0])
    assert np.array_equal(layer.forward(x), [2.0, 4.0, 6.0])
    assert np.array_equal(x, [1.0, 2.0, 3.0])  # 检查函数在这里确认“输入没有被改动”
    dout = np.ones(5)
    layer.backward(dout)
    if pair.legacy:  # 对照：旧协议下，后来的回答把检查函数手里的 x 改成了 0
        assert np.array_equal(x, [0.0, 0.0, 0.0])
    else:
        assert np.array_equal(x, [1.0, 2.0, 3.0]) and np.array_equal(dout, np.ones(5))


def test_honest_in_place_changes_still_reach_the_caller():
    p = Pair(wire.Peer)
    try:
        p.ns["relu_in_place"] = lambda a: a.__setitem__(a < 0, 0) or a
        exec("def relu_in_place(a):\n    a[a < 0] = 0\n    return a\n", p.ns)  # noqa: S102
        x = np.array([-1.0, 2.0])
        p.get("relu_in_place")(x)
        assert np.array_equal(x, [0.0, 2.0])
    finally:
        p.close()


def test_the_judge_never_imports_a_module_the_kernel_names():
    candidates = [m for m in ("numpy.f2py", "numpy.polynomial.hermite_e", "numpy.ma.mrecords")
                  if m not in sys.modules]
    if not candidates:
        pytest.skip("候选的 numpy 子模块都已经导入过了")
    name = candidates[0]
    t = wire.Peer(None, trusted=True)
    with pytest.raises(wire.RemoteError, match="模块"):
        t.dec({"m": name})
    assert name not in sys.modules
    k = wire.Peer(None, trusted=False)  # 对照：不设防的一端（内核一端）照名字导入
    k.dec({"m": name})
    assert name in sys.modules


def test_decoded_answers_are_capped_before_they_are_materialised():
    t = wire.Peer(None, trusted=True)
    huge = {"a": ["<f8", [wire.MAX_ELEMENTS + 1, 1], ""]}  # 只有一个很小的消息，声称是一个巨大的数组
    with pytest.raises(wire.RemoteError, match="太大"):
        t.dec(huge)
    with pytest.raises(wire.RemoteError, match="不符"):
        t.dec({"a": ["<f8", [1000, 1000], "AAAA"]})


def test_only_data_functions_and_declared_stand_ins_can_be_handed_to_the_kernel():
    t = wire.Peer(None, trusted=True)
    for thing in (object(), os, type("C", (), {}), (x for x in ()), np.random.default_rng(0).bit_generator):
        with pytest.raises(wire.RemoteError, match="不把"):
            t.enc(thing)
    arr = np.zeros(2)
    enc = t.enc({"a": arr, "b": [1, (2, 3)]})
    assert "h" not in enc and all("h" not in pair_[1] for pair_ in enc["d"])
    assert t.lending == [arr]


# ---------------------------------------------------------------- 评判进程
def _run_judge_cell(source, student, names):
    """评判进程的 Judge 在本进程里运行一个测试单元，对面是一个线程里的“内核”。"""
    ns = {"__name__": "__main__"}
    exec(compile(student, "<ipykernel_2>", "exec"), ns)  # noqa: S102
    seen = []
    orig = wire.Peer._perform

    def recording(self, msg):
        if not self.trusted:
            seen.append((msg.get("op"), msg.get("name"), tuple(msg.get("names") or ())))
        return orig(self, msg)

    a, b = socket.socketpair()
    j = judge.Judge()
    j.init({"modules": {"np": "numpy"}, "names": names, "max_output": 10_000})
    wire.Peer._perform = recording
    try:
        t = threading.Thread(target=wire.serve_socket, args=(b, None, ns), daemon=True)
        t.start()
        outputs, trouble = j.run_cell(source, a, 10)
        t.join(5)
    finally:
        wire.Peer._perform = orig
    return outputs, trouble, seen


STUDENT = '''
class Leak_1_2_3_secret(Exception):
    pass

def square(x):
    return x * x

def leaky(x):
    raise Leak_1_2_3_secret("hidden input was %r" % (x,))
'''


def test_hidden_failures_carry_no_student_text():
    src = ("assert square(3) == 9\n### BEGIN HIDDEN TESTS\nleaky(12345.678)\n### END HIDDEN TESTS\n")
    outputs, trouble, _ = _run_judge_cell(src, STUDENT, ["Leak_1_2_3_secret", "leaky", "square"])
    assert trouble is None
    error = outputs[-1]
    assert error["t"] == "error" and error["ename"] == "StudentError"
    assert "12345" not in json.dumps(outputs) and "Leak_1_2_3" not in json.dumps(outputs)
    # 对照：同一个异常出在公开部分时，学生写的类型名和说明都在（公开部分本来就给学生看）
    outputs, _, _ = _run_judge_cell("leaky(12345.678)\n", STUDENT, ["Leak_1_2_3_secret", "leaky", "square"])
    assert "12345" in json.dumps(outputs, ensure_ascii=False)


def test_the_kernel_sees_the_same_requests_whatever_the_hidden_part_uses():
    names = ["Leak_1_2_3_secret", "leaky", "square"]
    plain = "assert square(2) == 4\n"
    _, _, seen_a = _run_judge_cell(plain + "### BEGIN HIDDEN TESTS\nassert square(5) == 25\n### END HIDDEN TESTS\n",
                                   STUDENT, names)
    _, _, seen_b = _run_judge_cell(plain + "### BEGIN HIDDEN TESTS\nassert leaky is not None\n### END HIDDEN TESTS\n",
                                   STUDENT, names)
    lookups = lambda seen: [s for s in seen if s[0] in ("names", "get")]  # noqa: E731
    assert lookups(seen_a) == lookups(seen_b) == [("names", None, tuple(names))]


def test_bound_names_come_from_the_students_cells_only():
    cells = ["import numpy as np\nclass A:\n    def f(self):\n        inner = 1\n", "for i, (j, k) in x:\n    pass",
             "def g():\n    global G\n    G = 1\n", "with open('f') as fh:\n    pass\n", "this is not python ("]
    assert judge.bound_names(cells) == ["A", "G", "f", "fh", "g", "i", "inner", "j", "k", "np"]


def _judge_client(argv, env):
    client = judge.JudgeClient(argv, env, None, {"modules": {}, "names": [], "max_output": 1000})
    client.start()
    return client


def test_a_judge_that_runs_too_long_is_killed_and_the_cell_fails():
    a, b = socket.socketpair()
    env = dict(os.environ)
    client = _judge_client([sys.executable, "-m", "course.grading.execute.judge", "{fd}"], env)
    try:
        # 评判进程自己卡住（例如被骗进了死循环）：nbgrader 一方按时结束它
        t0 = time.monotonic()
        with pytest.raises(judge.JudgeError):
            client.run_cell("import time\nwhile True:\n    time.sleep(0.1)\n", a, 0.5)
        assert not client.alive()
        assert time.monotonic() - t0 < 60  # 宽松的上界：上限是 timeout + 15 秒
    finally:
        client.close()
        a.close()
        b.close()


def test_the_judges_verdict_is_validated_before_it_reaches_nbgrader():
    good = {"outputs": [{"t": "mark"}, {"t": "stream", "name": "stdout", "text": "ok"},
                        {"t": "error", "ename": "Bad name!", "evalue": "x", "traceback": ["y"]}], "trouble": None}
    outs, trouble = judge.validate_reply(good)
    assert outs[2]["ename"] == "Error" and trouble is None
    for bad in ({"outputs": "x"}, {"outputs": [{"t": "display_data", "data": {"text/html": "<script>"}}]},
                {"outputs": [{"t": "stream", "name": "stdin", "text": "x"}]},
                {"outputs": [{"t": "mark"}] * (judge.MAX_OUTPUTS + 1)},
                {"outputs": [], "trouble": "whatever"},
                {"outputs": [{"t": "error", "ename": "E", "evalue": 3, "traceback": []}]}):
        with pytest.raises(judge.JudgeError):
            judge.validate_reply(bad)


# ---------------------------------------------------------------- 评判进程的最小权限
def _judge_command(tmp, status, hidden):
    """judge_command 需要的那一点：沙箱的配置和探测结果、私有文件夹、看不到的路径。"""
    from course.grading.execute import boundary
    from course.grading.sandbox import bubblewrap as sandbox

    private = os.path.join(tmp, "judge-private")
    os.makedirs(private, exist_ok=True)
    for sub in ("conn", "ipc", "mpl"):
        os.makedirs(os.path.join(private, sub), exist_ok=True)
    return boundary.judge_command(sandbox.GradingSandbox(), status, private, ([hidden], [hidden]))


FOOLED = '''
import os
_out = []
for _target in (%(outside)r, %(inside)r):
    try:
        with open(_target, "w") as _fh:
            _fh.write("written by a fooled judge")
        _out.append("wrote")
    except OSError:
        _out.append("refused")
try:
    _out.append(open(%(secret)r).read())
except OSError:
    _out.append("unreadable")
print("|".join(_out))
'''


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandbox", "control-no-sandbox"])
def test_a_fooled_judge_can_touch_no_file(tmp_path, sandboxed):
    """评判进程被骗去执行任意代码时（这里直接交给它一段“测试代码”）：写不了文件，读不到课程文件夹。"""
    from course.grading.sandbox import bubblewrap as sandbox

    status = sandbox.probe()
    if sandboxed and not status.available:
        pytest.skip("本机没有可用的 bubblewrap：%s" % status.reason)
    import shutil
    import tempfile
    from pathlib import Path

    # 放在 /tmp 之外：沙箱里的 /tmp 是评判进程自己的内存盘，写进去碰不到主机
    here = Path(tempfile.mkdtemp(prefix="judge-attack-", dir=Path(__file__).resolve().parent))
    request_cleanup = lambda: shutil.rmtree(here, ignore_errors=True)  # noqa: E731
    course = here / "course"
    (course / "source").mkdir(parents=True)
    (course / "source" / "answers.txt").write_text("the answer key")
    argv, env = _judge_command(str(tmp_path), status if sandboxed else None, str(course))
    client = judge.JudgeClient(argv, env, None, {"modules": {}, "names": [], "max_output": 10_000})
    a, b = socket.socketpair()
    try:
        client.start()
        outside, inside = here / "outside.txt", course / "gradebook.db"
        src = FOOLED % {"outside": str(outside), "inside": str(inside),
                        "secret": str(course / "source" / "answers.txt")}
        outputs, trouble = client.run_cell(src, a, 30)
    finally:
        client.close()
        a.close()
        b.close()
    wrote = outside.exists(), inside.exists()
    request_cleanup()
    text = "".join(o.get("text", "") for o in outputs)
    if sandboxed:
        assert text.strip() == "refused|refused|unreadable", outputs
        assert wrote == (False, False)
    else:  # 对照：没有沙箱时，同一段代码真的写出了文件、读到了答案
        assert text.strip() == "wrote|wrote|the answer key", outputs
        assert wrote == (True, True)


def test_the_names_snapshot_sends_big_values_by_handle_and_stays_small():
    """学生的命名空间里有很多数据时，names 请求按值送的总量有上限，大的、超出的按句柄送：消息不会大到被评判进程拒收。"""
    ns = {"__name__": "__main__", "a_small": np.arange(3.0), "big": np.zeros((1000, 200)),
          "history": [np.zeros((64, 100)) for _ in range(1000)], "answer": "B"}
    ns.update({"w%d" % i: np.zeros((300, 400)) for i in range(40)})  # 40 个约 0.9 MiB 的数组，加起来超过按值的总量
    a, b = socket.socketpair()
    t = threading.Thread(target=wire.serve_socket, args=(b, None, ns), daemon=True)
    t.start()
    peer = wire.Peer(a, trusted=True, timeout=30)
    try:
        got = peer.request("names", names=sorted(ns))
        assert got["answer"] == "B" and isinstance(got["a_small"], np.ndarray)
        assert wire.is_remote(got["big"]) and wire.is_remote(got["history"])
        by_value = [k for k in got if k.startswith("w") and isinstance(got[k], np.ndarray)]
        assert 0 < len(by_value) < 40
        assert np.asarray(got["big"]).shape == (1000, 200)  # 按句柄的值，用到时照样取得到
    finally:
        peer.close()
        t.join(5)
