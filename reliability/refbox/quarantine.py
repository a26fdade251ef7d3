"""The quarantine folder: bad files (corrupt state, corrupt lock records) kept as evidence, not deleted."""

from __future__ import annotations

import os
import time

QUARANTINE_DIR = "quarantine"


def folder(state_dir: str) -> str:
    return os.path.join(state_dir, QUARANTINE_DIR)


def set_aside(state_dir: str, box: int, kind: str, data: bytes) -> str:
    """Write `data` (the bad content) into the quarantine folder; return where it went."""
    os.makedirs(folder(state_dir), mode=0o700, exist_ok=True)
    path = os.path.join(folder(state_dir), f"box-{box}.{kind}.{time.time_ns()}.{os.getpid()}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return path


def move_aside(state_dir: str, box: int, kind: str, path: str) -> str:
    """Move the bad file at `path` into the quarantine folder (a rename: same file system)."""
    os.makedirs(folder(state_dir), mode=0o700, exist_ok=True)
    target = os.path.join(folder(state_dir), f"box-{box}.{kind}.{time.time_ns()}.{os.getpid()}")
    os.rename(path, target)
    return target
