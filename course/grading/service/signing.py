"""评分任务和结果的签名（HMAC-SHA256）：经由 Redis 交换的任务和结果，只认服务和工人共有的密钥签过的。

Redis 对连得上它的人是敞开的（单机部署时每个本机用户都连得上）：不签名时，谁都能往队列里放一个任务让工人
执行（作业包里的 nbgrader_config.py 在沙箱外运行），或者在结果存放处写一份满分的结果。所以：

- 服务送出的每个任务带一个随机的 nonce 和签名 sig = HMAC(密钥, "job" + 任务的规范编码)；工人在碰作业包之前
  先验签名，不对就拒绝；
- 工人交回的结果带签名 HMAC(密钥, "result" + [任务 id, 任务的 nonce, 结果])；服务验过才用。nonce 每次派发
  都是新的，旧的结果搬不到新的任务上。

密钥：`--key-file 文件`（权限必须是 600），或者环境变量 COURSE_GRADE_KEY。建一个：

    python -c "import secrets; print(secrets.token_hex(32))" > grade.key && chmod 600 grade.key

本机工人进程（没有 --broker）经由管道和服务通信，不经过 Redis，用不到签名。

签名防伪造，不防偷看：任务里带着作业包，包括藏起来的测试（source/ 里的 notebook），连得上 Redis 的人都读得到。
所以 grade-service 和 grade-worker 的 --broker 必须带密码（check_broker_password；Redis 的 requirepass），
除非教师加 --allow-open-broker（Redis 只有受信任的机器连得上时）。
"""
import hashlib
import hmac
import json
import os
import secrets
import stat
import sys
import urllib.parse

__all__ = ["KEY_ENV", "MIN_KEY_CHARS", "load_key", "sign_job", "verify_job", "sign_result", "verify_result",
           "canonical", "add_broker_arguments", "check_broker_password", "redact"]

KEY_ENV = "COURSE_GRADE_KEY"
MIN_KEY_CHARS = 32
_HOWTO = ("建一个密钥：python -c \"import secrets; print(secrets.token_hex(32))\" > grade.key && chmod 600 grade.key，"
          "再把同一个文件（权限 600）放到每台工人机器上，服务和工人都加 --key-file grade.key"
          "（或者设环境变量 %s）。" % KEY_ENV)


class KeyProblem(SystemExit):
    """密钥有问题：中文说明（SystemExit：命令行上不打印回溯）。"""


def _check(text, where):
    key = (text or "").strip()
    if len(key) < MIN_KEY_CHARS:
        raise KeyProblem("%s里的密钥太短（%d 个字符，至少要 %d 个）。%s" % (where, len(key), MIN_KEY_CHARS, _HOWTO))
    return key.encode("utf-8")


