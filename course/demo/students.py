"""演示班级：十二名学生，每人交上来的作业都由代码从课程的 notebook 生成（不是手写的副本）。

    zhao_lei    全对（参考写法）            qian_fang  全对（另一种写法）        sun_li    部分完成
    li_wei      常见错误（第一组）          zhou_jie   常见错误（第二组）        wu_min    原样交回学生版
    zheng_hao   顶层代码抛出异常            wang_qiang 死循环                   feng_yu   篡改检查函数
    chen_jing   删改、复制、挪动测试单元    chu_yun    notebook 的 JSON 损坏     wei_ning  改了 notebook 的文件名

前六人交了全部六份作业，后六人各交两份（其余是缺交）。多于十二人时按这个顺序循环，
学号加上编号（zhao_lei_002……），每一轮的学生与第一轮交的东西相同，得分也应相同。
"""
import copy
from dataclasses import dataclass, field

import nbformat

from .mistakes import BUGS, PARTIAL
from .notebooks import REF, DemoError, find_cell, solution_cells
from .notebooks import fill as _fill
from .styles import ALT

__all__ = ["Persona", "Work", "PERSONAS", "roster", "student_id", "lesson_key", "build_submission", "Submission"]


@dataclass
class Work:
    """一名学生的一份作业：base 是 "ref"（参考答案）、"alt"（另一种写法）或 "stub"（不动），
    answers 覆盖其中几段，ops 是随后对 notebook 或文件做的事（删测试单元、改文件名……）。"""

    base: str = "ref"
    answers: dict = field(default_factory=dict)
    ops: tuple = ()


@dataclass
class Persona:
    id: str
    name: str
    role: str
    plan: dict  # {"01": Work, ...}；没有列出的课就是缺交
    details: dict = field(default_factory=dict)  # {"01": 这一课具体做了什么}，写进报告


@dataclass
class Submission:
    filename: str
    text: str  # 写进文件的原始内容（可能根本不是 JSON）


def lesson_key(assignment):
    """"02-simple-layers" -> "02"。"""
    return assignment.split("-", 1)[0]


# ---------------------------------------------------------------- 对 notebook 做的事
def prefix(grade_id, code):
    """在练习单元最前面加几行学生自己的代码。"""
    def op(nb):
        cell = find_cell(nb, grade_id)
        cell.source = code.rstrip("\n") + "\n" + cell.source
        return nb
    return op


def suffix(grade_id, code):
    def op(nb):
        cell = find_cell(nb, grade_id)
        cell.source = cell.source + "\n" + code.rstrip("\n")
        return nb
    return op


def delete_cell(grade_id):
    def op(nb):
        cell = find_cell(nb, grade_id)
        nb.cells = [c for c in nb.cells if c is not cell]
        return nb
    return op


def edit_cell(grade_id, source):
    def op(nb):
        find_cell(nb, grade_id).source = source
        return nb
    return op


def copy_cell(grade_id):
    """复制粘贴一个单元（JupyterLab 给粘贴出的单元一个新 id），放在原单元下面。"""
    def op(nb):
        cell = find_cell(nb, grade_id)
        dup = copy.deepcopy(cell)
        dup["id"] = (cell.get("id") or grade_id)[:50] + "-copy"
        nb.cells.insert(nb.cells.index(cell) + 1, dup)
        return nb
    return op


def move_cell(grade_id, before):
    """把一个单元拖到另一个单元（grade_id 为 before）的上面。"""
    def op(nb):
        cell = find_cell(nb, grade_id)
        nb.cells.remove(cell)
        nb.cells.insert(nb.cells.index(find_cell(nb, before)), cell)
        return nb
    return op


def rename(new_name):
    def op(sub):
        return Submission(new_name, sub.text)
    op.on_file = True
    return op


