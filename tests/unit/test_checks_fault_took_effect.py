"""A fault that did not take effect tested nothing: its case is skipped with the fact, never judged."""

from __future__ import annotations

from synthetic_history import HistoryBuilder

from reliability.checks import faults, verdicts

NO_MOUNT = "target isolate has no host-visible box mount (/var/local/lib/isolate/80 is not a mount point)"


def case(b: HistoryBuilder, index: int, step: str, took_effect: bool, fact: str) -> None:
    """A run whose cleanup said ok (nothing stopped it), as the faults stage records it."""
    b.submit(index, program=f"faults/{step.replace(' ', '_')}", language="python")
    b.result(index, "OK", box=80)
    b.cleanup(index, box=80)
    outcome = {"ok": True, "steps": [], "error": "", "quarantined": False}
    evidence = {"index": index, "box": 80, "step": step, "how": "a process holding the box mount busy"}
    evidence.update(outcome=outcome, effect={"took_effect": took_effect, "fact": fact})
    evidence.update(left={"leaks": {}, "state_files": []})
    evidence.update(recovered={"recover": [], "recover_error": "", "new": {}, "gone": {}, "state_files": []})
    evidence.update(probe={"verdict": "OK", "message": "", "stdout_ok": True, "cleanup_ok": True})
    b.journal.append("evidence", label=faults.LABEL, evidence=evidence)


def by_name(results) -> dict:
    return {r.name: r for r in results}


def test_a_fault_without_effect_is_skipped_with_the_fact(tmp_path):
    b = HistoryBuilder(tmp_path, stage="faults")
    case(b, 0, "unmount", False, NO_MOUNT)
    history = b.read()
    results = by_name(faults.check(history))
    assert {r.status for r in results.values()} == {"skipped"}
    assert results[faults.REPORTED].message == f"unmount: the fault did not take effect: {NO_MOUNT}"
    assert by_name(verdicts.check(history))[verdicts.NAME].status == "passed"  # the run's OK is right


def test_the_same_case_with_the_fault_in_effect_fails_as_before(tmp_path):
    b = HistoryBuilder(tmp_path, stage="faults")
    case(b, 0, "unmount", True, "mount /run/refbox/80 held busy by pid 9 (cwd /run/refbox/80)")
    results = by_name(faults.check(b.read()))
    assert results[faults.REPORTED].status == "failed"
    assert results[faults.QUARANTINED].status == "failed"


def test_cases_in_effect_are_judged_and_the_others_listed_as_skipped(tmp_path):
    b = HistoryBuilder(tmp_path, stage="faults")
    case(b, 0, "unmount", False, NO_MOUNT)
    case(b, 1, "remove cgroup", True, "frozen pid 9 in /sys/fs/cgroup/memory/box-80")
    results = by_name(faults.check(b.read()))
    assert results[faults.REPORTED].status == "failed"
    reported = results[faults.REPORTED].evidence
    assert [line.split(" (")[0] for line in reported[:2]] == ["remove cgroup", "remove cgroup"]
    assert reported[-1] == f"skipped unmount: the fault did not take effect: {NO_MOUNT}"
    assert f"skipped: unmount: the fault did not take effect: {NO_MOUNT}" in results[faults.EXPLAINED].message
