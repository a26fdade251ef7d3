"""The locks stage on real CLI targets: a lock-less one must FAIL with the overlapping runs as evidence,
the same sandbox with a per-box flock must pass. Both are tests/data/lockless/dirbox.py, described in YAML
(a sandbox we did not write, driven through the contract). On the built-in sandbox the two sub-cases (a
SIGKILLed holder, a corrupt lock file) run for real and pass."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml
from stage_runs import smoke_options

from reliability.checks import locks
from reliability.execute import RunOptions, execute
from reliability.nemesis import lock_cases, run_contention
from reliability.stages import get
from reliability.stages import locks as locks_stage
from reliability.targets.builtin import BuiltinTarget
from reliability.targets.delegate import Delegating
from reliability.workload import toolchain

DIRBOX = Path(__file__).resolve().parents[1] / "data" / "lockless" / "dirbox.py"
PID = os.getpid()


def target_doc(
    root: Path, lock: bool, capabilities: list[str] | None = None, lock_file: bool = False
) -> dict:
    script = [sys.executable, str(DIRBOX)]
    return {
        "format": 1,
        "name": "dirbox-locked" if lock else "dirbox-lockless",
        "commands": {
            "init": [*script, "init", "{box_dir}"],
            "run": [
                *script,
                "run",
                "1" if lock else "0",
                "{box_dir}",
                "{wall_s}",
                "{files}",
                "--",
                "{command}",
            ],
            "cleanup": [*script, "cleanup", "{box_dir}"],
        },
        "files": {"option": ["--file", "{src}:{name}"]},
        "result": {
            "format": "json",
            "fields": {f: f for f in ("verdict", "wall_s", "exit_code", "message", "stdout")},
            "statuses": {v: v for v in ("OK", "TLE", "RE")},
        },
        "owns": {
            "box_root": str(root),
            "box_dir": str(root) + "/{box}",
            **({"lock_files": [{"glob": str(root) + "/{box}.lock"}]} if lock_file else {}),
        },
        **({"capabilities": capabilities} if capabilities is not None else {}),
    }


@pytest.fixture
def work():
    path = Path(tempfile.mkdtemp(prefix=f"locks-stage-{PID}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_locks(
    work: Path,
    lock: bool,
    capabilities: list[str] | None = None,
    lock_file: bool = False,
    history: bool = False,
):
    (work / "boxes").mkdir()
    target = work / "target.yml"
    target.write_text(yaml.safe_dump(target_doc(work / "boxes", lock, capabilities, lock_file)))
    opts = smoke_options(work, str(target), {"iterations": 6, "concurrency": 3}, 5, 7)
    analysis = execute(get("locks"), opts)
    checks = {c.name: c for c in analysis.checks}
    return (checks, analysis.history) if history else checks


def evidence(history) -> dict:
    return {e["label"]: e["evidence"] for e in history.of_type("evidence")}


def test_a_target_without_locks_fails_with_the_overlapping_runs(work):
    checks = run_locks(work, lock=False)
    overlap, marker = checks[locks.OVERLAP], checks[locks.MARKER]
    assert overlap.status == "failed", overlap
    assert any("while index" in line for line in overlap.evidence)
    assert marker.status == "failed" and any("conflict: marker-" in line for line in marker.evidence)
    for name in (locks.STALE, locks.CORRUPT):
        assert checks[name].status == "skipped" and checks[name].message == "target has no locks", checks[
            name
        ]


def test_the_same_target_with_a_lock_per_box_passes(work):
    checks = run_locks(work, lock=True)
    assert checks[locks.OVERLAP].status == "passed", checks[locks.OVERLAP]
    assert checks[locks.MARKER].status == "passed", checks[locks.MARKER]
    assert checks[locks.REFUSALS].status == "passed"


def test_a_locked_cli_target_gets_its_lock_file_corrupted_and_says_why_no_holder_can_be_killed(work):
    # dirbox (flock on <box>.lock, declared per box with {box}) ignores what the file holds: garbage,
    # a truncated record and an empty file change nothing, one contender waits for the other. It has no
    # box uid or cgroup (box_pids is empty), so a holder cannot be caught mid-run: skipped, with why.
    checks, history = run_locks(work, lock=True, capabilities=["locks"], lock_file=True, history=True)
    assert checks[locks.OVERLAP].status == "passed", checks[locks.OVERLAP]
    stale, corrupt = checks[locks.STALE], checks[locks.CORRUPT]
    assert stale.status == "skipped" and "shows no process in box" in stale.message, stale
    assert corrupt.status == "passed", corrupt
    for kind in evidence(history)[locks_stage.CORRUPT]["kinds"]:  # the flock made the later one wait
        assert [c["result"]["verdict"] for c in kind["race"]] == ["OK", "OK"], kind
        assert not kind["lock_file_after"]["locked"] and "record" not in kind["lock_file_after"], kind
    for kind in ("garbage", "truncated", "empty"):  # the check's account of it, from those facts alone
        assert any(line.startswith(f"{kind}: ") and line.count(" ran: OK") == 2 for line in corrupt.evidence)
    assert not [p for p in _helpers() if p], "a lock holder helper was left running"


def test_without_a_lock_file_per_box_the_corrupt_case_says_so():
    from reliability.nemesis.corrupt_lock import lock_file_of

    class Lockless:
        name = "lockless"

        def lock_file(self, box):
            return None

    assert lock_file_of(Lockless(), 3) == (None, "target lockless declares no lock file per box")


@pytest.fixture
def builtin_work():
    path = Path(tempfile.mkdtemp(prefix=f"locks-stage-{PID}-"))
    os.chmod(path, 0o755)
    (path / "boxes").mkdir(mode=0o755)
    cgroup = f"refbox-test-{PID}-{path.name[-8:]}"
    try:
        yield path, cgroup
    finally:
        target = BuiltinTarget(box_root=str(path / "boxes"), cgroup_name=cgroup)
        target.recover()
        target.close()
        shutil.rmtree(path, ignore_errors=True)


def test_on_the_builtin_a_killed_holder_and_a_corrupt_lock_file_are_handled(builtin_work):
    work, cgroup = builtin_work
    opts = RunOptions(
        profile="smoke",
        seed=7,
        overrides={"iterations": 6, "concurrency": 3},
        runs_dir=work / "runs",
        reports_dir=work / "reports",
        target_options={"box_root": str(work / "boxes"), "cgroup_name": cgroup, "quota_mb": "16"},
        box_base=700 + (PID % 60) * 3,  # box uids apart from other testers' runs (stage_runs: 200-599)
    )
    analysis = execute(get("locks"), opts)
    checks = {c.name: c for c in analysis.checks}
    for name in (locks.STALE, locks.CORRUPT, locks.OVERLAP, locks.MARKER, locks.REFUSALS):
        assert checks[name].status == "passed", checks[name]
    assert all(c.status != "failed" for c in analysis.checks), [
        c for c in analysis.checks if c.status == "failed"
    ]
    facts = evidence(analysis.history)[locks_stage.STALE]  # raw facts: the check judged them
    assert facts["took"] and facts["taken_after_s"] <= facts["bound_s"] == lock_cases.STALE_BOUND_S
    assert facts["new_run"]["result"]["stdout"].strip() == "alone" and not facts["holder_program_alive"]
    stale, corrupt = checks[locks.STALE].evidence, checks[locks.CORRUPT].evidence
    assert any(line.startswith("SIGKILLed") for line in stale)
    assert any('"stale_lock"' in line for line in stale), stale  # the refbox's audit
    assert any("new run: verdict OK, stdout 'alone'" in line for line in stale)
    for kind in ("garbage", "truncated", "empty"):  # the builtin reads its own records (LockRecords)
        assert any(line.startswith(f"{kind}: ") and "valid free record" in line for line in corrupt)
    assert sum('"corrupt_lock"' in line for line in corrupt) == 3, corrupt
    assert not [p for p in _helpers() if p], "a lock holder helper was left running"


def _helpers() -> list[str]:
    """Command lines of live lock_holder helpers (ours or not: none should be left)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "reliability.nemesis.lock_holder" in cmd and str(PID) in cmd:
            found.append(cmd)
    return found


