"""An exhaustion fault that no longer held at the end of its run (stress-ng gone, the fds not held, space
left on the filled tmpfs) tested nothing: its run is left out, and a case with none left is a skip."""

from __future__ import annotations

from synthetic_history import HistoryBuilder

from reliability.checks import exhaustion

GONE = "stress-ng pid 41 gone at the end of the run"


def memory_case(tmp_path, took_effect: bool, verdict: str):
    b = HistoryBuilder(tmp_path, stage="exhaustion")
    b.submit(0, "python/ok_sum", "python", "OK", case="memory")
    b.result(0, verdict, stdout_ok=verdict == "OK" or None)
    fact = GONE if not took_effect else "stress-ng pid 41 running at the end of the run"
    evidence = {"case": "memory", "index": 0, "took_effect": took_effect, "fact": fact}
    b.journal.append("evidence", label=exhaustion.EFFECT_LABEL, evidence=evidence)
    b.end()
    return {c.name: c for c in exhaustion.check(b.read())}[exhaustion.CASES["memory"]]


def test_a_run_under_a_fault_that_no_longer_held_is_not_judged(tmp_path):
    result = memory_case(tmp_path, took_effect=False, verdict="RE")
    assert result.status == "skipped"
    assert result.message == f"the fault did not take effect: index 0: {GONE}"


def test_the_same_run_under_a_fault_that_held_is_judged(tmp_path):
    assert memory_case(tmp_path, took_effect=True, verdict="RE").status == "failed"
    assert memory_case(tmp_path / "ok", took_effect=True, verdict="OK").status == "passed"
