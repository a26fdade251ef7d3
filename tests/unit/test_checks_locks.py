"""The lock checks on synthetic histories: overlapping windows, the in-box marker, refusals with and
without a cause, and the stale/corrupt sub-cases, each failing on its defect and passing without it."""

from __future__ import annotations

import pytest
from synthetic_history import HistoryBuilder

from reliability.checks import locks
from reliability.checks.overlap import overlapping


def run(b, index, started, ended, verdict="OK", stdout="alone\n", wall_s=None, message="", box=1):
    wall = ended - started if wall_s is None else wall_s
    result = {"verdict": verdict, "wall_s": wall, "stdout": stdout, "message": message}
    b.journal.append(
        "result", index=index, box=box, result=result, started=started, ended=ended, stdout_ok=None
    )


def checks(tmp_path, runs, evidence=(), capabilities=("locks",)) -> dict:
    b = HistoryBuilder(tmp_path, stage="locks")
    for args in runs:
        run(b, *args[:3], **(args[3] if len(args) > 3 else {}))
    for label, ev in evidence:
        b.journal.append("evidence", label=label, evidence=ev)
    b.end()
    history = b.read()
    history.stage_start["capabilities"] = list(capabilities)
    return {c.name: c for c in locks.check(history)}


ONE_AT_A_TIME = [(0, 0.0, 1.0), (1, 1.0, 2.0), (2, 2.0, 3.0)]
RECOVERED = {"recover": [], "recover_error": "", "new": {}, "gone": {}, "state_files": []}


def ok_result(stdout: str = "alone\n") -> dict:
    return {"verdict": "OK", "stdout": stdout, "message": "", "wall_s": 0.3}


def stale_facts() -> dict:
    """What nemesis/lock_cases.stale_lock records when the box is taken again at once, alone."""
    return {
        "box": 5, "bound_s": 10.0, "timeline": ["SIGKILLed the holder's processes [41]"], "took": True,
        "taken_after_s": 0.2, "last_refusal": "",
        "new_run": {"result": ok_result(), "cleanup": {"ok": True, "error": ""}},
        "holder_program_alive": [], "audit": [{"event": "stale_lock", "box": 5}], "recovery": dict(RECOVERED),
        "holder_left": [],
    }  # fmt: skip


def contender(who: str, start: float, end: float) -> dict:
    return {"who": who, "ran": True, "started": start, "ran_from": start, "ended": end,
            "result": {**ok_result(), "wall_s": end - start}, "cleanup": {"ok": True, "error": ""}}  # fmt: skip


def corrupt_facts() -> dict:
    """What nemesis/lock_cases.corrupt records when every corrupt lock file is handled."""
    after = {"file": "/s/5/lock", "locked": False, "exists": True, "bytes": 40, "preview": "{}",
             "unchanged": False, "record": {"version": 1, "holder": None}}  # fmt: skip
    kinds = [
        {
            "kind": k,
            "race": [contender("helper", 0.0, 1.0), contender("stage", 1.2, 2.0)],
            "lock_file_after": after,
        }
        for k in ("garbage", "truncated", "empty")
    ]
    return {"box": 5, "file": "/s/5/lock", "before_race": {"verdict": "OK", "stdout": "alone\n"},
            "kinds": kinds, "audit": [], "recovery": dict(RECOVERED)}  # fmt: skip


SUBCASES_OK = [("lock holder killed", stale_facts()), ("lock file corrupted", corrupt_facts())]


def test_runs_one_at_a_time_pass_every_check(tmp_path):
    result = checks(tmp_path, ONE_AT_A_TIME, SUBCASES_OK)
    assert [c.status for n, c in result.items() if n != locks.RUN_LOCK] == ["passed"] * 5
    assert result[locks.RUN_LOCK].status == "skipped"  # no run-level case in this history
    assert result[locks.STALE].message.startswith("box 5 taken again 0.20 s after its holder was SIGKILLed")
    assert "new run: verdict OK, stdout 'alone'; cleanup ok" in result[locks.STALE].evidence
    assert 'audit: {"box": 5, "event": "stale_lock"}' in result[locks.STALE].evidence
    assert any(line.startswith("garbage: helper ran: OK 'alone'") for line in result[locks.CORRUPT].evidence)


