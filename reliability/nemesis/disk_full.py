"""Disk full, on a dedicated small tmpfs only: never the host's real disk.

`small_tmpfs` makes the filesystem (a fresh dir directly under /tmp, searchable by the box uids);
`filled` fills it to the last byte and frees it again on exit. `filled` refuses any path that is not on
a tmpfs of at most MAX_FILL_MB, so a wrong argument can never fill a real disk.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from reliability.refbox import mounts

MIB = 1024 * 1024
MAX_FILL_MB = 256
TMPFS_MAGIC = 0x01021994


@contextmanager
def small_tmpfs(size_mb: int, prefix: str = "fault-tmpfs-") -> Iterator[str]:
    """A tmpfs of `size_mb` MiB at a new directory under /tmp; unmounted and removed on exit."""
    if not 0 < size_mb <= MAX_FILL_MB:
        raise ValueError(f"a fault tmpfs is 1 to {MAX_FILL_MB} MiB, got {size_mb}")
    point = tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir="/tmp")
    try:
        os.chmod(point, 0o755)
        mounts.mount_tmpfs(point, size_mb * MIB, 0, 0)
        try:
            yield point
        finally:
            for inner in sorted(mounts.mounts_under(point), key=len, reverse=True):
                mounts.unmount(inner, lazy=True)  # a box the target left mounted in it
            mounts.unmount(point, lazy=True)
    finally:
        os.rmdir(point)


def fs_type_of(path: str) -> str:
    """The filesystem type of the mount holding `path` (longest mount point prefix in /proc/self/mounts)."""
    real, best, kind = os.path.realpath(path), "", ""
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            point = fields[1].replace("\\040", " ")
            inside = real == point or real.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best):
                best, kind = point, fields[2]
    return kind


def check_fillable(path: str) -> None:
    """Raise ValueError unless `path` is on a small tmpfs (the guard that keeps real disks safe)."""
    st = os.statvfs(path)
    size_mb = st.f_blocks * st.f_frsize / MIB
    if fs_type_of(path) != "tmpfs" or size_mb > MAX_FILL_MB:
        raise ValueError(f"refusing to fill {path}: not a tmpfs of at most {MAX_FILL_MB} MiB")


@contextmanager
def filled(path: str) -> Iterator[int]:
    """Fill the tmpfs holding directory `path` until ENOSPC; yields the bytes written; frees them on exit."""
    check_fillable(path)
    filler = os.path.join(path, f".fault-fill-{os.getpid()}")
    written = 0
    try:
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            chunk = b"\0" * MIB
            while True:
                try:
                    written += os.write(fd, chunk)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    if len(chunk) == 1:
                        break
                    chunk = chunk[: len(chunk) // 2]  # fill the last partial MiB too
        finally:
            os.close(fd)
        yield written
    finally:
        if os.path.lexists(filler):
            os.unlink(filler)
