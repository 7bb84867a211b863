"""反馈：nbgrader 按名字加载的预处理器、反馈模板和发布反馈的交换插件。

导入本包不会导入任何子模块。

    hidden.py     RedactHiddenOutputs、HideHiddenTests：反馈里不出现隐藏测试
    html.py       SanitizeStudentHTML：学生输出和 Markdown 里的 <script> 等变成文字
    template.py   中文、离线的反馈 HTML（templates/feedback_zh/）
    formulas.py   生成反馈时把公式转成 MathML，不用 CDN
    release.py    ReleaseFeedback：手工放进 submitted/ 的提交跳过并用中文说明
"""
