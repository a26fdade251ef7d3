"""Box locks between real processes: one winner per race, busy at once or after a wait, stale and corrupt
records recovered with an audit record."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator

import pytest
from refbox_fixtures import BOX_A, PID

from reliability import schemas
from reliability.refbox import audit, locks

RACES = 10


@pytest.fixture
def state_dir() -> Iterator[str]:
    d = tempfile.mkdtemp(prefix=f"refbox-locks-{PID}-")
    try:
        yield d
    finally:
        shutil.rmtree(d)


def fork_claimant(state_dir: str, go: int, report: int, hold: int, hold_w: int) -> int:
    """A real second process: waits for `go`, tries the lock once, writes W (won) or B (busy), then holds
    the lock until `hold` reaches EOF (its write end `hold_w` closed here, so only the test holds it)."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(hold_w)
            os.read(go, 1)
            try:
                lock = locks.BoxLock.acquire(state_dir, BOX_A)
                os.write(report, b"W")
                os.read(hold, 1)
                lock.release()
            except locks.BoxBusy:
                os.write(report, b"B")
        except BaseException:  # noqa: B036 - a child must never return into pytest
            code = 1
        os._exit(code)
    return pid


def test_two_processes_race_for_one_box_and_exactly_one_wins_every_time(state_dir):
    for _ in range(RACES):
        go_r, go_w = os.pipe()
        rep_r, rep_w = os.pipe()
        hold_r, hold_w = os.pipe()
        pids = [fork_claimant(state_dir, go_r, rep_w, hold_r, hold_w) for _ in range(2)]
        try:
            os.write(go_w, b"gg")  # both start together
            answers = os.read(rep_r, 1) + os.read(rep_r, 1)
            assert sorted(answers.decode()) == ["B", "W"], answers
        finally:
            os.close(hold_w)  # the winner lets go
            for pid in pids:
                assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
            for fd in (go_r, go_w, rep_r, rep_w, hold_r):
                os.close(fd)
    assert audit.read(state_dir) == []  # clean releases leave nothing to recover


def test_busy_names_the_holder_and_a_waiter_gets_the_box_once_it_is_released(state_dir):
    go_r, go_w = os.pipe()
    rep_r, rep_w = os.pipe()
    hold_r, hold_w = os.pipe()
    holder = fork_claimant(state_dir, go_r, rep_w, hold_r, hold_w)
    try:
        os.write(go_w, b"g")
        assert os.read(rep_r, 1) == b"W"
        with pytest.raises(locks.BoxBusy, match=rf"box {BOX_A} busy \(held by pid {holder} "):
            locks.BoxLock.acquire(state_dir, BOX_A)
        with pytest.raises(locks.BoxBusy):
            locks.BoxLock.acquire(state_dir, BOX_A, wait_s=0.1)  # waits, then gives up
        got: list = []
        waiter = threading.Thread(
            target=lambda: got.append(locks.BoxLock.acquire(state_dir, BOX_A, wait_s=60))
        )
        waiter.start()
        os.close(hold_w)
        hold_w = -1
        waiter.join()
        assert got and got[0].recovered == ""
        got[0].release()
    finally:
        if hold_w >= 0:
            os.close(hold_w)
        os.waitpid(holder, 0)
        for fd in (go_r, go_w, rep_r, rep_w, hold_r):
            os.close(fd)


def test_two_claims_from_one_process_conflict_too(state_dir):
    first = locks.BoxLock.acquire(state_dir, BOX_A)
    try:
        with pytest.raises(locks.BoxBusy):
            locks.BoxLock.acquire(state_dir, BOX_A)
    finally:
        first.release()
    locks.BoxLock.acquire(state_dir, BOX_A).release()


def test_a_sigkilled_holder_leaves_a_stale_lock_that_is_recovered_and_audited(state_dir):
    go_r, go_w = os.pipe()
    rep_r, rep_w = os.pipe()
    hold_r, hold_w = os.pipe()
    holder = fork_claimant(state_dir, go_r, rep_w, hold_r, hold_w)
    try:
        os.write(go_w, b"g")
        assert os.read(rep_r, 1) == b"W"
        assert locks.is_held(state_dir, BOX_A)
        os.kill(holder, signal.SIGKILL)
        os.waitpid(holder, 0)
    finally:
        for fd in (go_r, go_w, rep_r, rep_w, hold_r, hold_w):
            os.close(fd)
    assert not locks.is_held(state_dir, BOX_A)  # the kernel dropped the flock with the holder
    lock = locks.BoxLock.acquire(state_dir, BOX_A)
    try:
        assert lock.recovered == f"stale lock: owner pid {holder} is dead"
        records = audit.read(state_dir)
        assert [(r["event"], r["box"], r["detail"]) for r in records] == [
            ("stale_lock", BOX_A, lock.recovered)
        ]
        assert schemas.errors("audit-record", records[0]) == []
        record = json.loads(open(locks.lock_path(state_dir, BOX_A)).read())
        assert schemas.errors("box-lock", record) == []
        assert record["holder"]["pid"] == os.getpid()
    finally:
        lock.release()


def plant(state_dir: str, data: bytes) -> None:
    locks.BoxLock.acquire(state_dir, BOX_A).release()  # a real lock file, then overwritten
    with open(locks.lock_path(state_dir, BOX_A), "wb") as f:
        f.write(data)


def holder_record(**changes) -> bytes:
    me = {**locks.me("run-x"), "acquired_at": 1.0, **changes}
    return json.dumps({"version": 1, "box": BOX_A, "holder": me}).encode()


@pytest.mark.parametrize(
    "data, event, why",
    [
        (b"", "corrupt_lock", "empty lock record"),
        (b"\x00garbage\xff{", "corrupt_lock", "corrupt lock record"),
        (b'{"version": 1, "box": 3, "hol', "corrupt_lock", "corrupt lock record"),
        (b'{"version": 1, "box": 3, "holder": {"pid": "x"}}', "corrupt_lock", "holder.pid"),
        (None, "stale_lock", "was reused"),
        ("boot", "stale_lock", "ran in another boot"),
    ],
    ids=["empty", "garbage", "truncated", "schema-invalid", "pid-reused", "other-boot"],
)
def test_stale_or_corrupt_records_are_recovered_with_an_audit_record(state_dir, data, event, why):
    if data is None:  # our own live pid, but with another start time: the pid was reused
        data = holder_record(start_time=locks.start_time(os.getpid()) + 1)
    elif data == "boot":
        data = holder_record(boot_id="00000000-0000-0000-0000-000000000000")
    plant(state_dir, data)
    lock = locks.BoxLock.acquire(state_dir, BOX_A)
    try:
        assert why in lock.recovered
        [record] = audit.read(state_dir)
        assert (record["event"], record["box"]) == (event, BOX_A)
        if event == "corrupt_lock":  # the bad bytes are kept as evidence
            with open(record["moved_to"], "rb") as f:
                assert f.read() == data
    finally:
        lock.release()
    again = locks.BoxLock.acquire(state_dir, BOX_A)  # released cleanly: nothing more to recover
    assert again.recovered == ""
    again.release()
