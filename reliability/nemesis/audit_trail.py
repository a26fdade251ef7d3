"""What a target appended to its audit logs while a fault was in place, and the files faults read back.

mark() before the fault, since() after it: the records written in between (JSON lines parsed, other
lines kept as text). A log that got shorter was rotated: it is read from its start.
"""

from __future__ import annotations

import json
import os

from reliability.targets.base import Target


def read(path: str) -> bytes | None:
    """The file's bytes, or None if it is not there (a fault may have removed it)."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def mark(target: Target) -> dict[str, int]:
    """{audit log: its size now}, for every audit log the target declares."""
    return {p: (os.path.getsize(p) if os.path.exists(p) else 0) for p in target.audit_files()}


def since(marks: dict[str, int]) -> list:
    """Records appended to each audit log since `marks`."""
    records: list = []
    for path, offset in marks.items():
        data = read(path) or b""
        for line in data[offset if len(data) >= offset else 0 :].splitlines():
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError:
                records.append(line.decode(errors="replace"))
    return records