class RunStarts(Delegating):
    """The builtin target, noting when each run was asked for."""

    def __init__(self, inner):
        super().__init__(inner)
        self.starts: list[float] = []

    def run(self, box, command, limits, files):
        self.starts.append(time.monotonic())
        return self.inner.run(box, command, limits, files)


def test_an_interrupt_during_run_contention_stops_every_contender(builtin_work):
    """Ctrl-C while the contenders run in one box: the interrupt reaches the stage, no contender starts
    another run, and none keeps the process alive (they used to retry for up to a minute each)."""
    work, cgroup = builtin_work
    target = RunStarts(BuiltinTarget(box_root=str(work / "boxes"), cgroup_name=cgroup))
    python = toolchain.detect("python")  # as the stage: an interpreter the box sees (a venv's may not)
    assert python.available, python.missing
    prepared = lock_cases.marker(python.tools["python3"], 1.0)  # 4 workers x 2 runs of 1 s, one at a time
    main = threading.main_thread().ident
    # Python raises KeyboardInterrupt on SIGINT unless it started with SIGINT ignored, as a job put in
    # the background by a shell without job control is: this test must not depend on how it was started.
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.Timer(1.5, signal.pthread_kill, (main, signal.SIGINT)).start()  # the operator's Ctrl-C
    box = 760 + (PID % 60)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_contention.run_contention(target, box, prepared)
        interrupted = time.monotonic()
        for t in threading.enumerate():
            if t.name.startswith("run-contender-"):
                assert t.daemon, t
                t.join(timeout=30)  # a hang guard: the run in the box when the interrupt came ends
                assert not t.is_alive(), t
        assert target.starts and max(target.starts) < interrupted, (
            "a contender started a run after the interrupt"
        )
    finally:
        signal.signal(signal.SIGINT, before)
        target.recover(box)  # as the pipeline's abort does; this target holds the box's claim
        target.close()
