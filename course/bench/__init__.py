"""基准测试：每个都打印自己的数字，测试里从不断言耗时。

    python -m course.bench.backprop      第 05 课的论点：反向传播比数值微分快得多，也能把网络训练好
    python -m course.bench.graph         计算图的布局和绘制耗时
    python -m course.bench.grading_cost  评分时列学生文件的耗时
    python -m course.demo.bench          演示班级：整班评分的耗时，和原版 nbgrader 对比
"""
