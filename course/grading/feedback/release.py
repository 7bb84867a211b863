"""发布反馈（nbgrader release_feedback，c.ExchangeFactory.release_feedback）：手工放进 submitted/ 的提交不让命令崩掉。

nbgrader 把反馈放进交换目录时，文件名是提交里 submission_secret.txt 的散列：学生运行 fetch_feedback 时，
用自己缓存里的同一份秘密去找它。这份秘密只有经由 `nbgrader submit` 交上来、再 `nbgrader collect` 收来的提交
才有。教师从 LMS（Moodle、Canvas……）下载作业、手工放进 submitted/<学号>/<作业>/ 时，提交里没有
submission_secret.txt（往往也没有 timestamp.txt），生成反馈时 feedback/ 里自然也没有（filesafe.py 只带
提交里原有的文件）。nbgrader 0.9.6 遇到这样的文件夹直接抛 FileNotFoundError：前面的学生已经发布了，
后面的没有，屏幕上只有一段英文 traceback。

这里先找出这样的文件夹，跳过它们（照常发布其余学生的反馈），最后用中文说明该怎么办：这些学生本来就没法
经由交换目录取回反馈，把 feedback/<学号>/<作业>/ 里的 HTML 直接发给他们（例如传回 LMS）。
"""
import glob
import os

from nbgrader.exchange.default.release_feedback import ExchangeReleaseFeedback

__all__ = ["ReleaseFeedback", "hand_placed"]

NEEDED = ("timestamp.txt", "submission_secret.txt")  # nbgrader 发布反馈时要读的两个文件


def hand_placed(coursedir, assignment_id):
    """feedback/ 里这份作业缺 NEEDED 的学生：{学号: [缺的文件名]}（只看有反馈 HTML 的文件夹）。"""
    out = {}
    pattern = os.path.join(coursedir.format_path(coursedir.feedback_directory, "*", assignment_id), "*.html")
    for html in sorted(glob.glob(pattern)):
        folder = os.path.dirname(html)
        student = os.path.basename(os.path.dirname(folder))
        missing = [name for name in NEEDED if not os.path.isfile(os.path.join(folder, name))]
        if missing and student not in out:
            out[student] = missing
    return out


class ReleaseFeedback(ExchangeReleaseFeedback):
    """同 nbgrader 的 ExchangeReleaseFeedback，只是跳过不是经由 submit/collect 交来的提交，并用中文说明。"""

    def copy_files(self):
        skipped = hand_placed(self.coursedir, self.coursedir.assignment_id)
        if self.coursedir.student_id not in ("", "*"):
            skipped = {s: m for s, m in skipped.items() if s == self.coursedir.student_id}
        if not skipped:
            return super().copy_files()
        saved = self.coursedir.student_id_exclude
        excluded = set(filter(None, saved.split(","))) | set(skipped)
        self.coursedir.student_id_exclude = ",".join(sorted(excluded))
        try:
            super().copy_files()
        finally:
            self.coursedir.student_id_exclude = saved
        feedback = self.coursedir.format_path(self.coursedir.feedback_directory, "<学号>", self.coursedir.assignment_id)
        self.log.warning(
            "%d 名学生的反馈没有放进交换目录：%s。\n"
            "他们的提交不是经由 nbgrader submit / collect 交来的（多半是手工放进 submitted/ 的，例如从 LMS 下载），"
            "提交里没有 %s，学生没法用 nbgrader fetch_feedback 取回反馈。\n"
            "请把 %s 里的 .html 文件直接发给这些学生（例如传回 LMS）；其余学生的反馈已照常发布。",
            len(skipped), "、".join("%s（缺 %s）" % (s, "、".join(m)) for s, m in sorted(skipped.items())),
            " 或 ".join(NEEDED), feedback)
