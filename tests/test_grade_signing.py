"""评分任务和结果的签名（course/grading/service/signing.py）：改一个字节、换一个密钥、把旧结果搬到新任务上，
签名都对不上；密钥从权限 600 的文件或环境变量读，不合格时是中文说明（SystemExit），不是回溯。"""
import copy
import os

import pytest

from course.grading.service import signing

KEY = b"k" * 64
JOB = {"id": "abc123", "student": "alice", "assignment": "ps1", "key": "ts:x", "order": 1.5,
       "bundle": {"hash": "h1", "files": {"nbgrader_config.py": "Yz0x"}}, "submission": {"a.ipynb": "e30="}}


def test_a_signed_job_verifies_and_any_change_breaks_it():
    job = signing.sign_job(KEY, JOB)
    assert signing.verify_job(KEY, job) and "sig" not in JOB  # 原来的 dict 不变
    assert signing.verify_job(KEY, copy.deepcopy(job))
    for change in (lambda j: j.update(student="bob"), lambda j: j["bundle"]["files"].update({"x": "eA=="}),
                   lambda j: j.update(nonce="0" * 32), lambda j: j.update(order=2.5)):
        forged = copy.deepcopy(job)
        change(forged)
        assert not signing.verify_job(KEY, forged)
    assert not signing.verify_job(b"o" * 64, job)  # 别的密钥
    assert not signing.verify_job(KEY, JOB)  # 没有签名
    assert not signing.verify_job(KEY, dict(JOB, sig="0" * 64, nonce="n"))
    assert not signing.verify_job(KEY, "not a dict")
    # 每次签名的 nonce 都不同
    assert signing.sign_job(KEY, JOB)["nonce"] != job["nonce"]


def test_a_result_is_bound_to_its_job_and_nonce():
    job = signing.sign_job(KEY, JOB)
    outcome = signing.sign_result(KEY, job, {"ok": True, "result": {"graded": True, "notebooks": [{"grades": [1]}]}})
    assert signing.verify_result(KEY, job, outcome)
    again = signing.sign_job(KEY, JOB)  # 同一份提交重新派发：新的 nonce
    assert not signing.verify_result(KEY, again, outcome)  # 旧结果搬不到新任务上
    assert not signing.verify_result(KEY, dict(job, id="other"), outcome)
    forged = copy.deepcopy(outcome)
    forged["result"]["notebooks"][0]["grades"] = [2]
    assert not signing.verify_result(KEY, job, forged)
    assert not signing.verify_result(KEY, job, {"ok": True, "result": {}})  # 没有签名
    assert not signing.verify_result(b"o" * 64, job, outcome)


def test_key_from_a_0600_file_or_the_environment(tmp_path):
    path = tmp_path / "grade.key"
    path.write_text("a" * 64 + "\n")
    path.chmod(0o600)
    assert signing.load_key(str(path), environ={}) == b"a" * 64
    assert signing.load_key(None, environ={signing.KEY_ENV: "b" * 40}) == b"b" * 40
    path.chmod(0o640)
    with pytest.raises(SystemExit, match="chmod 600"):
        signing.load_key(str(path), environ={})
    with pytest.raises(SystemExit, match="secrets.token_hex"):
        signing.load_key(None, environ={})
    with pytest.raises(SystemExit, match="太短"):
        signing.load_key(None, environ={signing.KEY_ENV: "short"})
    with pytest.raises(SystemExit, match="读不了密钥文件"):
        signing.load_key(str(tmp_path / "missing"), environ={})
    link = tmp_path / "link.key"
    os.symlink(path, link)
    with pytest.raises(SystemExit, match="读不了密钥文件"):  # 不跟随符号链接
        signing.load_key(str(link), environ={})
