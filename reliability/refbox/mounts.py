"""The box's tmpfs: mount with a size quota, unmount, and "is it mounted" from /proc/self/mountinfo."""

from __future__ import annotations

import os

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


def is_mounted(path: str, mountinfo: str = MOUNTINFO) -> bool:
    return os.path.abspath(path) in mount_points(mountinfo)


def mounts_under(root: str, mountinfo: str = MOUNTINFO) -> list[str]:
    """Mount points strictly below `root`, deepest first (the order to unmount them in)."""
    prefix = os.path.abspath(root).rstrip("/") + "/"
    found = [p for p in mount_points(mountinfo) if p.startswith(prefix)]
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)
