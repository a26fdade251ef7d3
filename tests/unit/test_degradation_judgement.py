"""How the degradation check uses its bootstrap: the history's seed, the Bonferroni level for the number
of groups, and its boundaries (a ratio of exactly 1 + threshold, a lower bound of exactly 1), with the
bootstrap replaced by a stub that returns a chosen interval."""

from __future__ import annotations

import pytest
from synthetic_history import HistoryBuilder

from reliability.checks import degradation
from reliability.targets.base import Result

RUNS = 32  # per language: one group (overhead; no cleanups, so no cycle group), eight runs per window


def flat_history(tmp_path, seed: int = 5, languages: tuple[str, ...] = ("cpp",)):
    """RUNS runs of each language: one group per language."""
    b = HistoryBuilder(tmp_path, seed=seed)
    for i in range(RUNS * len(languages)):
        language = languages[i % len(languages)]
        b.submit(i, f"{language}/ok_sum", language, "OK")
        res = Result(verdict="OK", cpu_s=0.01, wall_s=0.06)
        b.journal.append(
            "result",
            index=i,
            box=1,
            result=res.to_dict(),
            started=1000.0 + i,
            ended=1000.06 + i,
            stdout_ok=None,
        )
    b.end(RUNS * len(languages))
    return b.read()


@pytest.fixture
def bootstrap(monkeypatch):
    calls: list[dict] = []
    interval = {"value": (1.0, 0.9, 1.1)}

    def stub(early, late, seed=0, alpha=degradation.ALPHA):
        calls.append({"seed": seed, "alpha": alpha, "n": (len(early), len(late))})
        return interval["value"]

    monkeypatch.setattr(degradation, "ratio_ci", stub)
    return calls, interval


def test_the_bootstrap_gets_the_historys_seed_and_the_level_for_one_group(tmp_path, bootstrap):
    calls, _ = bootstrap
    degradation.judge(flat_history(tmp_path, seed=5), degradation.THRESHOLD)
    assert calls == [{"seed": 5, "alpha": degradation.ALPHA, "n": (8, 8)}]


def test_with_two_groups_each_is_judged_at_half_the_level(tmp_path, bootstrap):
    calls, _ = bootstrap
    degradation.judge(flat_history(tmp_path, languages=("cpp", "python")), degradation.THRESHOLD)
    assert [c["alpha"] for c in calls] == [degradation.ALPHA / 2] * 2


@pytest.mark.parametrize(
    "interval",
    [(1 + degradation.THRESHOLD, 1.05, 1.2), (1.5, 1.0, 2.0)],
    ids=["ratio-at-threshold", "lower-bound-at-one"],
)
def test_a_slowdown_must_exceed_the_threshold_and_its_interval_lie_above_one(tmp_path, bootstrap, interval):
    bootstrap[1]["value"] = interval
    assert degradation.judge(flat_history(tmp_path), degradation.THRESHOLD).status == "passed"


def test_a_slowdown_past_both_fails(tmp_path, bootstrap):
    bootstrap[1]["value"] = (1.2, 1.05, 1.4)
    assert degradation.judge(flat_history(tmp_path), degradation.THRESHOLD).status == "failed"
