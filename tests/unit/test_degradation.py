"""The degradation check on synthetic histories (written and read by the real journal)."""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path

import pytest

from reliability.checks import degradation
from reliability.targets.base import Result
from tests.unit.synthetic_history import HistoryBuilder

N = 240  # runs per history: 60 per window


@pytest.fixture
def tmp_path():
    """On tmpfs when there is one: these histories are thousands of fsync'd lines, slow on a busy disk."""
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix=f"degradation-{os.getpid()}-", dir=shm))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _history(tmp_path, overhead_at, profile_seed: int = 1, verdict: str = "OK"):
    """N cpp runs, one a second; run i has overhead_at(i) seconds of overhead (cpu 0.01 s)."""
    b = HistoryBuilder(tmp_path, seed=profile_seed)
    for i in range(N):
        b.submit(i, "cpp/ok_sum", "cpp", verdict)
        started = 1000.0 + i
        overhead = overhead_at(i)
        res = Result(verdict=verdict, cpu_s=0.01, wall_s=0.01 + overhead)
        b.journal.append(
            "result",
            index=i,
            box=1,
            result=res.to_dict(),
            started=started,
            ended=started + 0.01 + overhead,
            stdout_ok=None,
        )
        b.cleanup(i)
    b.end(N)
    return b.read()


def _noisy(rng: random.Random, slowdown_after: int | None = None, factor: float = 1.0):
    def at(i: int) -> float:
        base = 0.050 * rng.lognormvariate(0, 0.15)  # a shared host: +-15% run to run
        return base * factor if slowdown_after is not None and i >= slowdown_after else base

    return at


def _overhead_line(result) -> str:
    return next(e for e in result.evidence if "overhead" in e)


def test_flat_but_noisy_passes(tmp_path):
    result = degradation.check(_history(tmp_path, _noisy(random.Random(3))))[0]
    assert result.status == "passed", result


def test_real_twenty_percent_slowdown_fails(tmp_path):
    result = degradation.check(
        _history(tmp_path, _noisy(random.Random(3), slowdown_after=N // 2, factor=1.2))
    )[0]
    assert result.status == "failed", result
    assert "cpp OK overhead" in result.evidence[0]


def test_single_outlier_passes(tmp_path):
    result = degradation.check(_history(tmp_path, lambda i: 5.0 if i == N - 1 else 0.050))[0]
    assert result.status == "passed", result


def test_small_slowdown_below_threshold_passes_but_fails_at_soak_threshold(tmp_path):
    history = _history(tmp_path, lambda i: 0.050 if i < N // 2 else 0.0525)  # +5%, noiseless: significant
    assert degradation.checker(0.10)(history)[0].status == "passed"
    assert degradation.checker(0.01)(history)[0].status == "failed"


def test_too_few_samples_is_skipped_with_the_reason(tmp_path):
    b = HistoryBuilder(tmp_path)
    for i in range(10):
        b.run(i)
    b.end(10)
    result = degradation.check(b.read())[0]
    assert result.status == "skipped"
    assert "too few runs" in result.message and "need 32" in result.message


def test_tle_runs_are_not_judged(tmp_path):
    result = degradation.check(_history(tmp_path, lambda i: 1.0 + i, verdict="TLE"))[0]
    assert result.status == "skipped"


@pytest.mark.parametrize("seed", [1, 2])
def test_the_verdict_is_the_same_on_every_read(tmp_path, seed):
    history = _history(tmp_path, _noisy(random.Random(seed)))
    assert degradation.check(history) == degradation.check(history)


def _soak(tmp_path, profile: str, ie: int, total: int):
    b = HistoryBuilder(tmp_path)
    b.journal.close()
    import json

    path = b.run_dir / "history.jsonl"
    first = json.loads(path.read_text())
    path.write_text(json.dumps({**first, "profile": profile}) + "\n")
    b.journal = type(b.journal)(path)
    for i in range(total):
        b.submit(i)
        b.result(i, "IE" if i < ie else "OK")
        b.cleanup(i)
    b.end(total)
    return b.read()


def test_soak_ie_rate_fires_on_one_ie_and_passes_at_zero(tmp_path):
    from reliability.checks import soak

    assert soak.check(_soak(tmp_path / "a", "soak", ie=1, total=200))[0].status == "failed"
    assert soak.check(_soak(tmp_path / "b", "soak", ie=0, total=200))[0].status == "passed"
    assert soak.check(_soak(tmp_path / "c", "smoke", ie=1, total=10)) == []  # verdicts.py judges IE there


def _many_groups(tmp_path, slow_group: tuple[str, str] | None):
    """Six language/verdict groups (twelve with both metrics), noisy; `slow_group` 20% slower late."""
    rng = random.Random(5)
    b = HistoryBuilder(tmp_path, seed=1)
    groups = [(lang, verdict) for lang in ("cpp", "java", "python") for verdict in ("OK", "RE")]
    for i in range(N * len(groups)):
        language, verdict = groups[i % len(groups)]
        b.submit(i, f"{language}/x", language, verdict)
        started = 1000.0 + i
        overhead = 0.050 * rng.lognormvariate(0, 0.15)
        if (language, verdict) == slow_group and i >= N * len(groups) // 2:
            overhead *= 1.2
        res = Result(verdict=verdict, cpu_s=0.01, wall_s=0.01 + overhead)
        b.journal.append(
            "result", index=i, box=1, result=res.to_dict(), started=started,
            ended=started + 0.01 + overhead, stdout_ok=None,
        )  # fmt: skip
        b.cleanup(i)
    b.end(N * len(groups))
    return b.read()


def test_the_interval_widens_with_the_number_of_groups_compared():
    rng = random.Random(7)
    early = [rng.lognormvariate(0, 0.15) for _ in range(40)]
    late = [1.1 * rng.lognormvariate(0, 0.15) for _ in range(40)]
    _, low_one, high_one = degradation.ratio_ci(early, late, alpha=0.05)
    _, low_twelve, high_twelve = degradation.ratio_ci(early, late, alpha=0.05 / 12)
    assert low_twelve < low_one and high_twelve > high_one


def test_a_real_slowdown_still_fails_among_many_groups(tmp_path):
    result = degradation.check(_many_groups(tmp_path, slow_group=("java", "RE")))[0]
    assert result.status == "failed", result
    assert result.evidence[0].startswith("java RE"), result.evidence[0]
    assert "99.6% CI" in result.evidence[0]  # 1 - 5%/12: the level says how many groups were compared


def test_many_flat_noisy_groups_pass(tmp_path):
    assert degradation.check(_many_groups(tmp_path, slow_group=None))[0].status == "passed"