def truncate_json(sub):
    """保存到一半就断了的文件：不是有效的 JSON。"""
    return Submission(sub.filename, sub.text[: len(sub.text) // 3])


truncate_json.on_file = True


# ---------------------------------------------------------------- 十二名学生
def _bugs(*names):
    """(plan, details)：每个错误所在的那一课用参考答案加上这个错误。"""
    plan, details = {}, {}
    for name in names:
        text, lesson, answers = BUGS[name]
        plan[lesson] = Work("ref", dict(answers))
        details[lesson] = text
    return plan, details


_LOOP = "step = 0\nwhile step >= 0:  # 想找到 dz_dx 变大的地方，忘了写停下来的条件\n    step += 1\n"
# 评分内核里导入不了检查模块（course/grading/sandbox/answers.py），篡改的人会先试一试；测试本来也不在内核里运行
_TAMPER_MUL = ("try:\n"
               "    import course.checks.simple_layers as _checks\n"
               "    _checks.check_mul_backward = lambda *args, **kwargs: None  # 让检查什么都不做\n"
               "except ImportError:\n"
               "    pass\n"
               "np.allclose = lambda *args, **kwargs: True\n")
_TAMPER_CE = ("try:\n"
              "    import course.checks.softmax as _checks\n"
              "    _checks.check_cross_entropy_onehot = lambda *args, **kwargs: None\n"
              "    _checks.check_cross_entropy_labels = lambda *args, **kwargs: None\n"
              "except ImportError:\n"
              "    pass\n")
_CE_NO_MEAN = """
    t = np.asarray(t)
    if y.ndim == 1:
        y = y.reshape(1, -1)
        t = t.reshape(1, -1)
    if t.size == y.size:
        t = t.reshape(y.shape).argmax(axis=1)
    t = t.reshape(-1)
    return -np.sum(np.log(y[np.arange(y.shape[0]), t] + 1e-7))  # 没有除以 N
"""

PERSONAS = [
    Persona("zhao_lei", "赵磊", "全对（参考写法）", {k: Work("ref") for k in ("01", "02", "03", "04", "05", "06")}),
    Persona("qian_fang", "钱芳", "全对（另一种写法：@、np.where、循环、迭代的拓扑排序……）",
            {k: Work("alt") for k in ("01", "02", "03", "04", "05", "06")}),
    Persona("sun_li", "孙丽", "部分完成（每课只写了一部分练习）",
            {k: Work("stub", {key: REF for key in keys}) for k, keys in PARTIAL.items()},
            {k: "只写了 " + "、".join(g if f == "*" else "%s 里的 %s" % (g, f) for g, f in keys)
             for k, keys in PARTIAL.items()}),
    Persona("li_wei", "李伟", "常见错误（一）：每课一个", *_bugs(
        "no_dout", "mul_swapped", "relu_inplace", "db_not_summed", "no_forward", "assign_not_add")),
    Persona("zhou_jie", "周杰", "常见错误（二）：每课一个", *_bugs(
        "forward_difference", "shared_layer", "sigmoid_missing_y", "no_batch_division", "sgd_rebinds",
        "breadth_first")),
    Persona("wu_min", "吴敏", "什么都没写，原样交回学生版", {k: Work("stub") for k in ("01", "02", "03", "04", "05", "06")}),
    Persona("zheng_hao", "郑浩", "练习单元的顶层代码抛出异常", {
        "01": Work("ref", ops=(prefix("shopping_forward", 'print("试一下：", buy_apple(100, 2, 1.1))'),)),
        "02": Work("ref", ops=(suffix("add_layer", "AddLayer().forward(10)  # 少给了一个参数"),)),
    }, {"01": "在定义 buy_apple 之前就调用了它（NameError，两个函数都没有定义）",
        "02": "定义完 AddLayer 之后调用 forward 少给了参数（TypeError，类已经定义好了）"}),
    Persona("wang_qiang", "王强", "练习单元里有死循环", {
        "01": Work("ref", ops=(prefix("chain_rule_derivatives", _LOOP),)),
        "03": Work("ref"),
    }, {"01": "chain_rule_derivatives 单元开头有一个停不下来的 while 循环（超时被中断，后面的函数没有定义）",
        "03": "全对"}),
    Persona("feng_yu", "冯宇", "篡改检查函数，答案本身有错", {
        "02": Work("ref", dict(BUGS["mul_swapped"][2]), ops=(prefix("mul_layer", _TAMPER_MUL),)),
        "04": Work("ref", {("cross_entropy_error", "cross_entropy_error"): _CE_NO_MEAN},
                   ops=(prefix("cross_entropy_error", _TAMPER_CE),)),
    }, {"02": "乘法层没有翻转，又把 check_mul_backward 和 np.allclose 换成了什么都不查的 lambda",
        "04": "交叉熵误差没有除以批大小，又把两个交叉熵的检查函数换掉了"}),
    Persona("chen_jing", "陈静", "删掉、复制、挪动、改写测试单元", {
        "01": Work("ref", ops=(delete_cell("test_buy_apple"), copy_cell("test_dw"),
                               move_cell("test_numerical_diff", before="numerical_diff"))),
        "02": Work("ref", {("add_layer", "backward"): "return dout  # 只返回了一个值"},
                   ops=(edit_cell("test_add_layer_backward", "pass  # 这个测试总是不过，先跳过"),
                        edit_cell("test_mul_layer_forward", "pass"))),
    }, {"01": "删掉了测试单元 test_buy_apple，复制了一份 test_dw，把 test_numerical_diff 拖到了答案上面（答案全对）",
        "02": "AddLayer.backward 只返回了一个值，又把 test_add_layer_backward 和 test_mul_layer_forward 改成了 pass"}),
    Persona("chu_yun", "褚云", "交上来的 notebook 不是有效的 JSON", {
        "01": Work("alt"),
        "03": Work("ref", ops=(truncate_json,)),
    }, {"01": "全对（另一种写法）", "03": "文件只保存了三分之一（答案本来是对的）"}),
    Persona("wei_ning", "卫宁", "改了 notebook 的文件名再交", {
        "02": Work("ref", ops=(rename("simple_layers-Copy1.ipynb"),)),
        "04": Work("ref", dict(BUGS["softmax_1d_only"][2])),
    }, {"02": "交的是 simple_layers-Copy1.ipynb（答案本来是对的）",
        "04": BUGS["softmax_1d_only"][0] + "；Softmax-with-Loss 层本身写对了"}),
]


def student_id(i):
    """第 i 名学生（从 0 起）的学号和 Persona。"""
    p = PERSONAS[i % len(PERSONAS)]
    rnd = i // len(PERSONAS)
    return (p.id if rnd == 0 else "%s_%03d" % (p.id, rnd + 1)), p


def roster(n=None):
    """[(学号, Persona)]：n 是人数（默认十二名），也可以是学号的列表（如 ["zhao_lei", "li_wei_002"]）。"""
    n = len(PERSONAS) if n is None else n
    if isinstance(n, (list, tuple)):
        by_id = {}
        for sid in n:
            if not isinstance(sid, str):
                raise TypeError("学号应当是字符串，收到的是 %r" % (sid,))
            base, _, rnd = sid.rpartition("_")
            persona = next((p for p in PERSONAS if p.id == sid or (p.id == base and rnd.isdigit())), None)
            if persona is None:
                raise ValueError("演示班级里没有学生 %r（有的是 %s，或加上编号如 zhao_lei_002）"
                                 % (sid, "、".join(p.id for p in PERSONAS)))
            by_id[sid] = persona
        return list(by_id.items())
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError("学生人数应当是正整数，收到的是 %r" % (n,))
    return [student_id(i) for i in range(n)]


def build_submission(work, assignment, release_nb, source_nb, filename):
    """学生对拿到的学生版 release_nb 做完 work 之后要交的文件（Submission）。"""
    key = lesson_key(assignment)
    if work.base == "stub":
        answers = {}
    elif work.base in ("ref", "alt"):
        answers = {(gid, "*"): REF for gid in solution_cells(source_nb)}
        if work.base == "alt":
            answers.update(ALT.get(key, {}))
    else:
        raise DemoError("未知的写法 %r" % work.base)
    answers.update(work.answers)
    nb = _fill(release_nb, source_nb, answers)
    file_ops = []
    for op in work.ops:
        if getattr(op, "on_file", False):
            file_ops.append(op)
        else:
            nb = op(nb)
    sub = Submission(filename, nbformat.writes(nb))
    for op in file_ops:
        sub = op(sub)
    return sub