def changed(facts: dict, change) -> list:
    change(facts)
    return facts


@pytest.mark.parametrize(
    "change,text",
    [
        (lambda f: f.update(took=False, taken_after_s=10.4, last_refusal="init refused: busy (held by pid 41)"),
         "box 5 still refused 10.4 s after its holder was SIGKILLed (bound 10 s): init refused: busy"),
        (lambda f: f.update(taken_after_s=12.0), "box 5 taken again only after 12.0 s (bound 10 s)"),
        (lambda f: f.update(bound_s=0.1), "taken again only after 0.2 s (bound 0.1 s)"),
        (lambda f: f.update(holder_program_alive=[42]), "the dead holder's program [42] was still alive"),
        (lambda f: f["new_run"]["result"].update(stdout="conflict: marker-9\n"), "found marker files of the dead"),
        (lambda f: f["new_run"]["result"].update(verdict="IE", stdout=""), "did not run alone: verdict IE"),
        (lambda f: f["new_run"]["cleanup"].update(ok=False, error="EBUSY"), "cleanup of the new run failed: EBUSY"),
        (lambda f: f.update(holder_left=[43]), "processes of the dead holder still alive after recovery"),
        (lambda f: f["recovery"].update(recover_error="EIO"), "recover failed: EIO"),
        (lambda f: f["recovery"].update(new={"mounts": ["tmpfs on /b/5"]}), "not back to baseline"),
        (lambda f: f.clear() or f.update(box=5, bound_s=10.0, timeline=[], holder_error="the holder could not "
         "take box 5: no report", audit=[], recovery=dict(RECOVERED), holder_left=[]), "could not take box 5"),
    ],
)  # fmt: skip
def test_the_stale_lock_judge_fails_each_defect_from_the_facts(tmp_path, change, text):
    facts = changed(stale_facts(), change)
    result = checks(tmp_path, ONE_AT_A_TIME, [("lock holder killed", facts)])[locks.STALE]
    assert result.status == "failed" and text in result.message, result


@pytest.mark.parametrize(
    "change,text",
    [
        (lambda f: f["kinds"][0].update(race=[contender("helper", 0.0, 1.0), contender("stage", 0.5, 1.5)]),
         "garbage: both ran at once (split brain)"),
        (lambda f: f["kinds"][1]["lock_file_after"].update(locked=True), "truncated: /s/5/lock is still locked"),
        (lambda f: f["kinds"][2].update(lock_file_after={"file": "/s/5/lock", "locked": False, "exists": True,
         "bytes": 3, "preview": "{{{", "unchanged": True, "record_error": "not a lock record"}),
         "empty: /s/5/lock still holds a corrupt record (not a lock record)"),
        (lambda f: f["kinds"][0]["lock_file_after"].update(record={"holder": {"pid": 41}}),
         "names holder pid 41 but nobody holds it"),
        (lambda f: f["kinds"][0].update(race=[{"who": "helper", "ran": False, "cause": "busy"},
         {"who": "stage", "ran": False, "cause": "busy"}], probe={"verdict": "IE"}),
         "garbage: box 5 unusable after both were refused"),
        (lambda f: f["recovery"].update(state_files=["/s/5/lock: not valid"]), "state files invalid"),
    ],
)  # fmt: skip
def test_the_corrupt_lock_judge_fails_each_defect_from_the_facts(tmp_path, change, text):
    facts = changed(corrupt_facts(), change)
    result = checks(tmp_path, ONE_AT_A_TIME, [("lock file corrupted", facts)])[locks.CORRUPT]
    assert result.status == "failed" and text in result.message, result


