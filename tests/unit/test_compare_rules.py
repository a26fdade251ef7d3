"""Each rule of `reliability compare` on synthetic histories (written and read by the real journal), at
its boundary: exactly 10% slower, not significant, too few runs, an equal rate, a new failure."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from reliability.checks import faults
from reliability.checks.base import failed, passed, skipped
from reliability.compare import latency, rules
from reliability.compare.latency import Group
from reliability.report.analysis import Analysis
from reliability.targets.base import Result
from tests.unit.synthetic_history import HistoryBuilder


def timed(path: Path, overheads: list[float], seed: int = 7, spacing_s: float = 0.0):
    """One C++ OK run per overhead (seconds, CPU 0.01 s); with spacing_s, run i ends i*spacing_s after the
    stage started (throughput), else the runs are a second apart from t=1000."""
    b = HistoryBuilder(path, seed=seed)
    t0 = time.time() if spacing_s else 1000.0
    for i, overhead in enumerate(overheads):
        b.submit(i, "cpp/ok_sum", "cpp", "OK")
        ended = t0 + (i + 1) * spacing_s if spacing_s else t0 + i + 0.01 + overhead
        res = Result(verdict="OK", cpu_s=0.01, wall_s=0.01 + overhead)
        started = ended - 0.01 - overhead
        b.journal.append(
            "result", index=i, box=1, result=res.to_dict(), started=started, ended=ended, stdout_ok=None
        )
        b.cleanup(i)
    b.end(len(overheads))
    return b.read()


def noisy(n: int, median_s: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [median_s * rng.lognormvariate(0, 0.15) for _ in range(n)]  # a shared host: +-15% run to run


def analysis(history, checks=()) -> Analysis:
    return Analysis(stage="stress", history=history, checks=list(checks))


# --- slowdown: overhead and cycle time, the degradation check's statistics ---


def judge(*found: Group, all_groups: int = 0):
    return latency.slowdown("stress", list(found), [], seed=1, all_groups=all_groups or len(found))


@pytest.mark.parametrize("after,status", [(1.10, "passed"), (1.11, "failed")])
def test_exactly_ten_percent_slower_passes_and_more_fails(after: float, status: str) -> None:
    finding = judge(Group("cpp", "OK", "overhead", [1.0] * 8, [after] * 8))
    assert finding.result.status == status, finding.result
    assert finding.data["groups"][0]["ratio"] == pytest.approx(after)


def test_a_large_but_not_significant_slowdown_passes() -> None:
    before = [0.01, 0.2] * 5  # median 0.105, and the runs scatter twentyfold
    finding = judge(Group("cpp", "OK", "overhead", before, [v * 1.3 for v in before]))
    row = finding.data["groups"][0]
    assert row["ratio"] == pytest.approx(1.3) and row["ci"][0] <= 1 and not row["slower"]
    assert finding.result.status == "passed"


def test_the_interval_is_corrected_for_every_group_compared() -> None:
    group = Group("cpp", "OK", "overhead", [1.0] * 8, [1.0] * 8)
    assert judge(group, all_groups=10).data["groups"][0]["level"] == pytest.approx(0.995)
    assert judge(group, all_groups=1).data["groups"][0]["level"] == pytest.approx(0.95)


def test_a_real_slowdown_over_noise_fails_naming_the_group_and_percentiles(tmp_path: Path) -> None:
    base = timed(tmp_path / "a", noisy(40, 0.050, 1))
    cand = timed(tmp_path / "b", noisy(40, 0.060, 2))  # +20%
    found, not_compared = latency.groups(base, cand)
    assert [g.label for g in found] == ["cpp OK cycle", "cpp OK overhead"] and not not_compared
    finding = latency.slowdown("stress", found, not_compared, base.seed, len(found))
    assert finding.result.status == "failed", finding.result
    assert "significantly: cpp OK overhead: median 5" in finding.result.message  # the numbers, in one line
    slow = finding.result.evidence[0]
    assert slow.startswith("cpp OK overhead: median 5") and " ms; p99 " in slow and "40 vs 40 runs" in slow


def test_the_same_noise_on_both_sides_passes(tmp_path: Path) -> None:
    base = timed(tmp_path / "a", noisy(40, 0.050, 1))
    cand = timed(tmp_path / "b", noisy(40, 0.050, 2))
    finding = latency.slowdown("stress", *latency.groups(base, cand), seed=base.seed, all_groups=2)
    assert finding.result.status == "passed", finding.result


@pytest.mark.parametrize("runs,compared", [(8, True), (7, False)])
def test_a_group_is_compared_from_eight_runs_on_each_side(tmp_path: Path, runs: int, compared: bool) -> None:
    base = timed(tmp_path / "a", [0.05] * 8)
    cand = timed(tmp_path / "b", [0.05] * runs)
    found, not_compared = latency.groups(base, cand)
    assert bool(found) == compared
    finding = latency.slowdown("stress", found, not_compared, base.seed, len(found))
    assert finding.result.status == ("passed" if compared else "skipped"), finding.result
    if not compared:
        assert "cpp OK overhead: 8 baseline and 7 candidate runs, need 8 each" in finding.result.message


def test_a_baseline_median_below_a_millisecond_is_not_compared(tmp_path: Path) -> None:
    base = timed(tmp_path / "a", [0.0009] * 8)  # a ratio against almost nothing says nothing
    found, not_compared = latency.groups(base, timed(tmp_path / "b", [0.5] * 8))
    assert [g.label for g in found] == ["cpp OK cycle"]
    assert not_compared == ["cpp OK overhead: baseline median below 1 ms, too small to compare"]


# --- throughput at the same concurrency ---


def test_throughput_halved_fails_and_equal_passes(tmp_path: Path) -> None:
    base = timed(tmp_path / "a", [0.05] * 60, spacing_s=0.25)  # 240/min
    same = timed(tmp_path / "b", [0.05] * 60, spacing_s=0.25)
    half = timed(tmp_path / "c", [0.05] * 60, spacing_s=0.5)
    assert latency.throughput("stress", base, same).result.status == "passed"
    slower = latency.throughput("stress", base, half)
    assert slower.result.status == "failed" and slower.data["slower"], slower.result
    assert "at concurrency" in slower.result.evidence[0]


def test_throughput_at_another_concurrency_is_not_compared(tmp_path: Path) -> None:
    base = timed(tmp_path / "a", [0.05] * 60, spacing_s=0.25)
    cand = timed(tmp_path / "b", [0.05] * 60, spacing_s=0.5)
    cand.stage_start["config"]["concurrency"] = 4
    base.stage_start["config"]["concurrency"] = 2
    finding = latency.throughput("stress", base, cand)
    assert finding.result.status == "skipped"
    assert "not at the same concurrency: 2 in the baseline, 4 in the candidate" in finding.result.message


# --- a new failing check ---


def test_a_check_failing_only_in_the_candidate_fails_with_its_evidence(tmp_path: Path) -> None:
    history = timed(tmp_path, [0.05])
    base = analysis(history, [passed("no leaked mounts"), failed("all verdicts correct", "1 of 9 wrong")])
    cand = analysis(
        history,
        [
            failed("no leaked mounts", "1 leaked mounts", ["/run/refbox/3"]),
            failed("all verdicts correct", "2 of 9"),
        ],
    )
    finding = rules.new_failures("stress", base, cand)
    assert finding.result.status == "failed"
    # named with its own message; not the one that failed before too
    assert finding.result.message.endswith(": no leaked mounts (1 leaked mounts)")
    assert "no leaked mounts: /run/refbox/3" in finding.result.evidence
    assert "still failing, as in the baseline: all verdicts correct" in finding.result.evidence


@pytest.mark.parametrize("before", ["skipped", None])
def test_a_check_skipped_or_absent_in_the_baseline_is_new_when_it_fails(tmp_path: Path, before) -> None:
    history = timed(tmp_path, [0.05])
    base = analysis(history, [skipped("no zombies", "no snapshots")] if before else [])
    finding = rules.new_failures("stress", base, analysis(history, [failed("no zombies", "1 zombie")]))
    assert finding.result.status == "failed"


def test_the_same_failures_as_the_baseline_are_not_new(tmp_path: Path) -> None:
    history = timed(tmp_path, [0.05])
    checks = [failed("no quarantines", "1 box quarantine(s)"), passed("no zombies")]
    finding = rules.new_failures("stress", analysis(history, checks), analysis(history, checks))
    assert finding.result.status == "passed"


# --- wrong verdicts and IE ---


def judged(path: Path, runs: list[tuple[str, str, str]], ie_injected: tuple[int, ...] = ()):
    """(language, expected, got) per run; the faults stage's evidence for the injected IEs."""
    b = HistoryBuilder(path)
    for i, (language, expected, got) in enumerate(runs):
        b.submit(i, f"{language}/x", language, expected)
        b.result(i, got, stdout_ok=None)
        b.cleanup(i)
    for i in ie_injected:
        b.journal.append("evidence", label=faults.LABEL, evidence={"index": i, "step": "reap", "box": 1})
    b.end(len(runs))
    return analysis(b.read())


