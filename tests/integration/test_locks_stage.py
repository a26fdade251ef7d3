"""The locks stage on real CLI targets: a lock-less one must FAIL with the overlapping runs as evidence,
the same sandbox with a per-box flock must pass. Both are tests/data/lockless/dirbox.py, described in YAML
(a sandbox we did not write, driven through the contract)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from reliability.checks import locks
from reliability.execute import RunOptions, execute
from reliability.stages import get

DIRBOX = Path(__file__).resolve().parents[1] / "data" / "lockless" / "dirbox.py"
PID = os.getpid()


def target_doc(root: Path, lock: bool) -> dict:
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
        "owns": {"box_root": str(root), "box_dir": str(root) + "/{box}"},
    }


@pytest.fixture
def work():
    path = Path(tempfile.mkdtemp(prefix=f"locks-stage-{PID}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_locks(work: Path, lock: bool):
    (work / "boxes").mkdir()
    target = work / "target.yml"
    target.write_text(yaml.safe_dump(target_doc(work / "boxes", lock)))
    opts = RunOptions(
        profile="smoke",
        seed=7,
        overrides={"iterations": 6, "concurrency": 3},
        runs_dir=work / "runs",
        reports_dir=work / "reports",
        target=str(target),
        box_base=5,
    )
    return {c.name: c for c in execute(get("locks"), opts).checks}


def test_a_target_without_locks_fails_with_the_overlapping_runs(work):
    checks = run_locks(work, lock=False)
    overlap, marker = checks[locks.OVERLAP], checks[locks.MARKER]
    assert overlap.status == "failed", overlap
    assert any("while index" in line for line in overlap.evidence)
    assert marker.status == "failed" and any("conflict: marker-" in line for line in marker.evidence)
    assert checks[locks.STALE].status == "skipped" and checks[locks.STALE].message == "target has no locks"


def test_the_same_target_with_a_lock_per_box_passes(work):
    checks = run_locks(work, lock=True)
    assert checks[locks.OVERLAP].status == "passed", checks[locks.OVERLAP]
    assert checks[locks.MARKER].status == "passed", checks[locks.MARKER]
    assert checks[locks.REFUSALS].status == "passed"
