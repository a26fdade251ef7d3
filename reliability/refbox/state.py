"""state.json per box: written atomically, validated against schemas/box-state.schema.json on every read.

A file that is missing (for a box that has been used), not JSON, cut short or schema-invalid is moved
into the quarantine folder with an audit record, and the box is marked quarantined: other boxes carry
on, and this one waits for `reliability box recover`.
"""

from __future__ import annotations

import functools
import json
import os
import time

from reliability import fastschema, schemas
from reliability.refbox import audit
from reliability.refbox.quarantine import move_aside

STATE_NAME = "state.json"
STATUSES = ("idle", "running", "cleaning", "quarantined")
PHASES = ("setup", "execute", "timeout", "cleanup", "verdict")


@functools.cache
def _valid() -> fastschema.Predicate:
    # The compiled predicate costs microseconds; jsonschema is asked only to word a rejection.
    return fastschema.compile_schema(schemas.validator("box-state").schema)


def problems(doc: object) -> list[str]:
    return [] if _valid()(doc) else schemas.errors("box-state", doc) or ["invalid"]


def state_path(state_dir: str, box: int) -> str:
    return os.path.join(state_dir, str(box), STATE_NAME)


def idle(box: int, generation: int = 0) -> dict:
    now = time.time()
    return {
        "version": 1,
        "box": box,
        "status": "idle",
        "phase": None,
        "generation": generation,
        "owner": None,
        "since": now,
        "updated_at": now,
        "cleanup_steps": [],
        "quarantine_reason": None,
    }


def encode(doc: dict) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def write_atomic(path: str, data: bytes, durable: bool = True) -> None:
    """Temp file, fsync, rename, fsync of the directory: a reader sees the old or the new file whole.

    durable=False skips both fsyncs (still atomic for readers): for supervisor phases, which only
    matter while this boot lasts and would otherwise cost two disk flushes per phase.
    Uses os-level calls only: the forked supervisor calls it.
    """
    directory = os.path.dirname(path)
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    if durable:
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def write(state_dir: str, doc: dict, durable: bool = True) -> dict:
    doc["updated_at"] = time.time()
    bad = problems(doc)
    if bad:  # a bug here must not write a file that the next read quarantines
        raise ValueError(f"refusing to write an invalid box state: {bad[0]}")
    os.makedirs(os.path.join(state_dir, str(doc["box"])), mode=0o700, exist_ok=True)
    write_atomic(state_path(state_dir, doc["box"]), encode(doc), durable)
    return doc


def read(state_dir: str, box: int, missing_ok: bool = False) -> dict:
    """The box's state. A bad file is set aside and a quarantined state is returned (and written).

    missing_ok: a box never used has no file yet; its state is a fresh idle one.
    """
    path = state_path(state_dir, box)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        if missing_ok:
            return idle(box)
        return _quarantine_corrupt(state_dir, box, "state file is missing", None)
    try:
        doc = json.loads(data)
    except ValueError as e:
        what = "empty" if not data.strip() else f"not JSON (partial write?): {e}"
        return _quarantine_corrupt(state_dir, box, f"state file {what}", path)
    bad = problems(doc)
    if not bad and doc["box"] != box:
        bad = [f"box: file of box {box} says box {doc['box']}"]
    if bad:
        return _quarantine_corrupt(state_dir, box, f"state file is schema-invalid: {bad[0]}", path)
    return doc


def quarantined(box: int, reason: str, generation: int = 0) -> dict:
    doc = idle(box, generation)
    doc.update(status="quarantined", quarantine_reason=reason)
    return doc


def _quarantine_corrupt(state_dir: str, box: int, reason: str, path: str | None) -> dict:
    from reliability.refbox import defects  # here: defects imports this module

    if defects.trust_state():
        return write(state_dir, idle(box))
    moved = move_aside(state_dir, box, "state", path) if path else None
    audit.append(state_dir, "corrupt_state", box, reason, moved)
    return write(state_dir, quarantined(box, reason))
