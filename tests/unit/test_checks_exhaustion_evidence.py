"""What the exhaustion checks say, word for word, and the branches the main tests do not reach: a case
with no run, no plain run after the faults, no evidence after state_full, a skipped state_full."""

from __future__ import annotations

from synthetic_history import HistoryBuilder
from test_checks_exhaustion import history

from reliability.checks import exhaustion

MEMORY = exhaustion.CASES["memory"]


def test_the_passing_messages_and_evidence(tmp_path):
    result = history(tmp_path, "IE", "fork: ENOMEM")
    assert (result[MEMORY].message, result[MEMORY].evidence) == (
        "1 runs right or failed with a cause",
        ["IE: fork: ENOMEM"],
    )
    assert result[exhaustion.CASES["cpu"]].evidence == ["OK"]
    assert result[exhaustion.AFTER].message == "1 runs after the faults, all right"
    assert result[exhaustion.RECOVERY].message == (
        "1 time(s): the same box ran OK with no recover, nothing left behind"
    )


def test_the_failing_messages_and_evidence(tmp_path):
    result = history(tmp_path / "a", "TLE", "wall")[MEMORY]
    assert (result.message, result.evidence) == (
        "1 of 1 runs neither right nor a clear error",
        ["index 4 box 1: verdict TLE (wall), stdout ''"],
    )
    result = history(tmp_path / "b", after_verdict="RE")[exhaustion.AFTER]
    assert (result.message, result.evidence) == (
        "1 of 1 runs after the faults wrong",
        ["index 99 python/ok_sum: expected OK, got RE ()"],
    )
    result = history(tmp_path / "c", found=["mount /x"])[exhaustion.RECOVERY]
    assert (result.message, result.evidence) == (
        "1 problem(s) once the space was back",
        ["index 1: recover had to remove ['mount /x']"],
    )
    result = history(tmp_path / "d", unmatched=True)[exhaustion.UNDONE]
    assert result.message == "1 fault kind(s) never ended"


def test_an_ie_without_a_message_field_is_without_a_cause(tmp_path):
    b = HistoryBuilder(tmp_path, stage="exhaustion")
    b.submit(0, "python/ok_sum", "python", "OK", case="memory")
    b.journal.append(
        "result", index=0, box=1, result={"verdict": "IE"}, started=1.0, ended=2.0, stdout_ok=None
    )
    b.submit(1, "python/ok_sum", "python", "OK", case="cpu")
    b.journal.append(
        "result", index=1, box=1, result={"verdict": "TLE"}, started=1.0, ended=2.0, stdout_ok=None
    )
    b.submit(2, "python/ok_sum", "python", "OK")
    b.journal.append(
        "result", index=2, box=1, result={"verdict": "RE"}, started=1.0, ended=2.0, stdout_ok=None
    )
    b.end()
    result = {c.name: c for c in exhaustion.check(b.read())}
    assert result[MEMORY].evidence == ["index 0 box 1: IE without a cause"]
    assert result[exhaustion.CASES["cpu"]].evidence == ["index 1 box 1: verdict TLE (), stdout ''"]
    assert result[exhaustion.AFTER].evidence == ["index 2 python/ok_sum: expected OK, got RE ()"]


def test_what_was_not_measured_fails_and_a_skipped_state_full_skips_recovery(tmp_path):
    b = HistoryBuilder(tmp_path, stage="exhaustion")
    b.end()
    result = {c.name: c for c in exhaustion.check(b.read())}
    assert result[MEMORY].message == "no run of this case in the history: not measured"
    assert result[exhaustion.AFTER].message == "no plain run after the faults: recovery not measured"
    assert result[exhaustion.RECOVERY].message == "no evidence of a run after the state tmpfs was freed"
    assert all(result[n].status == "failed" for n in (MEMORY, exhaustion.AFTER, exhaustion.RECOVERY))
    b = HistoryBuilder(tmp_path / "b", stage="exhaustion")
    skip = {"case": "state_full", "index": 0, "reason": "the target cannot be relocated"}
    b.journal.append("evidence", label="exhaustion skip", evidence=skip)
    b.end()
    result = {c.name: c for c in exhaustion.check(b.read())}[exhaustion.RECOVERY]
    assert (result.status, result.message) == ("skipped", "the target cannot be relocated")


def test_the_case_is_the_submissions_own_not_a_part_of_its_program_id(tmp_path):
    b = HistoryBuilder(tmp_path, stage="exhaustion")
    b.submit(0, "exhaustion/memory", "python", "OK", case="cpu")
    b.result(0, "OK")
    b.submit(1, "exhaustion/memory/big", "python", "OK")  # a history from before the field: "memory/big"
    b.result(1, "OK")
    b.end()
    result = {c.name: c for c in exhaustion.check(b.read())}
    assert result[MEMORY].status == "failed"  # neither is the memory case: nothing measured it
    assert result[exhaustion.CASES["cpu"]].status == "passed"


def test_the_cases_judged_are_the_ones_the_run_recorded(tmp_path):
    b = HistoryBuilder(tmp_path, stage="exhaustion", cases=("memory",))
    b.submit(0, "python/ok_sum", "python", "OK", case="memory")
    b.result(0, "OK")
    b.end()
    names = [c.name for c in exhaustion.check(b.read())]
    assert MEMORY in names and exhaustion.CASES["cpu"] not in names  # the run had no cpu case
