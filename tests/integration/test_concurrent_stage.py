"""The concurrent stage for real (smoke: 100 workers), then its checks shown to fire on planted defects.

The planted defects are added to a copy of the real run's history with the real journal, so each check
is shown to pass on the run and to fail on exactly the defect it exists for.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reliability.checks import concurrency, other_work
from reliability.history import Journal, read
from reliability.runner import Runner
from reliability.targets.base import Limits
from reliability.targets.builtin import BuiltinTarget
from reliability.targets.delegate import Delegating
from reliability.watchdog import Watchdog
from reliability.workload.prepare import prepare_programs
from reliability.workload.submission import Submission

PID = os.getpid()
REPO = Path(__file__).resolve().parents[2]  # `-m reliability` must resolve whatever the cwd
BOX_BASE = 100 + (PID % 3) * 120  # 100 boxes; others' fixtures use 600+
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (tmpfs mounts, cgroups)")


def _by_name(results) -> dict:
    return {r.name: r for r in results}


@pytest.fixture(scope="module")
def run_dir() -> Iterator[Path]:
    work = Path(tempfile.mkdtemp(prefix=f"conc-{PID}-"))
    cmd = [sys.executable, "-m", "reliability", "run", "concurrent", "--profile", "smoke", "--seed", "5"]
    cmd += ["--runs", str(work / "runs"), "--reports", str(work / "reports"), "--box-base", str(BOX_BASE)]
    cmd += ["--target-option", f"box_root={work}/boxes", "--target-option", f"cgroup_name=conc-{PID}"]
    try:
        subprocess.run(cwd=REPO, args=cmd, capture_output=True, text=True, timeout=300)
        (found,) = (work / "runs").iterdir()
        yield found
    finally:
        BuiltinTarget(box_root=f"{work}/boxes", cgroup_name=f"conc-{PID}").recover()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def planted(run_dir, tmp_path) -> Journal:
    """A journal appending to a copy of the real run's history."""
    shutil.copy(run_dir / "history.jsonl", tmp_path / "history.jsonl")
    journal = Journal(tmp_path / "history.jsonl")
    yield journal
    journal.close()


def test_the_run_is_complete_exclusive_bounded_and_sampled(run_dir):
    history = read(run_dir)
    checks = _by_name(concurrency.check(history))
    assert len(history.results) == 200 and len(history.of_type("sample")) >= 2
    # Each sample carries the host's busy CPU and the run's own, which only grow: the degradation
    # check sets other work between its windows against a slowdown.
    cpu = [s["cpu"] for s in history.of_type("sample")]
    assert all(
        a["host_busy_s"] <= b["host_busy_s"] and a["run_s"] <= b["run_s"] for a, b in zip(cpu, cpu[1:])
    )
    assert cpu[-1]["run_s"] > cpu[0]["run_s"] and cpu[0]["cpus"] == os.cpu_count()
    assert {s.language for s in history.submissions.values()} == {"cpp", "python"}
    for name in (concurrency.DEADLOCK, concurrency.EXCLUSIVE, concurrency.QUEUE):
        assert checks[name].status == "passed", checks[name]
    # On a shared 2-core host the smoke target (600/min) may or may not be reached; either way the rate is
    # measured, and the verdict is the one the history's own timestamps and CPU figures give: below the
    # target it fails, unless other work took the host (then skipped, saying how much).
    target = history.stage_start["config"]["min_rate_per_min"]
    results = history.results.values()
    span = max(r["ended"] for r in results) - min(r["started"] for r in results)
    rate = 60.0 * len(results) / span
    assert target == 600 and checks[concurrency.RATE].message.startswith(f"{rate:.0f} executions a minute")
    busy = other_work.whole_run(history) > other_work.OTHER_WORK_MAX
    expected = "passed" if rate >= target else ("skipped" if busy else "failed")
    assert checks[concurrency.RATE].status == expected, checks[concurrency.RATE]
    assert "napped\n" in {r["result"]["stdout"] for r in history.results.values()}


def test_exclusivity_fires_on_two_executions_in_one_box(run_dir, planted):
    first = read(run_dir).results[0]
    sub = read(run_dir).submissions[0]
    planted.append("submission", submission={**sub.to_dict(), "index": 9999})
    planted.append(
        "result", index=9999, box=first["box"], result=first["result"],
        started=first["started"] + 0.001, ended=first["ended"], stdout_ok=None,
    )  # fmt: skip
    planted.close()
    result = _by_name(concurrency.check(read(planted.path)))[concurrency.EXCLUSIVE]
    assert result.status == "failed" and f"box {first['box']}" in result.evidence[0]


