"""nbgrader 的课程配置。所有路径都相对于本文件所在的文件夹，在哪里运行 nbgrader 都一样。

这里只有设置，每项只写一次，和默认值相同的不写（上限的默认值在各自的类里：course/grading/sandbox/bubblewrap.py 的
GradingSandbox、course/grading/execute/robust.py 的 RobustExecute）；加载本文件不运行任何补丁。课程对 nbgrader 的全部改动
（按类名换掉的，和只能改函数的）写在 course/grading/nbgrader_patches.py 的说明里。

环境变量（都可以不设）：
  COURSE_EXCHANGE_DIR  交换目录（JupyterHub 上多个用户共享的那个），默认是本仓库里的 exchange/
  COURSE_DB_URL        成绩库，默认是本仓库里的 sqlite 文件 gradebook.db
"""
import os
from pathlib import Path

c = get_config()  # noqa: F821  (nbgrader 加载配置时提供 get_config)

ROOT = Path(__file__).resolve().parent

c.CourseDirectory.course_id = "backprop-zh"
c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.db_url = os.environ.get("COURSE_DB_URL", "sqlite:///" + str(ROOT / "gradebook.db"))
# 这些文件可能夹带答案（jupytext 的 .md/.py 双胞胎、检查点、备份），不能进入 release/。
# .py 只挡 notebook 的双胞胎（与 source/ 里某个 notebook 同名）：第 05、06 课给出的 layers.py 要随作业发下。
# 不能写 *.txt：收作业、评分、发反馈时 nbgrader 要保留提交里的 timestamp.txt 和 submission_secret.txt
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
    "*.md", "*.bak", "*~", ".*",
] + sorted({nb.stem + ".py" for nb in (ROOT / "source").glob("*/*.ipynb")})

c.Exchange.root = os.environ.get("COURSE_EXCHANGE_DIR", str(ROOT / "exchange"))
c.Exchange.path_includes_course = True

# 学生版里替换掉答案的内容
c.ClearSolutions.code_stub = {
    "python": '# 在这里写你的代码\nraise NotImplementedError("还没有实现：删掉这一行，写上你的代码")'
}
c.ClearSolutions.text_stub = "在这里写下你的回答。"

# 执行：每个单元最多 180 秒（最慢的参考答案在 2 核机器上不到 10 秒），超时就中断并继续下一个单元
c.Execute.timeout = 180

# 学生删掉的测试单元在评分时补回来，照样计分
c.OverwriteCells.add_missing_cells = True
c.OverwriteCells.missing_cell_notification = "这个单元（id: {cell_id}）在提交的作业里被删掉了，评分时已由 nbgrader 补回。\n\n"

# 复制粘贴造成的重复 grade_id 不应让整份作业评分失败；挪动过的单元放回原位（见 course/grading/sanitize.py）
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "course.grading.sanitize.DeduplicateGradeIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "course.grading.sanitize.OverwriteCells",  # nbgrader 的 OverwriteCells；没动过的测试单元不报校验和，改动、删掉的记进报告
    "course.grading.sanitize.RestoreCellOrder",  # 答案、测试、只读单元放回原来的顺序，删掉的只读单元补回
    "nbgrader.preprocessors.CheckCellMetadata",
]

# 反馈里不出现隐藏测试的代码，也不出现会暴露测试代码的 traceback（course/grading/feedback/hidden.py）；
# 学生代码在测试期间打印出来的隐藏测试也要挡住（RedactHiddenOutputs 必须排在 HideHiddenTests 之前）
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "course.grading.feedback.hidden.RedactHiddenOutputs",
    "course.grading.feedback.hidden.HideHiddenTests",
    "course.grading.feedback.html.SanitizeStudentHTML",  # 学生输出和 Markdown 里的 <script> 等变成文字
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
# 发布反馈：手工放进 submitted/ 的提交（例如从 LMS 下载的，没有 submission_secret.txt）跳过并用中文说明，
# 不让 nbgrader release_feedback 在半路崩掉（course/grading/feedback/release.py）
c.ExchangeFactory.release_feedback = "course.grading.feedback.release.ReleaseFeedback"
# 收作业：不跟随学生放进交换目录的符号链接，文件个数有上限，超大的文件夹只少收、不让整次 collect 中断，
# 学号不是普通名字（例如 “..”）的不收（course/grading/collect.py）
c.ExchangeFactory.collect = "course.grading.collect.Collect"

# 学生按 Validate 按钮时看到的中文说明
c.Validator.type_changed_warning = "有 {num_changed} 个单元的类型被改动了！\n现在测试也许能通过，但评分时会按原来的类型处理。\n"
c.Validator.changed_warning = "有 {num_changed} 个测试单元的内容被改动了！\n评分时会换回原来的测试，现在通过不代表评分时通过。\n"
c.Validator.failed_warning = "有 {num_failed} 个单元没有通过检查！\n照现在的样子提交，你拿不到满分。\n"
c.Validator.passed_warning = "有 {num_passed} 个单元通过了检查！\n"

# --- grading sandbox and robustness (course/grading/) ---
# 只影响 `nbgrader autograde`（validate 和 JupyterLab 的内核照常）：
# - 学生代码在 bubblewrap 沙箱里运行：无网络，看不到 source/、gradebook.db 和别人的作业，
#   只有自己的 autograded/<学生>/<作业>/ 可写，有内存、CPU、进程数上限（course/grading/sandbox/bubblewrap.py）。
#   沙箱不可用时照常评分并大声警告；COURSE_GRADING_SANDBOX=off 明确关闭，=required 则必须有沙箱。
#   查看本机状态：python -m course sandbox-status
# - 坏提交只影响它自己：超时、内核退出、输出泛滥、JSON 损坏、空文件、改名或缺交的 notebook，
#   都按各自的情况计分，其余学生照常评分（course/grading/execute/robust.py、course/grading/submissions.py）。
#   每份提交的评分事件：python -m course grading-report <作业>
c.Autograde.autograde_preprocessors = [
    "course.grading.execute.robust.RobustExecute",  # 代替 nbgrader.preprocessors.Execute
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# 学生文件夹里的符号链接、FIFO 之类的特殊文件和超大文件骗不了评分程序：nbgrader 读提交、复制附带文件、写评分后的
# notebook、改权限、读 timestamp.txt 时都不跟随链接，附带文件有大小上限（course/grading/files/safe.py）。
# nbgrader 加载这两个导出器时装上这些补丁（course/grading/nbgrader_patches.py）
c.Autograde.exporter_class = "course.grading.exporters.SafeNotebookExporter"
c.GenerateFeedback.exporter_class = "course.grading.exporters.FeedbackExporter"
c.Autograde.pre_convert_hook = "course.grading.submissions.expect_all_notebooks"
# 沙箱和输出的上限用各自类里的默认值（内存 4096 MB、CPU 900 秒、进程 256 个、文件 256 MB；内核最多重启 3 次，
# 每个单元的输出 1 MB、整份 10 MB）：要改哪一项，就在这里写一行，例如 c.GradingSandbox.memory_mb = 8192
