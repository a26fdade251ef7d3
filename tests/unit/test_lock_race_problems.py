"""The corrupt-lock sub-case's judgement of a two-contender race (checks/lock_subcases.race_problems):
each defect it exists for is named, and a clean race has no problem."""

from __future__ import annotations

from reliability.checks.lock_subcases import _describe, race_problems


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


def test_an_internal_error_needs_a_cause_and_is_no_run_in_the_box():
    silent, said = (
        ran("helper", 0.0, 1.0, stdout="", verdict="IE"),
        ran("stage", 0.5, 1.5, stdout="", verdict="IE"),
    )
    said["result"]["message"] = "init: box 5 busy"
    # an IE with a cause is a refusal by other means; without one, the only problem; neither overlaps
    assert race_problems([silent, said]) == ["helper got IE without a cause"]
    assert race_problems([said, ran("stage", 0.5, 1.5)]) == []


def test_a_failed_cleanup_is_named_with_its_error():
    c = ran("stage", 1.2, 2.0)
    c["cleanup"] = {"ok": False, "error": "unmount: EBUSY"}
    assert race_problems([ran("helper", 0.0, 1.0), c]) == ["stage's cleanup failed: unmount: EBUSY"]


def test_windows_that_only_touch_are_one_after_the_other():
    assert race_problems([ran("helper", 0.0, 1.0), ran("stage", 1.0, 2.0)]) == []
    assert race_problems([ran("helper", 1.0, 2.0), ran("stage", 0.0, 1.0)]) == []
    (line,) = race_problems([ran("helper", 0.0, 1.0), ran("stage", 0.999, 2.0)])
    assert line == "both ran at once (split brain): windows 0.000-1.000 and 0.999-2.000"


def test_each_contender_is_described_as_it_ended():
    said = ran("helper", 0.0, 1.0, stdout="x" * 100, verdict="IE")
    said["result"]["message"] = "m" * 130
    assert _describe(said) == f"helper ran: IE {'x' * 80!r} {'m' * 120!r}"
    assert _describe(ran("stage", 0.0, 1.0)) == "stage ran: OK 'alone'"
    assert _describe(refused("stage", "c" * 210)) == f"stage refused ({'c' * 200})"
    assert _describe({"who": "helper", "ran": False}) == "helper refused ()"
    assert _describe({"who": "stage", "crashed": "e" * 210}) == f"stage crashed ({'e' * 200})"