OK = ("cpp", "OK", "OK")


def test_one_more_wrong_verdict_fails_and_the_same_rate_passes(tmp_path: Path) -> None:
    base = judged(tmp_path / "a", [OK, ("cpp", "OK", "RE"), OK, OK])  # 1 of 4
    same_rate = judged(tmp_path / "b", [OK, ("cpp", "OK", "RE")] + [OK] * 2)
    more = judged(tmp_path / "c", [("cpp", "OK", "RE"), ("cpp", "OK", "RE"), OK, OK])
    assert rules.wrong_verdicts("stress", base, same_rate).result.status == "passed"
    finding = rules.wrong_verdicts("stress", base, more)
    assert finding.result.status == "failed"
    assert "wrong 1/4 (25.00%) -> 2/4 (50.00%)" in finding.result.message
    assert finding.data["candidate"]["mix"] == {"OK": 2, "RE": 2}


def test_a_wrong_verdict_moved_to_another_group_fails(tmp_path: Path) -> None:
    base = judged(tmp_path / "a", [("cpp", "OK", "RE"), OK, ("python", "OK", "OK"), ("python", "OK", "OK")])
    cand = judged(tmp_path / "b", [OK, OK, ("python", "OK", "TLE"), ("python", "OK", "OK")])
    finding = rules.wrong_verdicts("stress", base, cand)
    assert finding.result.status == "failed"  # the same rate over the stage, but new in python
    assert finding.result.message.startswith("wrong verdicts rose: python expected OK: wrong 0/2")
    assert finding.result.evidence[0].startswith("python expected OK: wrong 0/2 (0.00%) -> 1/2 (50.00%)")


