"""课程的参考答案：各课练习的参考实现（layers：第 02–04 课的各层；net：第 05 课的 TwoLayerNet 和训练）。

放在这个文件夹里的都是答案，按文件夹处理，不靠名单：
- 学生版的课程包（setup.py，COURSE_BUILD=student）不装这个文件夹；
- 评分内核看不到它（course/grading/sandbox/answers.py），参考实现只在评分进程（隐藏测试）和教师这边使用；
- 第 05、06 课给出的代码要用前几课的层：source/05-…/layers.py、source/06-…/layers.py 是指向 layers.py 的链接，
  nbgrader 发作业时把它作为那一课的文件一起发下（那时前几课已经交了）。
公开的检查不用这里的任何东西：期望值由检查自己的公式或数值微分算出。
"""
