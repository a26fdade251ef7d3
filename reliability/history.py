"""The history: an append-only journal of JSON lines, one per event; the single source of truth of a run.

Every line is flushed and fsync'd before append() returns (append_unsynced(): by the next append), so a
crash of the pipeline loses at most the line being written. Reading tolerates exactly that (a last line cut mid-write is dropped and reported)
and nothing else: any other damage is an error, because checks over a damaged history would lie.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections import Counter
from pathlib import Path

from reliability import schemas
from reliability.errors import UsageError
from reliability.workload.submission import Submission

HISTORY_FILE = "history.jsonl"
SCHEMA = "history-record"
RESERVED = ("seq", "t", "type")


class HistoryError(UsageError):
    """The history cannot be read: missing, empty, corrupt, or not a run's history."""

    def __init__(self, message: str):
        super().__init__(_one_line(message))


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def history_path(path: str | os.PathLike) -> Path:
    """The history file of `path`: the file itself, or history.jsonl inside a run directory."""
    p = Path(path)
    return p / HISTORY_FILE if p.is_dir() else p


class Journal:
    """Writer of a history file; safe to share between worker threads.

    Opening an existing history resumes it: a last line cut by a crash is cut off, and seq continues.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._synced_cond = threading.Condition()  # one fsync at a time (group commit, see _sync_through)
        self._syncing = False
        existed = self.path.exists()
        self._next_seq = _prepare_for_append(self.path) if existed else 0
        self._synced = self._next_seq  # records below this seq are durable
        self.resumed = self._next_seq > 0
        self._file = open(self.path, "ab")  # held open for the whole run
        if not existed:
            _fsync_dir(self.path.parent)  # the new file's name must survive a crash too

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def append(self, event_type: str, /, **fields) -> dict:
        """Write one event (seq and t added) and make it durable; return the record written."""
        record, fd, written = self._write(event_type, fields)
        self._sync_through(fd, written)
        return record

    def append_unsynced(self, event_type: str, /, **fields) -> dict:
        """Write one event without waiting for the disk: the next append()'s fsync covers it (same file,
        in order), so it is never lost while a later record survives. For records whose loss in a host
        crash costs nothing, e.g. a submission about to run (a resume reruns whatever has no result)."""
        return self._write(event_type, fields)[0]

    def _write(self, event_type: str, fields: dict) -> tuple[dict, int, int]:
        clash = [k for k in RESERVED if k in fields]
        if clash:
            raise ValueError(f"history fields {clash} are set by the journal, not the caller")
        with self._lock:
            if self._file is None:
                raise ValueError(f"journal {self.path} is closed")
            record = {"seq": self._next_seq, "t": time.time(), "type": event_type, **fields}
            problems = _problems(record)
            if problems:  # a bug in the caller: refuse it now rather than write an unreadable history
                raise ValueError(f"invalid {event_type!r} event: {problems}")
            self._file.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
            self._file.flush()  # in the OS from here; durable once _sync_through returns
            self._next_seq += 1
            return record, self._file.fileno(), self._next_seq

    def _sync_through(self, fd: int, count: int) -> None:
        """Return once records 0..count-1 are durable (group commit).

        The fsync runs outside the write lock: with 100+ workers, one fsync under the lock per event made
        every worker queue behind the disk (half of their time, measured). Here one thread at a time
        fsyncs, which covers every line flushed before it; the others wait on the condition (not behind
        the fsync's lock) and most find their line already durable when it ends.
        """
        with self._synced_cond:
            while self._synced < count and self._file is not None:  # close() syncs what it closes
                if self._syncing:
                    self._synced_cond.wait()
                    continue
                self._syncing = True
                upto = self._next_seq  # every record below it was flushed before this read
                self._synced_cond.release()
                try:
                    os.fsync(fd)
                finally:
                    self._synced_cond.acquire()
                    self._syncing = False
                    self._synced_cond.notify_all()
                self._synced = max(self._synced, upto)

    def close(self) -> None:
        with self._lock, self._synced_cond:
            if self._file is not None:
                if self._synced < self._next_seq:
                    os.fsync(self._file.fileno())
                self._file.close()
                self._file = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prepare_for_append(path: Path) -> int:
    """Make an existing history ready to extend; return the next seq."""
    events, _, good_bytes = _parse(path)
    with open(path, "r+b") as f:
        f.truncate(good_bytes)  # drop a line cut mid-write, so the next line starts clean
        if good_bytes and _last_byte(f, good_bytes) != b"\n":
            f.write(b"\n")  # a complete last record that only lost its newline
        f.flush()
        os.fsync(f.fileno())
    return len(events)


def _last_byte(f, size: int) -> bytes:
    f.seek(size - 1)
    byte = f.read(1)
    f.seek(0, os.SEEK_END)
    return byte


def _problems(record) -> str:
    """'' when the record is valid, else its first schema error."""
    found = schemas.problems(SCHEMA, record)
    return found[0] if found else ""


def _parse(path: Path) -> tuple[list[dict], bool, int]:
    """(events, truncated, bytes of complete lines). Only a last line without newline may be cut."""
    events: list[dict] = []
    truncated = False
    good_bytes = 0
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise HistoryError(f"no history at {path}") from None
    except OSError as exc:
        raise HistoryError(f"cannot read history {path}: {exc.strerror or exc}") from None
    with f:
        for lineno, line in enumerate(f, start=1):
            complete = line.endswith(b"\n")
            try:
                record = json.loads(line)
            except ValueError as exc:
                if not complete:  # cut mid-write by a crash: the one damage a journal can suffer
                    truncated = True
                    break
                raise HistoryError(f"history {path} line {lineno} is corrupt (not JSON: {exc})") from None
            problems = _problems(record)
            if problems:
                raise HistoryError(f"history {path} line {lineno} is not a valid event: {problems}")
            if record["seq"] != len(events):
                raise HistoryError(
                    f"history {path} line {lineno} has seq {record['seq']}, expected {len(events)}"
                    " (events lost, or two writers)"
                )
            events.append(record)
            good_bytes += len(line)
    return events, truncated, good_bytes


class History:
    """A run's events as read back, with the lookups the checks and reports need."""

    def __init__(self, path: Path, events: list[dict], truncated: bool = False):
        self.path = path
        self.events = events
        self.truncated = truncated  # the last line was cut mid-write and dropped
        self.run_dir = path.parent

    def of_type(self, event_type: str) -> list[dict]:
        return [e for e in self.events if e["type"] == event_type]

    @property
    def stage_start(self) -> dict:
        return self.events[0]  # read() guarantees it

    @property
    def stage(self) -> str:
        return self.stage_start["stage"]

    @property
    def seed(self) -> int:
        return self.stage_start["seed"]

    @property
    def cases(self) -> tuple[str, ...] | None:
        """The stage's case list as the run had it (stage_start), so a check counts against that list
        and not against today's code; None for a history recorded before stage_start carried it."""
        cases = self.stage_start.get("cases")
        return None if cases is None else tuple(cases)

    @functools.cached_property
    def stage_end(self) -> dict | None:
        """The last stage_end (a resumed run may have ended more than once), or None if it never ended."""
        ends = self.of_type("stage_end")
        return ends[-1] if ends else None

    @functools.cached_property
    def submissions(self) -> dict[int, Submission]:
        """The submissions that were run, by index (skipped ones are in `skips` instead)."""
        out: dict[int, Submission] = {}
        for e in self.of_type("submission"):
            index = e["submission"]["index"]
            if index not in out:
                out[index] = Submission.from_dict(e["submission"])
        return out

    @functools.cached_property
    def results(self) -> dict[int, dict]:
        """The first result event of each index (count_by_index("result") finds doubles)."""
        return _first_by_index(self.of_type("result"))

    @functools.cached_property
    def skips(self) -> dict[int, dict]:
        return _first_by_index(self.of_type("skip"))

    @functools.cached_property
    def cleanups(self) -> list[dict]:
        return self.of_type("cleanup")

    @functools.cached_property
    def snapshots(self) -> dict[str, dict]:
        """Snapshot dicts by label; the first of a label wins, so a resumed run keeps its true baseline."""
        out: dict[str, dict] = {}
        for e in self.of_type("snapshot"):
            out.setdefault(e["label"], e["snapshot"])
        return out

    def count_by_index(self, event_type: str) -> Counter:
        return Counter(e["index"] for e in self.of_type(event_type))


def _first_by_index(events: list[dict]) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for e in events:
        out.setdefault(e["index"], e)
    return out


def read(path: str | os.PathLike) -> History:
    """Read a history file, or the history.jsonl of a run directory; HistoryError if it cannot be trusted."""
    file = history_path(path)
    if Path(path).is_dir() and not file.exists():
        raise HistoryError(f"no {HISTORY_FILE} in {path}")
    events, truncated, _ = _parse(file)
    if not events:
        cut = " (its only line was cut mid-write)" if truncated else ""
        raise HistoryError(f"history {file} is empty{cut}")
    if events[0]["type"] != "stage_start":
        raise HistoryError(
            f"history {file} does not begin with stage_start (line 1 is {events[0]['type']!r})"
        )
    return History(file, events, truncated)
