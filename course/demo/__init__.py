"""演示班级与批量评分（教师用）。

    python -m course grade-demo [--students N] [--jobs J] [--out DIR]   在工作副本里走完 nbgrader 的整个流程
    python -m course.demo.bench [--students N] [--jobs J]               串行、并行与下限：每名学生的评分用时

students：十二名演示学生和他们交的作业（由 source/ 生成）；notebooks：把答案填进学生版；
styles、mistakes：另一种正确写法和常见错误；pipeline：整个流程；exchange：交换目录上的操作（教师和学生）；
parallel：按学生分批并行运行 nbgrader；dbsafe、nbgrader_cli：几个 nbgrader 进程同时写 sqlite 成绩库；
report：中文报告；bench：基准测试。
"""
