"""One named test per mutation the checks' review found surviving: cleanup with no cleanup event, the
soak IE-rate boundary, the evidence cap, "every fault undone" with no fault, OK with wrong output under
and after a fault, and the gate's untrustworthy counts."""

from __future__ import annotations

import pytest
from synthetic_history import HistoryBuilder
from test_checks_exhaustion import history as exhaustion_history

from reliability.checks import cleanup, exhaustion, soak
from reliability.checks.base import MAX_EVIDENCE, capped, failed
from reliability.gate import gate


def test_results_with_no_cleanup_event_at_all_fail_not_skip(tmp_path):
    b = HistoryBuilder(tmp_path)
    b.submit(0)
    b.result(0, "OK", box=2)
    result = cleanup.check(b.read())[0]
    assert result.status == "failed" and result.evidence == [
        "box 2 index 0: ran, but no cleanup was recorded"
    ]


def soak_history(tmp_path, total: int, ie: int, profile: str = "soak"):
    b = HistoryBuilder(tmp_path)
    for i in range(total):
        verdict = "IE" if i < ie else "OK"
        b.journal.append(
            "result", index=i, box=1, result={"verdict": verdict, "message": "x"}, started=0.0, ended=1.0,
            stdout_ok=None,
        )  # fmt: skip
    b.end(total)
    history = b.read()
    history.stage_start["profile"] = profile
    return soak.check(history)


@pytest.mark.parametrize(
    "total,ie,status",
    [(10000, 1, "failed"), (10001, 1, "passed"), (5000, 1, "failed"), (1000, 0, "passed")],
)
def test_soak_ie_rate_fails_at_exactly_one_in_ten_thousand(tmp_path, total, ie, status):
    [result] = soak_history(tmp_path, total, ie)
    assert result.status == status, result.message


def test_soak_ie_rate_speaks_only_in_a_soak_and_skips_when_nothing_ran(tmp_path):
    assert soak_history(tmp_path, 3, 3, profile="release") == []
    [result] = soak_history(tmp_path / "b", 0, 0)
    assert result.status == "skipped"


def test_capped_keeps_exactly_the_cap_and_counts_the_rest():
    assert capped(["x"] * MAX_EVIDENCE) == ["x"] * MAX_EVIDENCE
    assert capped(["x"] * (MAX_EVIDENCE + 1))[-1] == "... and 1 more (all are in the history)"
    assert len(capped(["x"] * (MAX_EVIDENCE + 1))) == MAX_EVIDENCE + 1
    assert len(failed("n", "m", ["x"] * 500).evidence) == MAX_EVIDENCE + 1


def test_every_fault_undone_is_skipped_when_no_fault_was_injected(tmp_path):
    b = HistoryBuilder(tmp_path, stage="exhaustion")
    b.end()
    result = {c.name: c for c in exhaustion.check(b.read())}[exhaustion.UNDONE]
    assert (result.status, result.message) == ("skipped", "no fault was injected")


def test_every_fault_undone_counts_start_end_pairs(tmp_path):
    result = exhaustion_history(tmp_path)[exhaustion.UNDONE]
    assert result.status == "passed" and result.message.startswith(f"{len(exhaustion.CASES)} faults")


def test_ok_with_wrong_output_under_a_fault_is_not_graceful(tmp_path):
    b = HistoryBuilder(tmp_path, stage="exhaustion")
    b.submit(0, "exhaustion/memory", "python", "OK")
    b.journal.append(
        "result", index=0, box=1, result={"verdict": "OK", "message": "", "stdout": "garbage"}, started=1.0,
        ended=2.0, stdout_ok=False,
    )  # fmt: skip
    b.end()
    result = {c.name: c for c in exhaustion.check(b.read())}[exhaustion.CASES["memory"]]
    assert result.status == "failed" and "stdout 'garbage'" in result.evidence[0]


def test_ok_with_wrong_output_after_the_faults_is_wrong(tmp_path):
    b = HistoryBuilder(tmp_path, stage="exhaustion")
    b.submit(0, "python/ok_sum", "python", "OK")
    b.result(0, "OK", stdout_ok=False)
    b.end()
    result = {c.name: c for c in exhaustion.check(b.read())}[exhaustion.AFTER]
    assert result.status == "failed" and result.evidence[0].startswith("index 0 python/ok_sum")


def write_suite(path, attrs: str, cases: str) -> None:
    path.write_text(f'<testsuite name="stress" tests="1" {attrs}>{cases}</testsuite>')


@pytest.mark.parametrize("attrs", ['failures="many"', 'errors="1"', 'failures="2"', 'errors="x"'])
def test_the_gate_fails_on_a_count_it_cannot_trust(tmp_path, attrs):
    write_suite(tmp_path / "stress.xml", attrs, '<testcase name="a"/>')
    result = gate(tmp_path)
    assert not result.ok and result.rows[0].verdict in ("FAIL", "ERROR")
    assert any("testcases show one" in reason for reason in result.reasons), result.reasons


def test_the_gate_passes_honest_zero_counts(tmp_path):
    write_suite(tmp_path / "stress.xml", 'failures="0" errors="0"', '<testcase name="a"/>')
    result = gate(tmp_path)
    assert result.ok and result.rows[0][2:] == (1, 0, 0, 0, "pass")
