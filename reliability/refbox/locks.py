"""Box locks: an flock on <state_dir>/<box>/lock plus a JSON owner record in the same file.

Who holds the flock: the process that claims the box (a pipeline, or one `reliability box` command),
on its own open file description. flock conflicts between two open() calls even inside one process, so
two threads cannot share a box by accident; the supervisor forked for a run closes every inherited fd at
once, so the lock lives exactly as long as its claimant and the kernel releases it when that dies.

The owner record says who claimed it. Finding a record that names a holder while the flock is free
means that holder died without releasing it (or its pid was reused, or the host rebooted): the lock is
recovered with an audit record. A record that does not parse (garbage, empty, truncated) is recovered
the same way. The file is never unlinked, so two claimants can never lock two different inodes.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import threading
import time

from reliability.refbox import audit, defects
from reliability.refbox.quarantine import set_aside

LOCK_NAME = "lock"
RECORD_VERSION = 1
POLL_S = 0.01


class BoxBusy(Exception):
    """Another live claimant holds the box."""


def boot_id() -> str:
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


def start_time(pid: int) -> int | None:
    """Start time of `pid` in clock ticks after boot (field 22 of /proc/PID/stat); None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(data[data.rfind(b")") + 2 :].split()[19])


def me(run_id: str | None = None) -> dict:
    """The owner identity of this process."""
    pid = os.getpid()
    return {
        "pid": pid,
        "start_time": start_time(pid) or 0,
        "boot_id": boot_id(),
        "host": socket.gethostname(),
        "run_id": run_id,
    }


def why_stale(owner: dict) -> str:
    """Why a recorded owner cannot hold the box any more ('' if it still could)."""
    if owner.get("boot_id") != boot_id():
        return f"owner pid {owner.get('pid')} ran in another boot ({owner.get('boot_id')})"
    started = start_time(owner["pid"])
    if started is None:
        return f"owner pid {owner['pid']} is dead"
    if started != owner.get("start_time"):
        return (
            f"owner pid {owner['pid']} was reused (start time {started}, recorded {owner.get('start_time')})"
        )
    return ""


def parse_record(data: bytes) -> dict:
    """The lock record, or ValueError saying why it is corrupt."""
    if not data.strip():
        raise ValueError("empty lock record")
    doc = json.loads(data)
    holder = doc.get("holder") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or doc.get("version") != RECORD_VERSION or "holder" not in doc:
        raise ValueError("not a lock record")
    if holder is not None:
        need = {"pid": int, "start_time": int, "boot_id": str, "host": str, "acquired_at": (int, float)}
        for key, kind in need.items():
            if not isinstance(holder.get(key), kind) or isinstance(holder.get(key), bool):
                raise ValueError(f"holder.{key} missing or not {kind}")
    return doc


class BoxLock:
    """One claimed box. acquire() returns it; release() frees it (the kernel does if we die)."""

    def __init__(self, state_dir: str, box: int, fd: int, recovered: str, created: bool):
        self.state_dir, self.box, self.fd = state_dir, box, fd
        self.created = created  # this claim made the lock file: the box was never used before
        self.recovered = recovered  # what stale or corrupt record was found and replaced, '' if none

    @classmethod
    def acquire(cls, state_dir: str, box: int, wait_s: float = 0.0, run_id: str | None = None) -> BoxLock:
        """Claim `box`; raise BoxBusy at once (wait_s=0) or once `wait_s` seconds have passed."""
        path = lock_path(state_dir, box)
        _create_free(path, box)
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        deadline = time.monotonic() + wait_s
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as e:
                    if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                        raise
                if time.monotonic() >= deadline:
                    raise BoxBusy(f"box {box} busy{_held_by(fd)}")
                time.sleep(POLL_S)
            if defects.ignores_stale_lock():
                _refuse_stale(fd, box)
            # Decided under the flock: whichever thread or process made the file, the first holder
            # is the one that finds it never held ("used" is set from the first claim on).
            created = _never_held(fd)
            recovered = _recover_stale(state_dir, box, fd)
            owner = {**me(run_id), "acquired_at": time.time()}
            _write(fd, {"version": RECORD_VERSION, "box": box, "holder": owner, "used": True})
        except BaseException:
            os.close(fd)  # closing drops the flock if we got it
            raise
        return cls(state_dir, box, fd, recovered, created)

    def release(self) -> None:
        if self.fd < 0:
            return
        try:
            _write(self.fd, {"version": RECORD_VERSION, "box": self.box, "holder": None, "used": True})
        finally:
            # Unlock explicitly: a supervisor forked by another thread may still hold a copy of this fd
            # for a moment, and a mere close would leave the flock held until that copy is closed.
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = -1


