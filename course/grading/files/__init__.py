"""评分读写磁盘的方式：碰学生的文件不跟随链接、有个数和大小上限；读学生版 notebook；每份提交的评分事件。

导入本包不会导入任何子模块。

    safe.py     碰学生文件夹时不跟随链接、有个数和大小上限
    release.py  找到并（每个进程每份一次）读入学生版 notebook：评分的各个插件都以它为准
    events.py   每份提交的评分事件（超时、重启、可疑代码……）和 python -m course grading-report
"""
