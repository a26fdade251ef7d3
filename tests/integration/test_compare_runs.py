"""`reliability compare` over real refbox runs: a supervisor slowed by a failpoint delay fails the
comparison, clean runs pass it, and runs of another profile are refused.

Each pair runs side by side (tests/compare_runs.py), so that a change in the shared machine's load
between two runs is not read as a slowdown of the sandbox.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compare_runs import run_side_by_side
from tests.described_box import reliability

pytestmark = pytest.mark.root
DELAY = "phase.setup=delay:150"  # on a run of about 50-100 ms of overhead: at least twice as slow
CLEAN_PAIRS = 3
BOXES = 500  # a band of box numbers of its own: 10 per run, up to 7 runs


@pytest.fixture(scope="module")
def runs() -> Iterator[Path]:
    work = Path(tempfile.mkdtemp(prefix=f"compare-test-{os.getpid()}-"))
    os.chmod(work, 0o755)  # box uids must reach their box under the box roots made inside
    try:
        run_side_by_side(
            (work / "slow-base", BOXES, "smoke", ""),
            (work / "slow", BOXES + 10, "smoke", DELAY),
            (work / "quick", BOXES + 20, "quick", ""),
        )
        for i in range(CLEAN_PAIRS):
            run_side_by_side(
                (work / f"base{i}", BOXES, "smoke", ""), (work / f"cand{i}", BOXES + 10, "smoke", "")
            )
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def compare(runs: Path, baseline: str, candidate: str, *flags: str):
    reports = runs / f"reports-{baseline}-{candidate}"
    done = reliability(
        "compare", str(runs / baseline), str(runs / candidate), "--reports", str(reports), *flags, cwd=runs
    )
    summary = (
        json.loads((reports / "regression.json").read_text())
        if (reports / "regression.json").exists()
        else None
    )
    return done, summary, reports


def case(summary: dict, rule: str) -> dict:
    return next(c for c in summary["cases"] if c["rule"] == rule)


def test_a_supervisor_slowed_by_a_failpoint_fails_the_comparison(runs: Path) -> None:
    done, summary, reports = compare(runs, "slow-base", "slow")
    assert done.returncode == 1, done.stdout + done.stderr
    slowdown = case(summary, "slowdown")
    assert slowdown["status"] == "failed", slowdown
    slower = [g for g in slowdown["data"]["groups"] if g["slower"]]
    assert any(g["metric"] == "overhead" and g["ratio"] > 1.1 and g["ci"][0] > 1 for g in slower), slowdown
    xml = (reports / "regression.xml").read_text()
    assert 'name="regression vs 0.1.0"' in xml and "slower than the baseline by more than 10%" in xml
    assert "cpp OK overhead: median" in slowdown["message"]  # the failure names the group and its numbers
    assert summary["status"] == "failed"
    # Slower, and nothing else worse: the delay changes no verdict and leaves nothing behind.
    statuses = {c["rule"]: c["status"] for c in summary["cases"]}
    assert [statuses[r] for r in ("checks", "verdicts", "ie", "leftovers")] == ["passed"] * 4, statuses


@pytest.mark.parametrize("pair", range(CLEAN_PAIRS))
def test_two_clean_runs_pass(runs: Path, pair: int) -> None:
    done, summary, _ = compare(runs, f"base{pair}", f"cand{pair}")
    assert done.returncode == 0, done.stdout + done.stderr
    slowdown = case(summary, "slowdown")
    assert slowdown["status"] == "passed", slowdown  # measured, not skipped
    assert slowdown["data"]["groups"] and not any(g["slower"] for g in slowdown["data"]["groups"])
    assert summary["status"] == "passed"


def test_runs_of_another_profile_are_refused_unless_allowed(runs: Path) -> None:
    done, summary, reports = compare(runs, "slow-base", "quick")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "profile smoke in the baseline, quick in the candidate" in done.stderr
    assert "--allow-mismatch" in done.stderr
    assert summary is None and not (reports / "regression.xml").exists()  # nothing half-judged is written

    done, summary, _ = compare(runs, "slow-base", "quick", "--allow-mismatch")
    assert done.returncode in (0, 1), done.stderr
    assert (
        "compared although: stress: profile smoke in the baseline, quick in the candidate" in summary["notes"]
    )
