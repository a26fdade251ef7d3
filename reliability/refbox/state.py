"""state.json per box: written atomically, validated against schemas/box-state.schema.json on every read.

A file that is missing (for a box that has been used), not JSON, cut short or schema-invalid is moved
into the quarantine folder with an audit record, and the box is marked quarantined: other boxes carry
on, and this one waits for `reliability box recover`.

Which writes are durable (fsync of the file and its directory) and which are only atomic (temp file +
rename: a reader, or a pipeline restarted after a process crash, sees the old or the new file whole):

  durable   the first file of a box (from then on a missing file is a fault), init's "running" (the box
            handed out, with its owner and the next generation), every "quarantined", and what recover
            writes (the only way out of quarantine).
  atomic    the supervisor's phases (phases.py), cleanup's "cleaning", and cleanup's final "idle".

Why that is enough. A process crash (the pipeline or a supervisor killed) loses nothing: a renamed file
is in the page cache, and every later reader sees it. Only an OS crash or power loss drops writes not
yet flushed, and after one, the file holds the newest durable state or any newer atomic one, never a
torn mix (rename is atomic in the filesystem's journal; ext4 also flushes the data of a file renamed
over another before the rename commits). What recover reads after such a loss is the status (to report
it and to lift a quarantine), the reason, phase and owner (reported only), and the generation:
  - "quarantined" is durable, and nothing but recover (durable too) writes to a quarantined box, so a
    quarantine and its reason can never be lost: a box found broken stays set aside across a reboot.
  - every init is durable, so the file is never older than the newest init: the generation never goes
    back (no two runs under one generation) and a box handed out never reads as never used.
  - a lost "cleaning" leaves "running" (or a phase of it): recover and init treat both alike (not idle:
    recover kills, unmounts, removes, and reports the state it found).
  - a lost final "idle" leaves "running"/"cleaning": the box looks in use, so init refuses it until
    recover has run, which resume does for every box of the run before anything else (execute.py).
    That direction only costs a recover that finds nothing left (a reboot took the tmpfs, cgroups and
    processes with it); it never lets a box in an unknown state be used.
So no state that a decision after a power loss depends on is ever only atomic; the atomic ones can
only make recover do (and report) work it would do anyway. Were the filesystem to leave an empty or
cut file after a power loss (one without ext4's rename flush), read() finds it not JSON and
quarantines the box: detected and never trusted, as any damaged file.
"""

from __future__ import annotations

import json
import os
import time

from reliability.refbox import audit
from reliability.refbox.quarantine import move_aside

STATE_NAME = "state.json"
STATUSES = ("idle", "running", "cleaning", "quarantined")
PHASES = ("setup", "execute", "timeout", "cleanup", "verdict")


# path -> the bytes last written or read there and found schema-valid: whether a document is valid
# depends on its bytes alone, so reading back the same bytes (init's file, read again by run) needs no
# second validation. A file changed by anyone else (the supervisor's phases, a test, a damaged disk)
# has other bytes and is validated in full. One entry per box; plain dict operations, safe in threads.
_known_valid: dict[str, bytes] = {}


def problems(doc: object) -> list[str]:
    # Imported here, not at the top: jsonschema is large, and the fork server, which imports this
    # module for phases.py and never validates, would carry it into every supervisor it forks.
    from reliability import schemas

    return schemas.problems("box-state", doc)


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

    durable=False skips both fsyncs (still atomic for readers): for the transient states named in the
    module docstring, which only matter while this boot lasts and would otherwise cost two disk
    flushes each.
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
        _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
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
    path, data = state_path(state_dir, doc["box"]), encode(doc)
    try:
        write_atomic(path, data, durable)
    except FileNotFoundError:  # the box's first state (or its directory removed): make it, once
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        write_atomic(path, data, durable)
        if durable:  # the new directory's own entry too, or a power loss could drop the file with it
            _fsync_dir(state_dir)
    _known_valid[path] = data
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
    bad = [] if _known_valid.get(path) == data else problems(doc)
    if not bad and doc["box"] != box:
        bad = [f"box: file of box {box} says box {doc['box']}"]
    if bad:
        return _quarantine_corrupt(state_dir, box, f"state file is schema-invalid: {bad[0]}", path)
    _known_valid[path] = data
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
