"""Landlock（见 landlock(7)）：沙箱里的进程能在哪里写。规则在 exec 成内核之前设好，内核和它的所有子进程都逃不出去。

只管“写”的权限（读由 bubblewrap 的挂载决定）：写文件、截断、建和删文件/文件夹/链接/设备/FIFO/套接字、跨文件夹改名。
LANDLOCK 是一段在沙箱里、exec 成内核之前运行的代码（sandbox.limiter_argv 把它拼进启动命令）。
"""
import functools
import os
import sys

__all__ = ["LANDLOCK", "landlock_abi", "landlock_rules", "LL_ALL"]

LL_WRITE_FILE, LL_REMOVE_FILE, LL_MAKE_SOCK, LL_TRUNCATE = 1 << 1, 1 << 5, 1 << 9, 1 << 14
LL_ALL = -1  # 下面 LANDLOCK 代码里的“全部写权限”
LANDLOCK = (
    "def _landlock(rules):\n"
    " import ctypes\n"
    " c=ctypes.CDLL(None,use_errno=True);s=c.syscall;s.restype=ctypes.c_long\n"
    " abi=s(444,None,ctypes.c_size_t(0),ctypes.c_uint(1))\n"
    " if abi<1: return 'Landlock unavailable: %%s'%%os.strerror(ctypes.get_errno())\n"
    " full=0x1ff2|(8192 if abi>=2 else 0)|(16384 if abi>=3 else 0)\n"
    " a=ctypes.c_uint64(full)\n"
    " fd=s(444,ctypes.byref(a),ctypes.c_size_t(8),ctypes.c_uint(0))\n"
    " if fd<0: return 'landlock_create_ruleset: %%s'%%os.strerror(ctypes.get_errno())\n"
    " class P(ctypes.Structure): _pack_=1;_fields_=[('a',ctypes.c_uint64),('fd',ctypes.c_int32)]\n"
    " for path,acc in rules:\n"
    "  try: pfd=os.open(path,os.O_PATH|os.O_CLOEXEC|os.O_DIRECTORY)\n"
    "  except OSError: continue\n"
    "  r=s(445,ctypes.c_int(fd),ctypes.c_int(1),ctypes.byref(P(full if acc<0 else acc&full,pfd)),ctypes.c_uint(0))\n"
    "  os.close(pfd)\n"
    "  if r<0: return 'landlock_add_rule %%s: %%s'%%(path,os.strerror(ctypes.get_errno()))\n"
    " if c.prctl(38,1,0,0,0)!=0 or s(446,ctypes.c_int(fd),ctypes.c_uint(0))<0:\n"
    "  return 'landlock_restrict_self: %%s'%%os.strerror(ctypes.get_errno())\n"
    " os.close(fd)\n"
    "e=_landlock(%r)\n"
    "if e: print('course.grading.sandbox.bubblewrap: '+e,file=sys.stderr)\n"
)


@functools.lru_cache(maxsize=None)
def landlock_abi():
    """本机内核支持的 Landlock 版本（0 表示不支持或没有启用）。"""
    if not sys.platform.startswith("linux"):
        return 0
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        return max(0, libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint(1)))
    except (OSError, AttributeError):
        return 0


def landlock_rules(ops, ipc):
    """沙箱里能写的地方：自己的 /tmp、/dev/shm 和可写挂载的文件夹随便写，/dev、/proc 里只能写已有的文件，
    ipc/ 里只能建、删套接字。其余地方本来就是只读挂载。"""
    rules = [("/tmp", LL_ALL), ("/dev/shm", LL_ALL), ("/dev", LL_WRITE_FILE | LL_TRUNCATE),
             ("/proc", LL_WRITE_FILE | LL_TRUNCATE)]
    for dest, args in ops:
        if args[:1] == ["--bind"] and dest != os.path.normpath(ipc):
            rules.append((dest, LL_ALL))
    rules.append((os.path.normpath(ipc), LL_MAKE_SOCK | LL_REMOVE_FILE))
    return rules
