"""The state checks' edges: a skipped recovery probe or retry, no other box run, a pipeline error on the
damaged run. Each is a case the main tests (test_checks_state.py) do not reach."""

from __future__ import annotations

from synthetic_history import HistoryBuilder
from test_checks_state import all_good, checks, with_change

from reliability.checks import state
from reliability.nemesis.corrupt_state import CASES


def test_a_skipped_recovery_probe_fails_recovered_instead_of_raising(tmp_path):
    result = checks(tmp_path, with_change(lambda e: e.update(probe={"skipped": "no python3"})))
    assert result[state.RECOVERED].status == "failed"
    assert any("probe not run: no python3" in line for line in result[state.RECOVERED].evidence)


def test_a_skipped_probe_before_the_damage_fails_recovered(tmp_path):
    result = checks(tmp_path, with_change(lambda e: e.update(prime={"skipped": "no python3"})))[
        state.RECOVERED
    ]
    assert result.status == "failed"
    assert any("before the damage: a normal run: probe not run" in line for line in result.evidence)


def test_a_skipped_retry_is_not_a_quarantine(tmp_path):
    result = checks(tmp_path, with_change(lambda e: e.update(retry={"skipped": "init failed"})))
    assert result[state.QUARANTINED].status == "failed"
    assert any("no second run before recover: init failed" in x for x in result[state.QUARANTINED].evidence)


def test_serving_fails_when_no_other_box_was_run(tmp_path):
    result = checks(tmp_path, with_change(lambda e: e.update(others={})))[state.SERVING]
    assert result.status == "failed"
    assert any("no other box was run" in line for line in result.evidence)


def test_a_pipeline_error_on_the_damaged_run_is_not_detection(tmp_path):
    def broke(e):
        e["damaged_run"]["error"] = "TargetError: supervisor vanished"

    result = checks(tmp_path, with_change(broke))[state.DETECTED]
    assert result.status == "failed"
    assert any("failed the pipeline's execution: TargetError" in line for line in result.evidence)


def test_a_damaged_run_that_never_ran_measured_nothing(tmp_path):
    def never(e):
        e["damaged_run"].update(init_error="", result=None)

    result = checks(tmp_path, with_change(never))[state.DETECTED]
    assert result.status == "failed"
    assert any("never ran: nothing was measured" in line for line in result.evidence)


def test_a_repair_with_a_trace_is_detection(tmp_path):
    def repaired(e):  # ran OK on a fresh file, the bad one set aside and audited
        e["damaged_run"].update(init_error="", result={"verdict": "OK", "message": ""})
        e["file_after"]["untouched"] = False

    result = checks(tmp_path, with_change(repaired))[state.DETECTED]
    assert result.status == "passed"
    assert any("repaired with a trace, then ran OK" in line for line in result.evidence)


def test_every_case_skipped_skips_every_check_with_the_reasons(tmp_path):
    events = [
        {"case": e["case"], "index": e["index"], "box": 7, "skipped": "cannot damage"} for e in all_good()
    ]
    result = checks(tmp_path, events)
    assert all(result[n].status == "skipped" and result[n].message == "cannot damage" for n in state.NAMES)


def test_a_run_cut_short_names_how_many_cases_ran(tmp_path):
    b = HistoryBuilder(tmp_path, stage="state", cases=CASES)
    for e in all_good()[:2]:
        b.journal.append("evidence", label=state.LABEL, evidence=e)
    b.end()
    history = b.read()
    history.stage_start["config"].update(iterations=2, duration_s=30)  # planned: two of every case
    result = {c.name: c for c in state.check(history)}[state.DETECTED]
    assert f"2 of {2 * len(CASES)} planned cases ran (time cap 30 s)" in result.message
