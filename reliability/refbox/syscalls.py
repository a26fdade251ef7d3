"""Thin ctypes wrappers for the system calls Python's os module lacks.

mount(2) directly instead of /bin/mount: a fork+exec per box costs milliseconds we do not have.
Every wrapper raises OSError with the real errno, so callers can tell EBUSY from EPERM.
"""

from __future__ import annotations

import ctypes
import os

# The C library this interpreter already has loaded (dlopen(NULL)), at import, in the pipeline process:
# a forked supervisor only calls into it. ctypes.util.find_library would run `ldconfig -p` each time,
# twice per `reliability box` command.
libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]

MS_NOSUID = 0x2
MS_NODEV = 0x4
MNT_DETACH = 0x2
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str, target: str, fstype: str, flags: int = 0, data: str = "") -> None:
    ret = libc.mount(source.encode(), target.encode(), fstype.encode(), flags, data.encode() or None)
    _check(ret, f"mount {fstype} on {target}")


def umount2(target: str, flags: int = 0) -> None:
    _check(libc.umount2(target.encode(), flags), f"umount {target}")


def prctl(option: int, arg2: int = 0) -> None:
    _check(libc.prctl(option, arg2, 0, 0, 0), f"prctl {option}")


# -- isolation (used by refbox/isolation.py in the program's setup, after fork) --------------------
libc.unshare.argtypes = [ctypes.c_int]
libc.syscall.restype = ctypes.c_long

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 0x1
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
# glibc has no pivot_root wrapper; capset's is not exported everywhere: call them by number.
_SYSCALL_NUMBERS = {"x86_64": {"pivot_root": 155, "capset": 126}, "aarch64": {"pivot_root": 41, "capset": 91}}
_NR = _SYSCALL_NUMBERS.get(os.uname().machine, {})


def unshare(flags: int) -> None:
    _check(libc.unshare(flags), f"unshare {flags:#x}")


def pivot_root(new_root: str, put_old: str) -> None:
    if "pivot_root" not in _NR:
        raise OSError(38, f"pivot_root: unknown system call number on {os.uname().machine}")
    ret = libc.syscall(_NR["pivot_root"], new_root.encode(), put_old.encode())
    _check(int(ret), f"pivot_root {new_root}")


def capset_zero() -> None:
    """Empty effective, permitted and inheritable sets (both 32-bit halves of version 3)."""
    if "capset" not in _NR:
        raise OSError(38, f"capset: unknown system call number on {os.uname().machine}")
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # two {effective, permitted, inheritable}, all zero
    _check(int(libc.syscall(_NR["capset"], header, data)), "capset")


def prctl5(option: int, arg2: int = 0, arg3: int = 0) -> None:
    _check(libc.prctl(option, arg2, arg3, 0, 0), f"prctl {option}")