def test_damage_gone_before_the_race_is_not_judged_and_none_in_place_is_a_skip(tmp_path):
    facts = corrupt_facts()
    facts["kinds"][1].update(in_place=False)  # the target rewrote it at once: its state after says nothing
    facts["kinds"][1]["lock_file_after"] = {**facts["kinds"][1]["lock_file_after"], "locked": True}
    result = checks(tmp_path, ONE_AT_A_TIME, [("lock file corrupted", facts)])[locks.CORRUPT]
    assert result.status == "passed", result
    assert any(e.startswith("truncated: ") and "no longer in the file" in e for e in result.evidence)
    facts["kinds"][0].update(in_place=True)  # still in place: its state is judged
    facts["kinds"][0]["lock_file_after"] = {**facts["kinds"][0]["lock_file_after"], "locked": True}
    result = checks(tmp_path, ONE_AT_A_TIME, [("lock file corrupted", facts)])[locks.CORRUPT]
    assert result.status == "failed" and "garbage: /s/5/lock is still locked" in result.message
    facts = corrupt_facts()
    for kind in facts["kinds"]:
        kind["in_place"] = False
    facts["skipped"] = "no damage was still in /s/5/lock when its race began: the case did not take effect"
    result = checks(tmp_path, ONE_AT_A_TIME, [("lock file corrupted", facts)])[locks.CORRUPT]
    assert result.status == "skipped" and result.message == facts["skipped"]
    facts["kinds"][0].update(race=[contender("helper", 0.0, 1.0), contender("stage", 0.5, 1.5)])
    result = checks(tmp_path, ONE_AT_A_TIME, [("lock file corrupted", facts)])[locks.CORRUPT]
    assert result.status == "failed" and "both ran at once" in result.message  # a race is judged anyway


def test_a_lock_file_of_the_targets_own_format_is_judged_free_by_its_lock_state_alone(tmp_path):
    facts = corrupt_facts()
    for kind in facts["kinds"]:  # no LockRecords capability: no record read
        kind["lock_file_after"] = {"file": "/s/5/lock", "locked": False, "exists": True, "bytes": 9,
                                   "preview": "x", "unchanged": True}  # fmt: skip
    result = checks(tmp_path, ONE_AT_A_TIME, [("lock file corrupted", facts)])[locks.CORRUPT]
    assert result.status == "passed"
    assert any(
        "unchanged since it was corrupted; its format is the target's own" in e for e in result.evidence
    )


def test_a_subcase_that_failed_in_the_pipeline_fails_with_its_traceback(tmp_path):
    facts = {"error": "the sub-case itself failed: KeyError('x')", "traceback": ["File lock_cases.py"]}
    result = checks(tmp_path, ONE_AT_A_TIME, [("lock holder killed", facts)])[locks.STALE]
    assert (result.status, result.message, result.evidence) == ("failed", facts["error"], facts["traceback"])


def test_overlapping_runs_fail_naming_both(tmp_path):
    result = checks(tmp_path, [(0, 0.0, 2.0), (1, 1.0, 3.0)])[locks.OVERLAP]
    assert result.status == "failed"
    assert result.evidence == ["box 1: index 1 ran from 1.000 while index 0 ran until 2.000"]


def test_a_wait_for_the_lock_inside_run_is_not_an_overlap(tmp_path):
    # index 1 was called at 0.5 but waited for the lock: its program ran for its last 1 s only
    result = checks(tmp_path, [(0, 0.0, 1.0), (1, 0.5, 2.0, {"wall_s": 1.0})])[locks.OVERLAP]
    assert result.status == "passed"
    assert locks.window({"started": 0.5, "ended": 2.0, "result": {"wall_s": 1.0}}) == (1.0, 2.0)
    assert locks.window({"started": 1.5, "ended": 2.0, "result": {"wall_s": 1.0}}) == (1.5, 2.0)


def test_runs_in_different_boxes_may_overlap(tmp_path):
    result = checks(tmp_path, [(0, 0.0, 2.0, {"box": 1}), (1, 1.0, 3.0, {"box": 2}), (2, 3.0, 4.0)])
    assert result[locks.OVERLAP].status == "passed"


def test_no_box_used_twice_is_skipped_not_passed(tmp_path):
    result = checks(tmp_path, [(0, 0.0, 1.0, {"box": 1}), (1, 0.0, 1.0, {"box": 2})])[locks.OVERLAP]
    assert result.status == "skipped" and "no contention" in result.message


def test_nothing_ran_fails_both_witnesses(tmp_path):
    result = checks(tmp_path, [(0, 0.0, 1.0, {"verdict": "IE", "message": "locked"})])
    assert result[locks.OVERLAP].status == "failed" and "(1 refused)" in result[locks.OVERLAP].message
    assert result[locks.MARKER].status == "failed"


