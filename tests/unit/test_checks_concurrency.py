"""The concurrency checks on synthetic histories: the watchdog, box exclusivity, the queue bound, the load
held, the rate and the growth of the pipeline's fds and memory, each at its boundary."""

from __future__ import annotations

import pytest
from synthetic_history import HistoryBuilder

from reliability.checks import concurrency as cc


def build(tmp_path, runs=(), samples=(), watchdog=None, **config):
    """runs: (index, box, started, ended, cleaned_at or None); samples: dicts over a quiet default."""
    b = HistoryBuilder(tmp_path, stage="concurrent")
    for index, box, started, ended, cleaned in runs:
        b.journal.append(
            "result",
            index=index,
            box=box,
            result={"verdict": "OK"},
            started=started,
            ended=ended,
            stdout_ok=True,
        )
        if cleaned is not None:
            b.journal.append("cleanup", index=index, box=box, outcome={"ok": True})
    for s in samples:
        quiet = {"queue_depth": 0, "queue_capacity": 8, "in_flight": 0, "done": 0, "fds": 10, "rss_kb": 1000}
        b.journal.append("sample", **{**quiet, **s})
    if watchdog:
        b.journal.append("watchdog", **watchdog)
    b.end()
    history = b.read()
    history.stage_start["config"].update(config)
    # cleanup records get the journal's clock: put them where the test says
    cleaned_at = {i: c for i, _, _, _, c in runs if c is not None}
    for e in history.cleanups:
        e["t"] = cleaned_at[e["index"]]
    return {c.name: c for c in cc.check(history)}


def test_a_quiet_history_skips_what_it_cannot_measure(tmp_path):
    result = build(tmp_path)
    assert {n: r.status for n, r in result.items()} == {
        cc.DEADLOCK: "skipped",
        cc.EXCLUSIVE: "skipped",
        cc.QUEUE: "skipped",
        cc.IN_FLIGHT: "skipped",
        cc.RATE: "skipped",
        cc.FDS: "skipped",
        cc.RSS: "skipped",
    }


def test_the_watchdog_firing_is_a_deadlock_with_the_stacks(tmp_path):
    stacks = {"worker-1": ["  File a.py, line 1\n    x()", "  File b.py, line 2\n    lock.acquire()"]}
    fired = {"stalled_s": 30.0, "done": 12, "in_flight": 4, "stacks": stacks}
    result = build(tmp_path, watchdog=fired, watchdog_s=30)[cc.DEADLOCK]
    assert result.status == "failed" and "after 12 executions" in result.message
    assert result.evidence == [
        "no sandbox command returned for 30.0 s with 4 in flight",
        "worker-1: File b.py, line 2 <- File a.py, line 1",
    ]
    assert build(tmp_path / "b", watchdog_s=30)[cc.DEADLOCK].status == "passed"


def test_a_box_busy_until_its_cleanup_is_recorded(tmp_path):
    # index 1 starts after index 0's result but before its cleanup was recorded: the box was still busy
    runs = [(0, 1, 0.0, 1.0, 1.5), (1, 1, 1.2, 2.0, 2.5), (2, 2, 0.0, 3.0, None)]
    result = build(tmp_path, runs)[cc.EXCLUSIVE]
    assert result.status == "failed"
    assert result.evidence == ["box 1: index 1 ran from 1.200 while index 0 ran until 1.500"]
    runs[1] = (1, 1, 1.5, 2.0, 2.5)
    result = build(tmp_path / "b", runs)[cc.EXCLUSIVE]
    assert result.status == "passed" and result.message == "3 executions in 2 boxes, none overlapping"


@pytest.mark.parametrize(
    "depth,capacity,status",
    [(8, 8, "passed"), (9, 8, "failed"), (0, 0, "failed")],
)
def test_the_queue_is_bounded_by_its_capacity(tmp_path, depth, capacity, status):
    samples = [
        {"queue_depth": 1, "queue_capacity": capacity},
        {"queue_depth": depth, "queue_capacity": capacity},
    ]
    assert build(tmp_path, samples=samples)[cc.QUEUE].status == status


@pytest.mark.parametrize(
    "most,concurrency,status",
    [(4, 4, "passed"), (3, 4, "failed"), (100, 110, "passed"), (99, 110, "failed")],
)
def test_concurrency_held_up_to_the_plans_hundred(tmp_path, most, concurrency, status):
    samples = [{"in_flight": 1}, {"in_flight": most}]
    assert build(tmp_path, samples=samples, concurrency=concurrency)[cc.IN_FLIGHT].status == status


def test_in_flight_wants_one_when_the_config_names_no_concurrency(tmp_path):
    result = build(tmp_path, samples=[{"in_flight": 1}])[cc.IN_FLIGHT]
    assert result.status == "passed" and result.message == "up to 1 executions in flight (wanted 1)"
    assert build(tmp_path / "b", samples=[{"in_flight": 0}])[cc.IN_FLIGHT].status == "failed"


@pytest.mark.parametrize("target,status", [(120, "passed"), (121, "failed")])
def test_the_rate_is_results_per_minute_over_their_span(tmp_path, target, status):
    runs = [(i, i, 0.5 * i, 0.5 * i + 0.5, None) for i in range(120)]  # 120 results in 60 s
    result = build(tmp_path, runs, min_rate_per_min=target)[cc.RATE]
    assert result.status == status and result.message.startswith("120 executions a minute")


def test_the_rate_needs_two_results_and_a_target(tmp_path):
    assert "at least two" in build(tmp_path, [(0, 1, 0.0, 1.0, None)], min_rate_per_min=1)[cc.RATE].message
    assert "no target rate" in build(tmp_path / "b", [(0, 1, 0.0, 1.0, None)] * 2)[cc.RATE].message


def test_all_results_in_one_instant_are_an_unbounded_rate(tmp_path):
    runs = [(0, 1, 5.0, 5.0, None), (1, 2, 5.0, 5.0, None)]
    assert build(tmp_path, runs, min_rate_per_min=1000)[cc.RATE].status == "passed"


def series(key, values):
    return [{key: v} for v in values]


@pytest.mark.parametrize(
    "key,name,late,status",
    [
        ("fds", cc.FDS, 10 + cc.FD_GROWTH, "passed"),
        ("fds", cc.FDS, 11 + cc.FD_GROWTH, "failed"),
        ("rss_kb", cc.RSS, 1000 + cc.RSS_GROWTH_KB, "passed"),
        ("rss_kb", cc.RSS, 1001 + cc.RSS_GROWTH_KB, "failed"),
    ],
)
def test_growth_is_the_last_quarters_median_over_the_first_quarters_max(tmp_path, key, name, late, status):
    early = 10 if key == "fds" else 1000
    # 8 samples: quarter = 2; the first quarter's max is `early`, the last two are `late`
    values = [early - 1, early, early + 500000, early, early, early, late, late]
    result = build(tmp_path, samples=series(key, values))[name]
    assert result.status == status, result


def test_growth_ignores_a_single_late_spike_and_needs_eight_samples(tmp_path):
    values = [10] * 11 + [10 + 10 * cc.FD_GROWTH]  # the last quarter: 10, 10 and the spike
    assert build(tmp_path, samples=series("fds", values))[cc.FDS].status == "passed"
    result = build(tmp_path / "b", samples=series("fds", [10] * 7))[cc.FDS]
    assert result.status == "skipped" and result.message == "7 samples, need 8 to see a trend"
