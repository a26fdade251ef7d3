"""The box's tmpfs: mount with a size quota, unmount, and "is it mounted".

"Is it mounted" asks the kernel about the one path (statx's STATX_ATTR_MOUNT_ROOT: the path is the root
of the mount it is reached through) instead of reading and splitting all of /proc/self/mountinfo,
which a busy host makes hundreds of lines long, several times per execution. The answer is the same:
a path is a mount point exactly when the dentry it resolves to is the root of its mount, whatever the
filesystem (a tmpfs, a bind mount of the parent's own filesystem, stacked mounts: the top one). Where
statx or that attribute is missing (old kernel or libc), mountinfo is read as before.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from reliability.refbox import syscalls
from reliability.refbox.cgroups import read_text, unescape_mountinfo

MOUNT_SOURCE = "refbox"  # the "source" column of mountinfo, so a leaked box mount is recognisable
MOUNTINFO = "/proc/self/mountinfo"


def mount_tmpfs(path: str, size_bytes: int, uid: int, gid: int, mode: int = 0o755) -> None:
    # nosuid+nodev: a box program must not gain privileges from files it writes.
    options = f"size={size_bytes},uid={uid},gid={gid},mode={mode:o}"
    syscalls.mount(MOUNT_SOURCE, path, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NODEV, options)


def unmount(path: str, lazy: bool = False) -> None:
    syscalls.umount2(path, syscalls.MNT_DETACH if lazy else 0)


def mount_points(mountinfo: str = MOUNTINFO) -> list[str]:
    points = []
    for line in read_text(mountinfo).splitlines():
        fields = line.split()
        if len(fields) > 4:
            points.append(unescape_mountinfo(fields[4]))
    return points


_AT_FDCWD = -100
_AT_SYMLINK_NOFOLLOW = 0x100  # a symlink planted in place of a box is not its mount, as in mountinfo
_AT_NO_AUTOMOUNT = 0x800
_STATX_TYPE = 0x1
_STATX_ATTR_MOUNT_ROOT = 0x2000  # Linux 5.8
_STATX_SIZE = 256
_ATTRIBUTES = struct.Struct("=8xQ")  # stx_attributes at offset 8
_ATTRIBUTES_MASK = struct.Struct("=56xQ")  # stx_attributes_mask at offset 56


def _load_statx():
    try:
        fn = syscalls.libc.statx
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.c_char_p]
    fn.restype = ctypes.c_int
    return fn


_statx = _load_statx()


def _mount_root(path: str) -> bool | None:
    """Whether `path` is the root of a mount; None when the kernel cannot tell (then ask mountinfo)."""
    if _statx is None:
        return None
    buf = ctypes.create_string_buffer(_STATX_SIZE)
    flags = _AT_SYMLINK_NOFOLLOW | _AT_NO_AUTOMOUNT
    if _statx(_AT_FDCWD, os.fsencode(path), flags, _STATX_TYPE, buf) != 0:
        err = ctypes.get_errno()
        if err in (errno.ENOENT, errno.ENOTDIR):
            return False  # nothing there: nothing mounted there either
        return None
    if not _ATTRIBUTES_MASK.unpack_from(buf)[0] & _STATX_ATTR_MOUNT_ROOT:
        return None  # this kernel does not report the attribute
    return bool(_ATTRIBUTES.unpack_from(buf)[0] & _STATX_ATTR_MOUNT_ROOT)


def is_mounted(path: str, mountinfo: str = MOUNTINFO) -> bool:
    path = os.path.abspath(path)
    if mountinfo == MOUNTINFO:
        answer = _mount_root(path)
        if answer is not None:
            return answer
    return path in mount_points(mountinfo)


def mounts_under(root: str, mountinfo: str = MOUNTINFO) -> list[str]:
    """Mount points strictly below `root`, deepest first (the order to unmount them in)."""
    prefix = os.path.abspath(root).rstrip("/") + "/"
    found = [p for p in mount_points(mountinfo) if p.startswith(prefix)]
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)