def lock_path(state_dir: str, box: int) -> str:
    return os.path.join(state_dir, str(box), LOCK_NAME)


def read_holder(state_dir: str, box: int) -> dict | None:
    """The recorded holder (None if free or unreadable), without locking: for status."""
    try:
        with open(lock_path(state_dir, box), "rb") as f:
            return parse_record(f.read()).get("holder")
    except (OSError, ValueError):
        return None


def is_held(state_dir: str, box: int) -> bool:
    """True if some open file description holds the box's flock now."""
    try:
        fd = os.open(lock_path(state_dir, box), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _create_free(path: str, box: int) -> bool:
    """Create the lock file with a free record in one step (link of a complete temp file), so no
    claimant ever reads a half-created file and mistakes it for a corrupt one."""
    if os.path.lexists(path):
        return False
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.new.{os.getpid()}.{threading.get_ident()}"  # threads of one pipeline race here too
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:  # the temp file goes whatever happens (a full disk fails the write): never left to collide
        try:
            os.write(fd, json.dumps({"version": RECORD_VERSION, "box": box, "holder": None}).encode())
        finally:
            os.close(fd)
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False  # another claimant made it first: theirs is as good
    finally:
        os.unlink(tmp)


def _never_held(fd: int) -> bool:
    try:
        record = json.loads(_read(fd))
    except ValueError:
        return False  # corrupt: somebody wrote it, so the box was used
    return isinstance(record, dict) and record.get("holder") is None and not record.get("used")


def _read(fd: int) -> bytes:
    return os.pread(fd, 1 << 16, 0)


def _write(fd: int, doc: dict) -> None:
    # In place, not renamed: the flock belongs to this inode. A crash mid-write leaves a corrupt record,
    # which the next claimant recovers. No fsync: after a power loss the boot id differs anyway.
    data = json.dumps(doc).encode()
    os.pwrite(fd, data, 0)
    os.ftruncate(fd, len(data))


def _held_by(fd: int) -> str:
    try:
        holder = parse_record(_read(fd)).get("holder")
    except ValueError:
        return ""
    if not holder:
        return ""
    return f" (held by pid {holder['pid']} on {holder['host']} since {holder['acquired_at']:.3f}, run {holder.get('run_id')})"


def _refuse_stale(fd: int, box: int) -> None:
    """defect.ignore_stale_lock: a record naming a dead holder is taken for a live one (never recovered)."""
    try:
        holder = parse_record(_read(fd)).get("holder")
    except ValueError:
        return
    if holder and why_stale(holder):
        raise BoxBusy(f"box {box} busy{_held_by(fd)}")


def _recover_stale(state_dir: str, box: int, fd: int) -> str:
    """We hold the flock: any holder in the record is gone. Audit what we found; return it."""
    data = _read(fd)
    try:
        holder = parse_record(data).get("holder")
    except ValueError as e:
        moved = set_aside(state_dir, box, "lock", data)
        detail = f"corrupt lock record ({e}): {data[:80]!r}"
        audit.append(state_dir, "corrupt_lock", box, detail, moved)
        return detail
    if holder is None:
        return ""
    reason = why_stale(holder) or f"owner pid {holder['pid']} is alive but no longer holds the flock"
    detail = f"stale lock: {reason}"
    audit.append(state_dir, "stale_lock", box, detail)
    return detail
