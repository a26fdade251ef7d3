"""A busy mount: a process of ours with its cwd and an open fd inside a box mount, so umount gets EBUSY."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from reliability.nemesis import _proc


@contextmanager
def hold_busy(path: str) -> Iterator[int]:
    """Hold `path` (a directory on the mount) busy while inside; yields the holder's pid."""
    proc = _proc.start_python(_proc.HOLD, path, cwd=path)
    try:
        yield proc.pid
    finally:
        _proc.stop(proc)
