"""The audit log: one append-only JSON line per thing the refbox repaired or set aside.

Stale locks, corrupt lock records, corrupt state files, quarantines and recoveries are all recorded
here, next to the state files, so an operator can see afterwards what was found and what was done.
"""

from __future__ import annotations

import json
import os
import socket
import time

AUDIT_NAME = "audit.jsonl"
EVENTS = ("stale_lock", "corrupt_lock", "corrupt_state", "quarantine", "recover")


def audit_path(state_dir: str) -> str:
    return os.path.join(state_dir, AUDIT_NAME)


def append(state_dir: str, event: str, box: int | None, detail: str, moved_to: str | None = None) -> dict:
    """Append one record (O_APPEND keeps lines whole between writers) and fsync it: an audit record
    that a crash could lose would not be evidence."""
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    record = {
        "time": time.time(),
        "event": event,
        "box": box,
        "detail": detail,
        "moved_to": moved_to,
        "pid": os.getpid(),
        "host": socket.gethostname(),
    }
    fd = os.open(audit_path(state_dir), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return record


def read(state_dir: str) -> list[dict]:
    """Every record; a torn last line (a writer killed mid-write) is skipped, never fatal."""
    try:
        with open(audit_path(state_dir)) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records
