"""Damage written into a box's state file from outside the target, as a crash or a bad disk would leave it.

Every case starts from the file as the target itself last wrote it (the box idle after a normal run):
  corrupt_json   the document with garbage in the middle: not JSON any more
  partial_write  the document cut half-way, as a write without rename would leave it after a crash
  missing_file   the file removed
  wrong_enum     valid JSON, but its "status" set to a value no schema allows
  missing_key    valid JSON, but its first key removed (the refbox's "version": a required key)
The write is in place (same inode, owner and mode): only the content changes. Nothing here talks to
the target; where its state file lives comes from the target (`state_file(box)`), and a target that
names none has no per-box state file to damage.
"""

from __future__ import annotations

import hashlib
import json
import os

from reliability.nemesis import audit_trail
from reliability.targets.base import Target

# The stage records this list in stage_start (Stage.cases); checks/state.py counts against that record.
CASES = ("corrupt_json", "partial_write", "missing_file", "wrong_enum", "missing_key")
HOW = {
    "corrupt_json": "garbage written into the middle of the document",
    "partial_write": "the document cut half-way",
    "missing_file": "the file removed",
    "wrong_enum": 'valid JSON with "status" set to a value outside its enum',
    "missing_key": "valid JSON with its first key removed",
}
BAD_STATUS = "corrupted-by-reliability"
MAX_SCAN = 20_000  # files looked at when searching the state tree for the set-aside copy


def cannot(target: Target, box: int) -> str:
    """Why the state of `box` cannot be damaged on this target ('' when it can)."""
    if target.state_file(box):
        return ""
    declared = target.owned([box]).state_files
    if not declared:
        return f"target {target.name} has no state files"
    return (
        f"target {target.name} names no per-box state file (state files: {', '.join(declared)}): "
        "damaging one box's state is not defined for it"
    )


def damage(case: str, good: bytes | None) -> tuple[bytes | None, str]:
    """(bytes to write, or None to remove the file; '' or why this case cannot be made from `good`)."""
    if case == "missing_file":
        return None, "" if good is not None else "the file does not exist after a normal run"
    if not good:
        return b"", "the file is missing or empty after a normal run: there is no document to damage"
    half = len(good) // 2
    if case == "corrupt_json":
        return good[:half] + b"\x00#corrupt#{[" + good[half:], ""
    if case == "partial_write":
        return good[: max(1, half)], ""
    try:
        doc = json.loads(good)
    except ValueError:
        return b"", "the file is not JSON after a normal run: no field to make invalid"
    if not isinstance(doc, dict) or not doc:
        return b"", "the file is not a JSON object: no field to make invalid"
    if case == "wrong_enum":
        if not isinstance(doc.get("status"), str):
            return b"", 'the document has no "status" field to set outside its enum'
        doc["status"] = BAD_STATUS
    else:  # missing_key
        doc.pop(next(iter(doc)))
    return json.dumps(doc, separators=(",", ":")).encode(), ""


def write(path: str, data: bytes | None) -> dict:
    """Write the damage in place (or remove the file); return what was done, as evidence, with whether
    the file holds the damage when read back (`took_effect`): a fault that did not take is no test."""
    if data is None:
        os.unlink(path)
        return {"removed": True, "bytes": 0, "sha256": "", "preview": "", **_read_back(path, data)}
    with open(path, "r+b") as f:  # in place: the target's owner and mode stay
        f.write(data)
        f.truncate()
        f.flush()
        os.fsync(f.fileno())
    written = {"removed": False, "bytes": len(data), "sha256": _sha(data), "preview": _preview(data)}
    return {**written, **_read_back(path, data)}


def _read_back(path: str, data: bytes | None) -> dict:
    now = audit_trail.read(path)
    if now == data:
        return {"took_effect": True}
    found = "the file is still there" if now is not None and data is None else f"{describe(now)}"
    return {"took_effect": False, "fact": f"{path} read back without the damage: {found}"}


def state_root(patterns: list[str], path: str) -> str:
    """The directory that holds all of the target's state files (where a set-aside copy would go)."""
    fixed = [os.path.dirname(p.split("*")[0].split("?")[0].split("[")[0]) for p in patterns]
    try:
        return os.path.commonpath([*fixed, os.path.dirname(path)]) if fixed else os.path.dirname(path)
    except ValueError:
        return os.path.dirname(path)


def files_under(root: str) -> set[str]:
    found: set[str] = set()
    for directory, _dirs, names in os.walk(root):
        found.update(os.path.join(directory, n) for n in names)
        if len(found) > MAX_SCAN:
            break
    return found


def kept_copies(root: str, before: set[str], data: bytes | None) -> list[str]:
    """New files under `root` holding exactly the damaged bytes: the bad file kept as evidence."""
    if not data:
        return []
    out = []
    for path in sorted(files_under(root) - before):
        try:
            if os.path.getsize(path) == len(data) and audit_trail.read(path) == data:
                out.append(path)
        except OSError:
            continue
    return out


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _preview(data: bytes, limit: int = 160) -> str:
    text = data[:limit].decode(errors="replace")
    return text + ("..." if len(data) > limit else "")


def describe(data: bytes | None) -> dict:
    """The file as it is now, comparable with what `write` returned."""
    if data is None:
        return {"exists": False, "bytes": 0, "sha256": ""}
    return {"exists": True, "bytes": len(data), "sha256": _sha(data), "preview": _preview(data)}
