"""The run-level lock check (checks/locks.run_lock) over synthetic evidence of the run contention case."""

from __future__ import annotations

from synthetic_history import HistoryBuilder

from reliability.checks import locks


def run(
    worker: int, n: int, started: float, ended: float, verdict="OK", stdout="alone\n", refusals=0, message=""
):
    return {
        "worker": worker,
        "run": n,
        "started": started,
        "ended": ended,
        "verdict": verdict,
        "message": message,
        "stdout": stdout,
        "wall_s": ended - started,
        "refusals": refusals,
        "refused_because": ["box 3 busy: another run is in progress in it"] if refusals else [],
    }


def judge(tmp_path, evidence: dict):
    b = HistoryBuilder(tmp_path, stage="locks")
    b.journal.append("evidence", label=locks.RUN_CONTENTION, evidence=evidence)
    return locks.run_lock(b.read())


def facts(*runs) -> dict:
    return {"box": 3, "workers": 2, "runs": list(runs), "cleanup": {"ok": True, "steps": [], "error": ""}}


def test_runs_one_at_a_time_pass_and_count_the_retries(tmp_path):
    got = judge(tmp_path, facts(run(0, 0, 1.0, 2.0), run(1, 0, 2.0, 3.0, refusals=4)))
    assert got.status == "passed", got
    assert "2 of 2 runs by 2 workers got into box 3; 4 refusal(s) retried, 0 refused for good" in got.message


def test_two_runs_at_once_in_one_box_fail_with_both_named(tmp_path):
    got = judge(tmp_path, facts(run(0, 0, 1.0, 2.0), run(1, 0, 1.5, 2.5)))
    assert got.status == "failed"
    assert (
        "box 3: index worker 1 run 0 ran from 1.500 while index worker 0 run 0 ran until 2.000"
        in got.evidence
    )


def test_a_marker_that_saw_another_run_fails(tmp_path):
    got = judge(tmp_path, facts(run(0, 0, 1.0, 2.0, stdout="conflict: marker-1\n")))
    assert got.status == "failed" and "conflict: marker-1" in got.evidence[0]


def test_a_refusal_without_a_cause_fails_and_one_with_a_cause_does_not(tmp_path):
    silent = judge(tmp_path, facts(run(0, 0, 1.0, 2.0), run(1, 0, 1.0, 1.1, verdict="IE")))
    assert silent.status == "failed" and "worker 1 run 0: refused without a cause" in silent.evidence
    told = judge(tmp_path, facts(run(0, 0, 1.0, 2.0), run(1, 0, 1.0, 1.1, verdict="IE", message="busy")))
    assert told.status == "passed" and "1 refused for good" in told.message


def test_nothing_got_in_fails_and_a_skipped_case_is_skipped(tmp_path):
    assert judge(tmp_path, facts(run(0, 0, 1.0, 1.1, verdict="IE", message="busy"))).status == "failed"
    assert judge(tmp_path, {"skipped": "init failed"}).status == "skipped"
    assert judge(tmp_path, {"ok": False, "summary": "the sub-case itself failed: boom"}).status == "failed"


def test_no_evidence_is_a_skip_never_a_pass(tmp_path):
    b = HistoryBuilder(tmp_path, stage="locks")
    got = locks.run_lock(b.read())
    assert (got.status, got.message) == (
        "skipped",
        f"not run: no {locks.RUN_CONTENTION!r} evidence in the history",
    )


def test_each_outcome_is_the_run_lock_check_with_its_message_and_evidence(tmp_path):
    skipped = judge(tmp_path / "a", {"skipped": "init failed"})
    assert (skipped.name, skipped.status, skipped.message) == (locks.RUN_LOCK, "skipped", "init failed")
    broken = judge(tmp_path / "b", {"error": "boom", "traceback": ["trace"]})
    assert (broken.name, broken.message, broken.evidence) == (locks.RUN_LOCK, "boom", ["trace"])
    bare = judge(tmp_path / "c", {"ok": False})
    assert (bare.name, bare.message, bare.evidence) == (locks.RUN_LOCK, "the case recorded no runs", [])
    none_in = judge(tmp_path / "d", facts(run(0, 0, 1.0, 1.1, verdict="IE", message="busy")))
    assert (none_in.name, none_in.message) == (
        locks.RUN_LOCK,
        "none of 1 runs got into box 3: run-level locking not measured",
    )


def test_a_pass_and_a_failure_say_what_they_counted_and_list_the_causes(tmp_path):
    ok = judge(
        tmp_path / "a", facts(run(0, 0, 1.0, 2.0, refusals=1), run(1, 0, 1.0, 1.1, verdict="IE", message="x"))
    )
    assert (ok.name, ok.status) == (locks.RUN_LOCK, "passed")
    assert (
        ok.message
        == "one run at a time: 1 of 2 runs by 2 workers got into box 3; 1 refusal(s) retried, 1 refused for good"
    )
    assert ok.evidence == ["box 3 busy: another run is in progress in it", "x"]
    bad = judge(tmp_path / "b", facts(run(0, 0, 1.0, 2.0, refusals=1, stdout="y" * 300)))
    assert (bad.name, bad.status) == (locks.RUN_LOCK, "failed")
    assert (
        bad.message
        == "1 problem(s): 1 of 1 runs by 2 workers got into box 3; 1 refusal(s) retried, 0 refused for good"
    )
    assert bad.evidence == [
        f"worker 0 run 0: verdict OK, stdout {'y' * 200!r}",
        "box 3 busy: another run is in progress in it",
    ]


def test_at_most_ten_causes_are_listed(tmp_path):
    refused = [run(1, n, 1.0, 1.1, verdict="IE", message=f"cause {n:02d}") for n in range(12)]
    got = judge(tmp_path, facts(run(0, 0, 1.0, 2.0), *refused))
    assert got.evidence == [f"cause {n:02d}" for n in range(10)]
