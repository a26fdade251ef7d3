"""The exhaustion checks fire on their defects (a wrong verdict or a silent IE under a fault, a wrong
verdict after it, a fault never undone, leftovers only recover found) and pass without them."""

from __future__ import annotations

import pytest
from synthetic_history import HistoryBuilder

from reliability.checks import exhaustion


def history(tmp_path, case_verdict="OK", case_message="", after_verdict="OK", unmatched=False, found=()):
    b = HistoryBuilder(tmp_path, stage="exhaustion")
    for i, case in enumerate(exhaustion.CASES):
        b.journal.append("fault", kind=case, phase="start", detail="d")
        b.submit(i, "python/ok_sum", "python", "OK", case=case)
        verdict = case_verdict if case == "memory" else "OK"
        b.result(
            i, verdict, message=case_message if case == "memory" else "", stdout_ok=verdict == "OK" or None
        )
        if not (unmatched and case == "cpu"):
            b.journal.append("fault", kind=case, phase="end", detail="d")
        if case == "state_full":
            ev = {"case": case, "index": i, "verdict": "OK", "message": "", "cleanup_ok": True,
                  "cleanup_error": "", "recover_found": list(found)}  # fmt: skip
            b.journal.append("evidence", label="exhaustion after state_full", evidence=ev)
    b.submit(99, "python/ok_sum", "python", "OK")
    b.result(99, after_verdict, stdout_ok=after_verdict == "OK" or None)
    b.end()
    return {c.name: c for c in exhaustion.check(b.read())}


def test_passes_without_defects(tmp_path):
    checks = history(tmp_path)
    assert all(c.status == "passed" for c in checks.values()), checks


def test_an_ie_with_its_cause_is_a_graceful_failure(tmp_path):
    assert (
        history(tmp_path, "IE", "fork: cannot allocate memory")[exhaustion.CASES["memory"]].status == "passed"
    )


@pytest.mark.parametrize("verdict,message", [("IE", ""), ("TLE", "wall time")])
def test_fires_on_a_silent_ie_or_a_wrong_verdict_under_a_fault(tmp_path, verdict, message):
    result = history(tmp_path, verdict, message)[exhaustion.CASES["memory"]]
    assert result.status == "failed" and "index" in result.evidence[0]


def test_fires_on_a_wrong_verdict_once_the_pressure_ends(tmp_path):
    result = history(tmp_path, after_verdict="IE")[exhaustion.AFTER]
    assert result.status == "failed" and "index 99" in result.evidence[0]


def test_fires_on_a_fault_never_undone(tmp_path):
    result = history(tmp_path, unmatched=True)[exhaustion.UNDONE]
    assert result.status == "failed" and result.evidence == ["cpu: started 1 more time(s) than it ended"]


def test_fires_when_only_recover_cleaned_up_after_a_full_disk(tmp_path):
    result = history(tmp_path, found=["mount /tmp/x/3"])[exhaustion.RECOVERY]
    assert result.status == "failed" and "mount /tmp/x/3" in result.evidence[0]


def test_a_case_not_set_up_here_is_skipped_with_the_reason(tmp_path):
    b = HistoryBuilder(tmp_path, stage="exhaustion")
    b.journal.append(
        "evidence", label="exhaustion skip", evidence={"case": "cpu", "index": 0, "reason": "no stress-ng"}
    )
    b.end()
    result = {c.name: c for c in exhaustion.check(b.read())}[exhaustion.CASES["cpu"]]
    assert (result.status, result.message) == ("skipped", "no stress-ng")
