"""交上来就评分：学生经由 nbgrader submit 交上作业（或教师手工放进 submitted/），服务马上评分、记分、发布反馈。

    python -m course grade-service [--once]   服务：盯着交换目录的 inbound/ 和 submitted/，评每份新提交
    python -m course grade-status             排队中、评分中、评好了的提交和延迟（--history：每次提交的记录）

各模块（导入本包不导入任何子模块）：
    transport.py  服务把任务交给工人的约定（Transport）：本地进程（local.py）和 Celery（celery_app.py）各一份
    bundle.py     作业包（一份作业评分时要的课程文件，按内容的散列缓存）和提交的文件：纯数据，有大小上限
    jobs.py       服务一端做任务（make_job），工人一端做评分（run_job）：私有的临时课程文件夹和成绩库
    local.py      LocalTransport：本机 N 个工人进程（默认，不要任何服务器）
    state.py      服务自己的记录（sqlite，课程文件夹下的 .grade-service/）：每份提交一条，排队、评分、结果、延迟
    policy.py     评分次数的限制（nbgrader_config.py 里的 c.GradeService）和超出时给学生的中文说明
    apply.py      把工人的结果写进课程：autograded/、成绩库（只有服务写）、生成并发布这名学生的反馈
    service.py    找新提交、派任务、收结果；status.py：grade-status
"""
