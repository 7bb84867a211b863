"""课程对 nbgrader 0.9.6 做的全部改动，写在这一处。

能用配置换掉的，都在 nbgrader_config.py 里按类名换（nbgrader 按名字加载它们）：
- c.Autograde.autograde_preprocessors：execute.robust.RobustExecute 代替 Execute（沙箱、评判进程、超时与重启）；
- c.Autograde.sanitize_preprocessors：sanitize.DeduplicateGradeIds、OverwriteCells、RestoreCellOrder；
- c.GenerateFeedback.preprocessors：feedback.hidden.RedactHiddenOutputs、HideHiddenTests，feedback.html.SanitizeStudentHTML；
- c.Autograde.exporter_class / c.GenerateFeedback.exporter_class：exporters.py 的两个导出器（读提交不跟随链接；
  加载它们时装上下面的补丁）；
- c.Autograde.pre_convert_hook：submissions.expect_all_notebooks；
- c.ExchangeFactory.collect / release_feedback：collect.Collect、feedback.release.ReleaseFeedback。

配置换不掉的，只能改 nbgrader 的函数，由 install() 一次装上（重复调用无害）。nbgrader 加载 exporters.py 里
的导出器时调用它，所以 autograde 和 generate_feedback（命令行、formgrader、python -m course autograde 的
每个子进程）在碰学生文件之前都已装好；nbgrader_config.py 本身不运行任何补丁。这些补丁按 0.9.6 的代码写，
版本不同就拒绝安装（requirements.txt 钉死了版本；升级时对照 converters/base.py、utils.py、coursedir.py 重新检查）：
- utils.find_all_files、utils.is_ignored（converters/base.py 也有一份 find_all_files 的引用）：列文件换成
  files/safe.py 的 find_all_files（线性时间，学生文件夹最多看 MAX_ENTRIES 个条目）；
- BaseConverter.init_notebooks：每个文件夹最多 MAX_NOTEBOOKS 个 notebook；
- BaseConverter.init_assignment：附带文件用 files/safe.py 复制（不跟随链接，个数、大小有上限；反馈只带学生交上来的）；
- BaseConverter.write_single_notebook：先删掉目标位置上的链接和特殊文件，反馈 HTML 加上内容安全策略；
- BaseConverter.set_permissions：先清理评分程序自己的输出文件夹（files/safe.py 的 prune）；
- CourseDirectory.get_existing_timestamp：timestamp.txt 只打开一次、确认是普通文件；
- quiet_add_submission_warning()（不是补丁，只是一条 warnings 过滤）：nbgrader 的 Gradebook.add_submission
  在 SQLAlchemy 2 下每个进程第一次加提交时打印三条 SAWarning（“Object of type <SubmittedAssignment> not in session,
  add operation along 'Student.submissions' will not proceed”）。那是反向关系在对象加进 session 之前触发的
  autoflush，nbgrader 紧接着就把对象加进去，成绩照常写下（原版 nbgrader autograde 的输出里也有）；教师在评分服务
  和批量评分的输出里看到的却像是成绩没写进去。只滤掉这一种，由 nbgrader_cli.main 和评分服务装上；
- nbgraderformat/common.py 里的 jsonschema.validate（检查每个单元的 nbgrader 元数据）：同样的校验、同样的
  出错，只是同一份 schema 的校验器建一次（原来每个单元都先把 schema 本身校验一遍，约占 autograde 命令七分之一的 CPU）。
另有两处不在这里，只在各自的进程里装：
- 并行评分的子进程经由 batch/nbgrader_cli.py 启动，它先装 batch/dbsafe.py（几个进程同时写 sqlite 成绩库）；
- 交上来就评分的工人（service/forkrun.py）在自己的进程里算一次 alembic 的 head，换掉
  nbgrader.api.get_alembic_version（原来每建一个成绩库就启动一个 `alembic heads` 进程）；值和 nbgrader 自己算的
  一样（tests/test_grade_service.py 核对），只有一个 head 时才换。
"""
import os

from .files import safe as filesafe
from .feedback.html import with_csp

__all__ = ["install", "quiet_add_submission_warning", "NBGRADER_VERSION"]

NBGRADER_VERSION = "0.9.6"


