"""The corrupt-lock sub-case's judgement of a two-contender race (checks/lock_subcases.race_problems):
each defect it exists for is named, and a clean race has no problem."""

from __future__ import annotations

from reliability.checks.lock_subcases import race_problems


def ran(who: str, start: float, end: float, stdout: str = "alone\n", verdict: str = "OK") -> dict:
    result = {"verdict": verdict, "stdout": stdout, "message": "", "wall_s": end - start}
    return {"who": who, "ran": True, "started": start, "ran_from": start, "ended": end, "result": result,
            "cleanup": {"ok": True, "error": ""}}  # fmt: skip


def refused(who: str, cause: str) -> dict:
    return {"who": who, "ran": False, "cause": cause, "started": 0.0, "ended": 0.1}


def test_one_at_a_time_or_refused_with_a_cause_is_clean():
    assert race_problems([ran("helper", 0.0, 1.0), ran("stage", 1.2, 2.0)]) == []
    assert race_problems([ran("helper", 0.0, 1.0), refused("stage", "box 5 busy")]) == []


def test_both_running_at_once_is_split_brain():
    (line,) = race_problems([ran("helper", 0.0, 1.0), ran("stage", 0.5, 1.5)])
    assert line.startswith("both ran at once (split brain)")


def test_another_runs_marker_seen_in_the_box_is_named():
    bad = race_problems([ran("helper", 0.0, 1.0), ran("stage", 2.0, 3.0, stdout="conflict: marker-7\n")])
    assert bad == ["stage did not run alone: OK 'conflict: marker-7'"]


def test_a_silent_refusal_and_a_crash_are_named():
    bad = race_problems([refused("helper", ""), {"who": "stage", "crashed": "init raised ValueError()"}])
    assert sorted(bad) == ["helper refused without a cause", "stage crashed: init raised ValueError()"]