@pytest.mark.parametrize("change", [{"stdout": "seen index 4\n"}, {"verdict": "RE"}])
def test_the_marker_fails_when_a_run_saw_another_or_failed(tmp_path, change):
    result = checks(tmp_path, ONE_AT_A_TIME[:2] + [(2, 2.0, 3.0, change)])[locks.MARKER]
    assert result.status == "failed" and result.evidence[0].startswith("box 1 index 2: verdict ")


def test_a_refusal_needs_a_cause(tmp_path):
    refused = (3, 3.0, 3.1, {"verdict": "IE", "message": ""})
    result = checks(tmp_path, ONE_AT_A_TIME + [refused])[locks.REFUSALS]
    assert result.status == "failed" and result.evidence == ["box 1 index 3: IE without a cause"]
    refused[3]["message"] = "box 1 is locked by pid 5"
    result = checks(tmp_path / "b", ONE_AT_A_TIME + [refused])[locks.REFUSALS]
    assert result.status == "passed" and result.evidence == ["box 1 is locked by pid 5"]


def test_subcases_fail_on_their_evidence_skip_when_absent_or_skipped(tmp_path):
    stale = stale_facts()
    stale.update(took=False, taken_after_s=10.3, last_refusal="init refused: busy")
    evidence = [("lock holder killed", stale), ("lock file corrupted", {"skipped": "no lock file declared"})]
    result = checks(tmp_path, ONE_AT_A_TIME, evidence)
    assert result[locks.STALE].status == "failed" and "still refused" in result[locks.STALE].message
    assert result[locks.STALE].evidence[0] == "SIGKILLed the holder's processes [41]"
    assert (result[locks.CORRUPT].status, result[locks.CORRUPT].message) == (
        "skipped",
        "no lock file declared",
    )
    result = checks(tmp_path / "b", ONE_AT_A_TIME)
    assert result[locks.STALE].status == "skipped" and "not run" in result[locks.STALE].message


def test_a_target_without_locks_skips_the_subcases(tmp_path):
    result = checks(tmp_path, ONE_AT_A_TIME, SUBCASES_OK, capabilities=())
    assert [result[n].status for n in locks.SUBCASES.values()] == ["skipped", "skipped"]
    assert result[locks.STALE].message == "target has no locks"


def test_overlapping_compares_with_the_latest_end_not_only_the_neighbour():
    # index 2 starts after index 1 ended, but inside the long index 0
    spans = [(1, 0.0, 10.0, 0), (1, 1.0, 2.0, 1), (1, 3.0, 4.0, 2), (1, 10.0, 11.0, 3)]
    assert overlapping(spans) == [
        "box 1: index 1 ran from 1.000 while index 0 ran until 10.000",
        "box 1: index 2 ran from 3.000 while index 0 ran until 10.000",
    ]


def test_overlapping_takes_the_later_run_as_the_one_to_beat():
    spans = [(1, 0.0, 2.0, 0), (1, 1.0, 5.0, 1), (1, 4.0, 6.0, 2)]
    assert overlapping(spans)[-1] == "box 1: index 2 ran from 4.000 while index 1 ran until 5.000"
    assert overlapping([(1, 0.0, 1.0, 0), (1, 1.0, 2.0, 1)]) == []  # touching is not overlapping
    assert overlapping([]) == []


def test_the_messages_say_what_was_measured(tmp_path):
    result = checks(tmp_path, ONE_AT_A_TIME + [(3, 0.0, 1.0, {"box": 2})], SUBCASES_OK)
    assert result[locks.OVERLAP].message == "4 executions in 2 box(es), none overlapping"
    assert result[locks.MARKER].message == "4 executions, each alone in its box"
    assert result[locks.REFUSALS].message == "0 refused, each with a cause"
    result = checks(tmp_path / "b", [(0, 0.0, 2.0), (1, 1.0, 3.0, {"stdout": "x" * 400})])
    assert result[locks.OVERLAP].message == "1 overlapping executions (split brain)"
    assert result[locks.MARKER].message == "1 of 2 executions saw another run or failed"
    assert result[locks.MARKER].evidence == [f"box 1 index 1: verdict OK, stdout {'x' * 300!r}"]
    result = checks(tmp_path / "c", [(0, 0.0, 1.0, {"verdict": "IE", "message": "locked"})])
    assert result[locks.MARKER].message == "no execution ran: nothing to witness"
    assert result[locks.OVERLAP].message == "no execution ran (1 refused): lock integrity not measured"


