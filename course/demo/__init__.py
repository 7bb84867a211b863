"""演示班级与批量评分（教师用）。

    python -m course grade-demo [--students N] [--jobs J] [--out DIR]   在工作副本里走完 nbgrader 的整个流程
    python -m course.demo.bench [--students N] [--jobs J]               串行、并行与下限：每名学生的评分用时

students：十二名演示学生和他们交的作业（由 source/ 生成）；notebooks：把答案填进学生版；
styles、mistakes：另一种正确写法和常见错误；pipeline：整个流程；exchange：交换目录上的操作（教师和学生）；
评分本身（并行评分、成绩库保护）在 course.grading 里，演示像教师一样调用它；
report：中文报告；bench：基准测试。
"""
