"""Thin ctypes wrappers for the system calls Python's os module lacks.

mount(2) directly instead of /bin/mount: a fork+exec per box costs milliseconds we do not have.
Every wrapper raises OSError with the real errno, so callers can tell EBUSY from EPERM.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

# Loaded once at import, in the pipeline process: a forked supervisor only calls into it.
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]

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
    ret = _libc.mount(source.encode(), target.encode(), fstype.encode(), flags, data.encode() or None)
    _check(ret, f"mount {fstype} on {target}")


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(target.encode(), flags), f"umount {target}")


def prctl(option: int, arg2: int = 0) -> None:
    _check(_libc.prctl(option, arg2, 0, 0, 0), f"prctl {option}")