def test_a_result_without_wall_time_is_judged_by_its_whole_interval(tmp_path):
    assert locks.window({"started": 1.0, "ended": 3.0, "result": {}}) == (1.0, 3.0)
    b = HistoryBuilder(tmp_path, stage="locks")
    for index, started, ended in ((0, 0.0, 2.0), (1, 1.0, 3.0)):
        b.journal.append(
            "result", index=index, box=1, result={"verdict": "OK", "stdout": "alone"}, started=started,
            ended=ended, stdout_ok=None,
        )  # fmt: skip
    b.end()
    result = {c.name: c for c in locks.check(b.read())}[locks.OVERLAP]
    assert result.status == "failed" and result.evidence == [
        "box 1: index 1 ran from 1.000 while index 0 ran until 2.000"
    ]


def test_a_history_from_before_the_facts_keeps_the_verdict_it_was_recorded_with(tmp_path):
    old = [
        ("lock holder killed", {"ok": False, "summary": "box still locked after 10 s", "lines": ["pid 7"]}),
        ("lock file corrupted", {"ok": True, "summary": "3 damages handled"}),
    ]
    result = checks(tmp_path, ONE_AT_A_TIME, old)
    assert (result[locks.STALE].status, result[locks.STALE].evidence) == ("failed", ["pid 7"])
    assert result[locks.CORRUPT].status == "passed" and "as judged when the run was recorded" in (
        result[locks.CORRUPT].message
    )


def corrupt_result(tmp_path, facts):
    return checks(tmp_path, ONE_AT_A_TIME, [("lock file corrupted", facts)])[locks.CORRUPT]


def test_markers_left_before_the_race_are_not_the_races_fault(tmp_path):
    facts = corrupt_facts()
    facts["before_race"] = {"verdict": "OK", "stdout": "conflict: marker-3\n"}  # left by an earlier run
    seen = contender("stage", 1.2, 2.0)
    seen["result"] = {**seen["result"], "stdout": "conflict: marker-3\n"}
    facts["kinds"][0]["race"] = [contender("helper", 0.0, 1.0), seen]
    result = corrupt_result(tmp_path, facts)
    assert result.status == "passed", result
    assert "before the race, with the box free: leftover markers in box 5: ['marker-3']" in result.evidence
    facts["before_race"] = {"refused": "box 5 busy"}  # nothing was left before: the marker is the race's
    result = corrupt_result(tmp_path, facts)
    assert result.status == "failed" and "garbage: stage did not run alone" in result.message
    assert "before the race: box 5 refused (box 5 busy)" in result.evidence


def test_both_refused_is_fine_when_the_box_still_works_and_named_once_when_silent(tmp_path):
    facts = corrupt_facts()
    both = [{"who": "helper", "ran": False, "cause": "busy"}, {"who": "stage", "ran": False, "cause": "busy"}]
    facts["kinds"][0].update(race=both, probe={"verdict": "OK"})
    result = corrupt_result(tmp_path, facts)
    assert result.status == "passed", result
    assert "garbage: neither ran; a probe afterwards got OK" in result.evidence
    facts["kinds"][0]["race"] = [{"who": "helper", "ran": False, "cause": ""}, both[1]]
    result = corrupt_result(tmp_path, facts)
    assert result.message == "garbage: helper refused without a cause"  # the probe was fine: not unusable


def test_the_new_run_is_described_with_its_message_and_cleanup(tmp_path):
    facts = stale_facts()
    facts["new_run"]["result"].update(message="took 2 tries")
    facts["new_run"]["cleanup"] = {"ok": False, "error": "EBUSY"}
    result = checks(tmp_path, ONE_AT_A_TIME, [("lock holder killed", facts)])[locks.STALE]
    assert (
        "new run: verdict OK, stdout 'alone', message 'took 2 tries'; cleanup failed: EBUSY"
        in result.evidence
    )
    facts = stale_facts()
    facts["new_run"]["result"].update(stdout="alone\nconflict: marker-9 changed\n")
    result = checks(tmp_path, ONE_AT_A_TIME, [("lock holder killed", facts)])[locks.STALE]
    assert "did not run alone" in result.message and "without being cleaned" not in result.message
