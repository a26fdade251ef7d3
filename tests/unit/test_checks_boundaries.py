"""Boundaries that passed every unit test when moved by one: the queue's capacity, a survivor's CPU and
wall limits with their slack, and which earlier run an overlap is reported against."""

from __future__ import annotations

from reliability.checks import concurrency
from reliability.checks.overlap import overlapping
from reliability.checks.survivors import SLACK_CPU_S, over_limits


def sample(depth: int, capacity: int) -> dict:
    return {"queue_depth": depth, "queue_capacity": capacity}


def test_the_queue_check_at_each_capacity_boundary():
    none = concurrency._queue([])
    assert (none.status, none.message) == (
        "skipped",
        "no samples in the history: queue depth was not measured",
    )
    unbounded = concurrency._queue([sample(0, 0)])
    assert (unbounded.status, unbounded.message) == ("failed", "the queue is unbounded (capacity 0)")
    full = concurrency._queue([sample(0, 1), sample(1, 1)])
    assert (full.status, full.message) == ("passed", "at most 1 queued of 1 (2 samples)")
    over = concurrency._queue([sample(3, 2)])
    assert (over.status, over.message) == ("failed", "queue depth 3 above its capacity 2")


LIMITS = {"cpu_s": 0.5, "wall_s": 1.0}


def proc(cpu_s: float, cpu_at_kill: float = 0.0, **extra) -> dict:
    return {
        "pid": 7,
        "name": "p",
        "uid": 1,
        "cgroup": "",
        "cpu_s": cpu_s,
        "cpu_at_kill": cpu_at_kill,
        **extra,
    }


def test_cpu_up_to_the_limit_plus_slack_is_within_it():
    at_slack = LIMITS["cpu_s"] + SLACK_CPU_S
    assert over_limits({"limits": LIMITS, "processes": [proc(at_slack)]}) == []
    assert over_limits({"limits": LIMITS, "processes": [proc(LIMITS["cpu_s"] + 0.1)]}) == []
    assert len(over_limits({"limits": LIMITS, "processes": [proc(at_slack + 0.25)]})) == 1


def test_cpu_burnt_before_the_kill_plus_slack_is_not_held_against_a_survivor():
    assert over_limits({"limits": LIMITS, "processes": [proc(1.0, cpu_at_kill=1.0 - SLACK_CPU_S)]}) == []


def test_a_survivor_without_an_age_did_not_outlive_its_wall_limit():
    short = {"cpu_s": 10.0, "wall_s": 0.25}
    assert over_limits({"limits": short, "processes": [proc(0.0)]}) == []
    assert over_limits({"limits": short}) == []


def test_an_overlap_is_reported_against_the_first_run_to_end_that_late():
    spans = [(1, 0.0, 2.0, 1), (1, 1.0, 2.0, 2), (1, 1.5, 3.0, 3)]
    assert overlapping(spans) == [
        "box 1: index 2 ran from 1.000 while index 1 ran until 2.000",
        "box 1: index 3 ran from 1.500 while index 1 ran until 2.000",
    ]
