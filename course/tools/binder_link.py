"""Binder 的链接和徽章：从 `git remote get-url origin` 算出来，README 里只有一处用到它。

    python -m course binder-link                 打印链接和 README 用的徽章（Markdown）
    python -m course binder-link --write-readme  把徽章写进 README.md 里两条 binder-badge 注释之间

仓库的公开地址变了（改名、换了组织），重新运行第二条命令即可，README 里不需要手改任何链接。
"""
import re
import subprocess
from pathlib import Path

__all__ = ["github_repo", "binder_url", "badge", "origin_url", "update_readme", "NotOnGitHub",
           "BADGE_START", "BADGE_END", "LESSON_01"]

LESSON_01 = "release/01-graph-chain-rule/graph_chain_rule.ipynb"
BADGE_START = "<!-- binder-badge: python -m course binder-link --write-readme -->"
BADGE_END = "<!-- /binder-badge -->"
NO_BADGE = "还没有在线版：请按下面的步骤在自己的电脑上学习。"
BADGE_NOTE = ("\n\n点上面的徽章，不用安装任何东西就能在浏览器里打开第 01 课（第一次要等一两分钟）。"
              "在线环境是临时的：关掉页面前用 File → Download 把 notebook 存到自己的电脑上。")

_GITHUB = re.compile(r"""^(?:https?://(?:[^@/]+@)?github\.com/|git@github\.com:|ssh://git@github\.com(?::\d+)?/)
                         ([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$""", re.X)


class NotOnGitHub(ValueError):
    """origin 不是 GitHub 上的仓库（Binder 的 gh/ 链接只适用于 GitHub）。"""


def github_repo(remote):
    """GitHub 远程地址 -> "用户名/仓库名"；不是 GitHub 时抛出 NotOnGitHub（中文说明）。"""
    if not isinstance(remote, str) or not remote.strip():
        raise NotOnGitHub("这个仓库没有名为 origin 的远程仓库：先 git remote add origin https://github.com/用户名/仓库名")
    m = _GITHUB.match(remote.strip())
    if not m:
        raise NotOnGitHub("origin 是 %s，不是 GitHub 上的仓库：Binder 徽章需要一个公开的 GitHub 仓库" % remote.strip())
    return "%s/%s" % m.groups()


def binder_url(repo, path=LESSON_01):
    """在 JupyterLab 里打开 path 的 mybinder.org 链接。"""
    return "https://mybinder.org/v2/gh/%s/HEAD?urlpath=lab/tree/%s" % (repo, path)


def badge(repo, path=LESSON_01):
    return "[![Binder](https://mybinder.org/badge_logo.svg)](%s)" % binder_url(repo, path)


def origin_url(cwd="."):
    """`git remote get-url origin` 的结果；没有 git、不是仓库或没有 origin 时返回 None。"""
    try:
        out = subprocess.run(["git", "remote", "get-url", "origin"], cwd=cwd, capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def update_readme(readme, line):
    """把 README 里两条 binder-badge 注释之间的内容换成 line；返回是否有改动。"""
    readme = Path(readme)
    text = readme.read_text(encoding="utf-8")
    if text.count(BADGE_START) != 1 or text.count(BADGE_END) != 1:
        raise ValueError("%s 里应当恰好有一对 binder-badge 注释（%s … %s）" % (readme, BADGE_START, BADGE_END))
    head, rest = text.split(BADGE_START)
    _, tail = rest.split(BADGE_END)
    new = "%s%s\n%s\n%s%s" % (head, BADGE_START, line, BADGE_END, tail)
    if new != text:
        readme.write_text(new, encoding="utf-8")
    return new != text


def main(args):
    """python -m course binder-link 的实现；args 有 write_readme 和 course 两个属性。"""
    root = Path(args.course)
    remote = origin_url(root)
    try:
        repo = github_repo(remote)
    except NotOnGitHub as e:
        print("没法生成 Binder 链接：%s。" % e)
        if args.write_readme:
            changed = update_readme(root / "README.md", NO_BADGE)
            print("README.md 里写的是：%s%s" % (NO_BADGE, "" if changed else "（原本就是这样）"))
        return 1
    print("Binder 链接（打开第 01 课）：%s" % binder_url(repo))
    print("README 用的徽章：%s" % badge(repo))
    if args.write_readme:
        changed = update_readme(root / "README.md", badge(repo) + BADGE_NOTE)
        print("README.md 已更新。" if changed else "README.md 里已经是这个徽章。")
    return 0
