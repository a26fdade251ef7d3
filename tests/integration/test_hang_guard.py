"""When the pipeline itself kills a hung sandbox command (the hang guard of a described target), that is
an event in the history naming what it killed, never silent; and a stage that must observe first (the
crash stage) can hold the hang guard until it has."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from reliability.history import Journal, read
from reliability.runner import Prepared, Runner
from reliability.targets.base import Limits
from reliability.targets.command import call
from reliability.workload.submission import Submission
from tests.dir_target import dir_target

BOX = 900 + os.getpid() % 50
LIMITS = Limits(cpu_s=0.5, wall_s=0.5, mem_mb=64, processes=8, output_kb=64)


def hanging_target(tmp_path: Path):
    """A sandbox whose run command hangs (a shell that waits on a child sleeping far past the limit)."""
    return dir_target(
        tmp_path, "hangs", ["sh", "-c", "sleep 30; true", "hangs", "{command}"], ["rm", "-rf", "{box_dir}"]
    )


def test_a_hung_command_killed_by_the_pipeline_is_journaled_with_what_it_killed(tmp_path):
    target = hanging_target(tmp_path)
    journal = Journal(tmp_path / "history.jsonl")
    journal.append(
        "stage_start", stage="stress", profile="smoke", seed=1, target="hangs", target_version="test",
        host="test", pipeline_version="test", pipeline_pid=os.getpid(), owned=target.owned().to_dict(),
        capabilities=[], config={},
    )  # fmt: skip
    prepared = {"p": Prepared(["true"], {})}
    runner = Runner(target, journal, [BOX], prepared)
    runner.run(iter([Submission(0, "p", "sh", "TLE", "normal", LIMITS)]), keep_going=lambda n: True)
    journal.close()
    kills = read(journal.path).of_type("pipeline_kill")
    assert len(kills) == 1, kills
    assert kills[0]["command"] == "run" and "hang guard" in kills[0]["why"]
    assert {p["name"] for p in kills[0]["killed"]} >= {"sh", "sleep"}, kills[0]


def test_a_held_hang_guard_waits_for_the_observer_before_it_kills(tmp_path):
    target = hanging_target(tmp_path)
    target.init(BOX)
    observed = threading.Event()
    released_at: list[float] = []

    def observer() -> None:
        time.sleep(1.5)  # well past the 0.5 s limit: the guard must not have killed by now
        alive = target.supervisor_pid(BOX) is not None
        released_at.append(alive)
        observed.set()

    watcher = threading.Thread(target=observer)
    with target.hold_kills(BOX, observed):
        watcher.start()
        result = target.run(BOX, ["true"], LIMITS, {})
    watcher.join()
    target.cleanup(BOX)
    assert released_at == [True]  # the command was still running when the observer looked
    assert result.verdict == "TLE"
    assert target.pipeline_kills(BOX)[0]["killed"], "the kill after the hold names its victims"


def test_a_command_starved_of_cpu_is_given_the_time_it_waited_a_hung_one_is_not():
    """The hang guard's clock leaves out the command's wait for a CPU: a command needing 0.3 s of
    CPU, pinned to one CPU with three spinners (a saturated host: its wall time ~4x its CPU time),
    finishes under a 0.4 s guard; a command asleep on a child (hung) is killed at its timeout."""
    work = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
    spinners = [
        subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", "while True: pass"]) for _ in range(3)
    ]
    try:
        started = time.monotonic()
        busy = call(["taskset", "-c", "0", sys.executable, "-c", work], timeout=0.4)
        took = time.monotonic() - started
    finally:
        for s in spinners:
            s.kill()
            s.wait()
    assert not busy.timed_out and busy.exit_code == 0, busy
    assert took > 0.4 and busy.starved_s > 0  # past the guard's own timeout: saved by its wait
    started = time.monotonic()
    hung = call(["sh", "-c", "sleep 30; true"], timeout=0.4)
    assert hung.timed_out and hung.starved_s < 0.1 and time.monotonic() - started < 5