def test_deadlock_fires_on_a_watchdog_event(planted):
    planted.append(
        "watchdog", stalled_s=31.0, done=3, in_flight=2, stacks={"worker-box-1 (1)": ["  File x, line 1"]}
    )
    planted.close()
    result = _by_name(concurrency.check(read(planted.path)))[concurrency.DEADLOCK]
    assert result.status == "failed" and "31.0 s" in result.evidence[0]


@pytest.mark.parametrize("name,key,step", [(concurrency.FDS, "fds", 5), (concurrency.RSS, "rss_kb", 20_000)])
def test_growth_fires_on_a_leaking_pipeline(planted, name, key, step):
    base = {"queue_depth": 0, "queue_capacity": 200, "in_flight": 1, "done": 0, "fds": 10, "rss_kb": 40_000}
    for i in range(40):  # a pipeline that keeps one more fd (or 20 MB) every sample
        planted.append("sample", **{**base, key: base[key] + i * step})
    planted.close()
    history = read(planted.path)
    history.events[:] = [
        e for e in history.events if e["type"] != "sample" or e["seq"] >= len(history.events) - 40
    ]
    assert _by_name(concurrency.check(history))[name].status == "failed"


def test_queue_check_fires_on_an_unbounded_queue(planted):
    planted.append("sample", queue_depth=500, queue_capacity=0, in_flight=1, done=0, fds=1, rss_kb=1)
    planted.close()
    assert _by_name(concurrency.check(read(planted.path)))[concurrency.QUEUE].status == "failed"


def test_the_watchdog_dumps_the_stacks_of_a_stalled_run(tmp_path):
    """A real stall: one worker in a 3 s sleep, a 0.5 s watchdog; the history gets every thread's stack."""
    target = BuiltinTarget(box_root=str(tmp_path / "boxes"), cgroup_name=f"wd-{PID}")
    box = BOX_BASE + 110
    journal = Journal(tmp_path / "history.jsonl")
    prepared = prepare_programs(["python/tle_sleep"])
    runner = Runner(target, journal, [box], prepared)
    sub = Submission(0, "python/tle_sleep", "python", "TLE", "timeout", Limits(1.0, 2.0, 96, 32, 64))
    try:
        with Watchdog(runner, journal, stall_s=0.5) as dog:
            runner.run(iter([sub]), keep_going=lambda n: n < 1)
        assert dog.fired
        (event,) = [e for e in _events(journal) if e["type"] == "watchdog"]
        assert any(name.startswith(f"worker-box-{box}") for name in event["stacks"])
    finally:
        journal.close()
        target.recover()
        target.close()  # its parent cgroups


class _SlowCommands(Delegating):
    """A sandbox whose every command takes `delay_s` (a CLI sandbox starting an interpreter)."""

    def __init__(self, inner, delay_s: float):
        super().__init__(inner)
        self.delay_s = delay_s

    def init(self, box):
        time.sleep(self.delay_s)
        super().init(box)

    def run(self, box, command, limits, files):
        time.sleep(self.delay_s)
        return super().run(box, command, limits, files)

    def cleanup(self, box):
        time.sleep(self.delay_s)
        return super().cleanup(box)


def test_the_watchdog_counts_returning_commands_as_progress(tmp_path):
    """A slow sandbox is not a stuck one: its execution takes longer than the stall time (three
    1.5 s commands against a 4 s watchdog), but its commands keep returning, so it does not fire."""
    inner = BuiltinTarget(box_root=str(tmp_path / "boxes"), cgroup_name=f"wd-slow-{PID}")
    box = BOX_BASE + 111
    journal = Journal(tmp_path / "history.jsonl")
    runner = Runner(_SlowCommands(inner, 1.5), journal, [box], prepare_programs(["python/ok_sum"]))
    sub = Submission(0, "python/ok_sum", "python", "OK", "normal", Limits(2.0, 4.0, 96, 32, 64))
    try:
        with Watchdog(runner, journal, stall_s=4.0) as dog:
            runner.run(iter([sub]), keep_going=lambda n: n < 1)
        assert not dog.fired
        assert runner.stats.done == 1 and runner.stats.commands == 3
    finally:
        journal.close()
        inner.recover()
        inner.close()  # its parent cgroups


def _events(journal: Journal) -> list[dict]:
    import json

    return [json.loads(line) for line in journal.path.read_text().splitlines()]