def test_a_higher_ie_rate_fails_and_an_injected_ie_is_left_out(tmp_path: Path) -> None:
    base = judged(tmp_path / "a", [OK, OK, OK, ("cpp", "OK", "IE")])
    same = judged(tmp_path / "b", [("cpp", "OK", "IE"), OK, OK, OK])
    more = judged(tmp_path / "c", [("cpp", "OK", "IE"), OK, OK, ("cpp", "OK", "IE")])
    injected = judged(tmp_path / "d", [("cpp", "OK", "IE"), OK, OK, ("cpp", "OK", "IE")], ie_injected=(0,))
    assert rules.ie_rate("stress", base, same).result.status == "passed"
    finding = rules.ie_rate("stress", base, more)
    assert finding.result.status == "failed" and "IE 1/4 (25.00%) -> 2/4 (50.00%)" in finding.result.message
    assert finding.result.evidence == ["index 0 box 1: no message", "index 3 box 1: no message"]
    assert rules.ie_rate("stress", base, injected).result.status == "passed"


# --- leaks, cleanup failures, quarantines ---


def cleaned(path: Path, failing: int = 0, quarantines: int = 0):
    b = HistoryBuilder(path)
    for i in range(3):
        b.run(i, "cpp/ok_sum", "cpp", "OK", failing_step="unmount" if i < failing else None)
    for _ in range(quarantines):
        b.journal.append("quarantine", box=1, reason="unmount failed")
    b.end(3)
    return analysis(b.read())


def test_more_cleanup_failures_or_quarantines_fail_with_the_items(tmp_path: Path) -> None:
    base = cleaned(tmp_path / "a", failing=1, quarantines=1)
    assert rules.more_leftovers("stress", base, cleaned(tmp_path / "b", 1, 1)).result.status == "passed"
    finding = rules.more_leftovers("stress", base, cleaned(tmp_path / "c", failing=2, quarantines=1))
    assert finding.result.status == "failed" and "cleanup failures: 1 -> 2" in finding.result.message
    assert "cleanup failures: box 1 index 1: step unmount failed: EBUSY" in finding.result.evidence
    more = rules.more_leftovers("stress", base, cleaned(tmp_path / "d", failing=1, quarantines=2))
    assert more.result.status == "failed" and "quarantines: 1 -> 2" in more.result.message


def test_leaks_without_snapshots_are_named_not_measured(tmp_path: Path) -> None:
    finding = rules.more_leftovers("stress", cleaned(tmp_path / "a"), cleaned(tmp_path / "b"))
    assert finding.result.status == "passed"
    assert "leaked mounts: not measured (baseline has no snapshots)" in finding.result.evidence
    assert finding.data["candidate"]["leaked mounts"] is None
