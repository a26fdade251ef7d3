"""The target's state files (Owned.state_files globs) read as a crashed or corrupted sandbox left them.

Read-only: unlike the refbox's own reader, nothing is moved aside or quarantined, so a check can say
what a crash left before the target's recover runs. Known files are checked against their schema
(the refbox's state.json and lock); a *.jsonl must be one JSON document per line; any other *.json
must parse. An empty lock file is a free lock, not damage.
"""

from __future__ import annotations

import glob
import json
import os

from reliability.refbox import locks
from reliability.refbox.state import STATE_NAME
from reliability.refbox.state import problems as state_problems


def problems(patterns: list[str]) -> list[str]:
    """One line per damaged file: "<path>: <why>"."""
    out: list[str] = []
    for path in sorted({p for pattern in patterns for p in glob.glob(pattern)}):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            out.append(f"{path}: unreadable: {e.strerror}")
            continue
        why = _why_bad(os.path.basename(path), data)
        if why:
            out.append(f"{path}: {why}")
    return out


def _why_bad(name: str, data: bytes) -> str:
    try:
        if name == "lock":
            if data.strip():
                locks.parse_record(data)
            return ""
        if name.endswith(".jsonl"):
            for line in data.splitlines():
                if line.strip():
                    json.loads(line)
            return ""
        if name.endswith(".json"):
            doc = json.loads(data)
            if name == STATE_NAME:
                bad = state_problems(doc)
                return f"schema-invalid: {bad[0]}" if bad else ""
    except ValueError as e:
        return f"not valid ({'empty' if not data.strip() else e})"
    return ""
