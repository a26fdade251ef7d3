"""A mount point inside a temp dir: removing the dir recursively fails (EBUSY) until it is unmounted."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from reliability.refbox import mounts

SIZE = 1024 * 1024


@contextmanager
def mount_inside(directory: str) -> Iterator[str]:
    """Mount a 1 MiB tmpfs at a new directory in `directory`; yields the mount point."""
    point = os.path.join(directory, f"fault-mount-{os.getpid()}")
    os.mkdir(point, 0o755)
    try:
        mounts.mount_tmpfs(point, SIZE, 0, 0)
        try:
            yield point
        finally:
            if mounts.is_mounted(point):
                mounts.unmount(point, lazy=True)  # lazy: a holder of ours may still be inside
    finally:
        if os.path.isdir(point):
            os.rmdir(point)