def load_key(key_file=None, environ=None):
    """读密钥：key_file（权限必须是 600 或更严），没有时读环境变量 COURSE_GRADE_KEY。返回 bytes。
    没有密钥、文件读不了、权限太宽、太短：SystemExit，中文说明怎么办。"""
    environ = os.environ if environ is None else environ
    if key_file:
        try:
            fd = os.open(key_file, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise KeyProblem("读不了密钥文件 %s：%s。%s" % (key_file, exc.strerror or exc, _HOWTO)) from None
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise KeyProblem("密钥文件 %s 不是普通文件。%s" % (key_file, _HOWTO))
            if info.st_mode & 0o077:
                raise KeyProblem("密钥文件 %s 的权限是 %o：别的用户也读得到。先运行 chmod 600 %s"
                                % (key_file, stat.S_IMODE(info.st_mode), key_file))
            text = f.read(4096).decode("utf-8", "replace")
        return _check(text, "密钥文件 %s " % key_file)
    if environ.get(KEY_ENV, "").strip():
        return _check(environ[KEY_ENV], "环境变量 %s " % KEY_ENV)
    raise KeyProblem("经由 Redis 派发评分任务需要服务和工人共有的密钥（不然连得上 Redis 的人能伪造任务和成绩）。"
                    + _HOWTO)


def canonical(value):
    """纯数据的规范编码：键排序、没有多余空白；同样的数据（经过 JSON 来回以后）编码也一样。"""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _mac(key, kind, value):
    return hmac.new(key, kind + b"\0" + canonical(value), hashlib.sha256).hexdigest()


def sign_job(key, job):
    """返回签好名的任务（一份新的 dict：加了 nonce 和 sig）。"""
    job = {k: v for k, v in job.items() if k != "sig"}
    job["nonce"] = secrets.token_hex(16)
    job["sig"] = _mac(key, b"job", job)
    return job


def verify_job(key, job):
    """任务的签名对不对（对不上、缺字段、不是 dict：False）。"""
    if not isinstance(job, dict) or not isinstance(job.get("sig"), str) or not isinstance(job.get("nonce"), str):
        return False
    body = {k: v for k, v in job.items() if k != "sig"}
    try:
        want = _mac(key, b"job", body)
    except (TypeError, ValueError):
        return False
    return hmac.compare_digest(want, job["sig"])


def sign_result(key, job, outcome):
    """工人一端：outcome（{"ok": …}）加上签名，绑定这个任务的 id 和 nonce。"""
    outcome = {k: v for k, v in outcome.items() if k != "sig"}
    outcome["sig"] = _mac(key, b"result", [str(job.get("id")), job.get("nonce"), outcome])
    return outcome


def verify_result(key, job, outcome):
    """服务一端：outcome 是不是工人为这个任务（这次派发的 nonce）签的。"""
    if not isinstance(outcome, dict) or not isinstance(outcome.get("sig"), str):
        return False
    body = {k: v for k, v in outcome.items() if k != "sig"}
    try:
        want = _mac(key, b"result", [str(job.get("id")), job.get("nonce"), body])
    except (TypeError, ValueError):
        return False
    return hmac.compare_digest(want, outcome["sig"])


# ---- Redis 的密码：没有密码的 broker 不让用（除非 --allow-open-broker） -------------------------------------
ALLOW_OPEN_FLAG = "--allow-open-broker"
_SCHEMES = ("redis", "rediss", "unix")


def add_broker_arguments(parser):
    """grade-service 和 grade-worker 共用的选项 --allow-open-broker（检查在 check_broker_password）。"""
    parser.add_argument(ALLOW_OPEN_FLAG, action="store_true",
                        help="--broker 的地址没有密码也照样启动（只在这个 Redis 只有受信任的机器连得上时用：任务里带着"
                             "藏起来的测试，连得上 Redis 的人都读得到）")


def _password(url):
    try:
        parts = urllib.parse.urlsplit(url)
        return parts.scheme.lower(), parts.password
    except ValueError:  # 比如方括号没配对的 IPv6 地址：交给 check_broker 去说
        return "", None


def redact(url):
    """把地址里的密码换成 ***（打印、写日志用）。"""
    if not isinstance(url, str):
        return url
    scheme, password = _password(url)
    if not password:
        return url
    head, sep, tail = url.partition("://")
    userinfo, at, rest = tail.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return "%s%s%s:***@%s" % (head, sep, user, rest)


def check_broker_password(url, allow_open=False, warn=None):
    """--broker 的地址没有密码：SystemExit（中文说明为什么、怎么办）；allow_open 时只打印一句警告。
    不是 Redis 的地址时不管（celery_app.check_broker 会说明）。"""
    scheme, password = _password(url) if isinstance(url, str) else ("", None)
    if scheme not in _SCHEMES or password:
        return
    why = ("--broker 的 Redis 地址里没有密码（%s）。评分任务里带着作业包，包括藏起来的测试（source/ 里的 notebook）："
           "Redis 没有密码时，连得上它的人都能读到队列里的任务。JupyterHub 和 Redis 在同一台机器上时，学生自己的内核"
           "就连得上 127.0.0.1 上的 Redis。" % url)
    if allow_open:
        (warn or (lambda text: print(text, file=sys.stderr, flush=True)))(
            "警告：" + why + "你加了 %s，照样启动：请确认只有受信任的机器（没有学生账户）连得上这个 Redis。"
            % ALLOW_OPEN_FLAG)
        return
    raise SystemExit(
        why + "\n怎么办：在 redis.conf 里设 requirepass（一个长的随机密码，比如 python -c \"import secrets; "
        "print(secrets.token_hex(24))\" 生成的），重启 Redis，地址写成 redis://:密码@主机:6379/0；跨机器时最好用 "
        "rediss://（TLS，同样带密码）。服务和每个工人都用带密码的地址。\n"
        "只有受信任的机器连得上这个 Redis 时（单独的内网、没有学生账户），可以加 %s 照样启动。" % ALLOW_OPEN_FLAG)