def install():
    """装上模块说明里列出的补丁；nbgrader 的版本不是 NBGRADER_VERSION 时抛出 RuntimeError。"""
    import nbgrader
    from nbgrader import utils
    from nbgrader.converters import base
    from nbgrader.converters.base import BaseConverter
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.nbgraderformat import common

    if getattr(BaseConverter, "_course_filesafe", False):
        return
    if nbgrader.__version__ != NBGRADER_VERSION:
        raise RuntimeError("课程对 nbgrader 的改动按 %s 版写（course/grading/nbgrader_patches.py），这里装的是 %s："
                           "请按 requirements.txt 装 nbgrader==%s" % (NBGRADER_VERSION, nbgrader.__version__,
                                                                      NBGRADER_VERSION))
    write_notebook, set_permissions = BaseConverter.write_single_notebook, BaseConverter.set_permissions
    init_notebooks = BaseConverter.init_notebooks
    filesafe.STOCK.update(find_all_files=utils.find_all_files, is_ignored=utils.is_ignored,
                          init_notebooks=init_notebooks, init_assignment=BaseConverter.init_assignment,
                          set_permissions=set_permissions)
    # converters/base.py 用 from ..utils import find_all_files，两处都要换
    utils.find_all_files = base.find_all_files = filesafe.find_all_files
    utils.is_ignored = lambda filename, ignore_globs=None: filesafe.is_ignored(os.path.basename(filename), ignore_globs)

    def init_notebooks_limited(self):
        init_notebooks(self)
        filesafe._limit_notebooks(self)

    def init_assignment(self, assignment_id, student_id):
        filesafe._copy_extra_files(self, assignment_id, student_id)

    def write_single_notebook(self, output, resources):
        info = resources["nbgrader"]
        folder = self._format_dest(info["assignment"], info["student"])
        target = os.path.join(folder, resources["unique_key"] + resources.get("output_extension", ""))
        cleared = filesafe._clear_target(target)
        filesafe._record(self, info["assignment"], info["student"], [cleared] if cleared else [])
        if resources.get("output_extension") == ".html":  # 反馈：浏览器只运行模板自己的脚本
            output = with_csp(output)
        return write_notebook(self, output, resources)

    def set_permissions_safely(self, assignment_id, student_id):
        dest = os.path.normpath(self._format_dest(assignment_id, student_id))
        if os.path.isdir(dest) and not os.path.islink(dest):
            keep = filesafe._keep_in_output(self, assignment_id, student_id)
            filesafe._record(self, assignment_id, student_id, filesafe.prune(dest, keep))
        return set_permissions(self, assignment_id, student_id)

    def get_existing_timestamp(self, dest_path):
        return filesafe.read_timestamp(self, dest_path)

    common.jsonschema = _SchemaCache()
    BaseConverter.init_assignment = init_assignment
    BaseConverter.init_notebooks = init_notebooks_limited
    BaseConverter.write_single_notebook = write_single_notebook
    BaseConverter.set_permissions = set_permissions_safely
    CourseDirectory.get_existing_timestamp = get_existing_timestamp
    BaseConverter._course_filesafe = True


def quiet_add_submission_warning():
    """滤掉 Gradebook.add_submission 的那一种 SAWarning（见模块说明）：只认这条消息、这个类别。"""
    import warnings

    try:
        from sqlalchemy.exc import SAWarning
    except ImportError:
        return
    warnings.filterwarnings("ignore", message=r"Object of type <Submitted(Assignment|Notebook)> not in session, "
                            r"add operation along '\w+\.submissions' will not proceed", category=SAWarning)


class _SchemaCache:
    """代替 nbgrader.nbgraderformat.common 里的 jsonschema 模块（那里只用 jsonschema.validate）。validate 和
    jsonschema.validate 做的一样：按 schema 选校验器类、检查 schema 本身、找出最要紧的错误抛出；只是每份 schema
    （nbgrader 每个校验器读一份 vN.json）的检查和校验器只做一次。带别的参数时照原样调用 jsonschema.validate。"""

    MAX = 64

    def __init__(self):
        self._validators = {}  # id(schema) -> (schema, 校验器)；存着 schema 本身，id 不会被别的对象重用

    def validate(self, instance, schema, *args, **kwargs):
        import jsonschema

        if args or kwargs:
            return jsonschema.validate(instance, schema, *args, **kwargs)
        hit = self._validators.get(id(schema))
        if hit is None or hit[0] is not schema:
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            if len(self._validators) >= self.MAX:
                self._validators.clear()
            hit = self._validators[id(schema)] = (schema, cls(schema))
        error = jsonschema.exceptions.best_match(hit[1].iter_errors(instance))
        if error is not None:
            raise error
        return None
