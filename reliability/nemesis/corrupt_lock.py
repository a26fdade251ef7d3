"""Corrupt a box's lock file from outside: garbage, a truncated record, an empty file.

Where the lock file is: the target's optional `lock_file(box) -> str | None` (None: the target
declares none), else, for a described target, an owns/lock_files entry whose glob names the box with a
{box} placeholder. Without either the sub-case cannot run and says why.

Afterwards the file's state is recorded as facts (after_facts); checks/lock_subcases.py judges it.
The file is written in place (never renamed or unlinked: a lock file's inode is what is locked), only
while the box is free, and put back afterwards if it still holds what was written (a target that
repaired it keeps its repair).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

from reliability.nemesis import audit_trail
from reliability.targets.capabilities import LockRecords, capability

GARBAGE = b"\x00\xff not a lock record \x1b[31m{{{\n" * 3


def lock_file_of(target, box: int) -> tuple[str | None, str]:
    """(path of box `box`'s lock file, '') or (None, why there is none)."""
    path = target.lock_file(box)
    return (path, "") if path else (None, f"target {target.name} declares no lock file per box")


def corruptions(current: bytes | None, box: int) -> dict[str, bytes]:
    """The three corrupt contents: garbage, the current record cut in the middle, and empty."""
    record = current if current and current.strip() else None
    if record is None:
        record = json.dumps({"version": 1, "box": box, "holder": {"pid": 1, "start_time": 1}}).encode()
    return {"garbage": GARBAGE, "truncated": record[: max(1, len(record) // 2)], "empty": b""}


def _write_in_place(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


@contextmanager
def corrupted(path: str, data: bytes) -> Iterator[bytes | None]:
    """Write `data` into the lock file at `path`; yield what it held before (None: it did not exist).

    Afterwards the original is put back if the file still holds exactly `data`; a file this made is
    removed again only if it still holds `data` (then no target ever used it)."""
    original = audit_trail.read(path)
    if original is None:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    _write_in_place(path, data)
    try:
        yield original
    finally:
        if audit_trail.read(path) == data:
            if original is None:
                os.unlink(path)
            else:
                _write_in_place(path, original)


def is_locked(path: str) -> bool:
    """True if some process holds an flock on `path` now (False for a file nobody flocks)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return True
        raise
    finally:
        os.close(fd)


def after_facts(target, path: str, written: bytes) -> dict:
    """What the lock file is after the race: locked or not, what it holds, and, for a target that reads
    its own lock records (the LockRecords capability), what that record says or why it is no record."""
    data = audit_trail.read(path)
    facts: dict = {"file": path, "locked": is_locked(path), "exists": data is not None}
    if data is None:
        return facts
    facts.update(bytes=len(data), preview=data[:80].decode(errors="replace"), unchanged=data == written)
    reader = capability(target, LockRecords)
    if reader is None or not data.strip():
        return facts
    try:
        facts["record"] = reader.lock_record(data)
    except ValueError as e:
        facts["record_error"] = str(e)
    return facts
