"""What a cleanup of a clean box leaves is one finding of its own, and exactly that is taken out of every
case's "recovered to baseline" (isolate 1.10.1's --cleanup of a missing box makes the empty box dir)."""

from __future__ import annotations

from synthetic_history import HistoryBuilder

from reliability.checks import aftermath, crash, faults

DIR = "temp dir /var/local/lib/isolate/81"


def probe(b: HistoryBuilder, left: dict, contents: dict, present_before: list[str] = ()) -> None:
    cleanup = {"ok": True, "steps": [], "error": "", "quarantined": False}
    evidence = {"box": 81, "present_before": list(present_before), "cleanup": cleanup, "left": left}
    evidence.update(contents=contents, gone={})
    b.journal.append("evidence", label=aftermath.CLEAN_CLEANUP_LABEL, evidence=evidence)


def recovered(new: dict) -> dict:
    return {"recover": ["box 81: cleanup command done"], "recover_error": "", "new": new, "gone": {}}


def crash_event(b: HistoryBuilder, new: dict, contents: dict) -> None:
    rec = {**recovered(new), "contents": contents, "state_files": []}
    probe_run = {"verdict": "OK", "message": "", "stdout_ok": True, "cleanup_ok": True, "cleanup_error": ""}
    b.journal.append(
        "crash", index=0, box=81, phase="execute", killed={"pid": 5, "how": "SIGKILL"}, orphans=[],
        after_kill={}, left={"leaks": {}, "state_files": []}, recovered=rec, probe=probe_run,
    )  # fmt: skip


def by_name(results) -> dict:
    return {r.name: r for r in results}


def test_the_leftover_of_a_clean_cleanup_is_named_once_and_not_under_each_case(tmp_path):
    b = HistoryBuilder(tmp_path, stage="crash")
    probe(b, {"temp_dirs": [DIR]}, {DIR: []})
    crash_event(b, {"temp_dirs": [DIR]}, {DIR: []})
    history = b.read()
    [finding] = aftermath.clean_cleanup_check(history)
    assert finding.status == "failed"
    assert finding.message == f"cleanup of a clean box leaves {DIR}"
    assert by_name(crash.check(history))[crash.RECOVERED].status == "passed"


def test_a_leftover_with_other_contents_is_still_the_case_s_own_problem(tmp_path):
    b = HistoryBuilder(tmp_path, stage="crash")
    probe(b, {"temp_dirs": [DIR]}, {DIR: []})
    crash_event(b, {"temp_dirs": [DIR], "cgroups": ["cgroup /sys/fs/cgroup/memory/box-81"]}, {DIR: ["box"]})
    result = by_name(crash.check(b.read()))[crash.RECOVERED]
    assert result.status == "failed"
    assert result.evidence == [
        f"execute (index 0, box 81): new temp_dirs: {DIR}",
        "execute (index 0, box 81): new cgroups: cgroup /sys/fs/cgroup/memory/box-81",
    ]


def test_without_the_probe_every_case_keeps_the_leftover(tmp_path):
    b = HistoryBuilder(tmp_path, stage="crash")
    crash_event(b, {"temp_dirs": [DIR]}, {DIR: []})
    history = b.read()
    assert by_name(crash.check(history))[crash.RECOVERED].status == "failed"
    [finding] = aftermath.clean_cleanup_check(history)
    assert finding.status == "skipped" and "not probed" in finding.message


def test_a_box_not_clean_when_probed_explains_nothing_and_is_skipped_with_the_reason(tmp_path):
    b = HistoryBuilder(tmp_path, stage="crash")
    probe(b, {"temp_dirs": [DIR]}, {DIR: []}, present_before=["/var/local/lib/isolate/81"])
    crash_event(b, {"temp_dirs": [DIR]}, {DIR: []})
    history = b.read()
    [finding] = aftermath.clean_cleanup_check(history)
    assert finding.status == "skipped"
    assert finding.message == "the box was not clean when probed: /var/local/lib/isolate/81 existed"
    assert by_name(crash.check(history))[crash.RECOVERED].status == "failed"


def test_a_cleanup_that_leaves_nothing_passes(tmp_path):
    b = HistoryBuilder(tmp_path, stage="faults")
    probe(b, {}, {})
    [finding] = aftermath.clean_cleanup_check(b.read())
    assert finding.status == "passed" and finding.message == "cleanup of clean box 81 left nothing"


def test_the_faults_check_takes_out_the_same_leftover(tmp_path):
    b = HistoryBuilder(tmp_path, stage="faults")
    probe(b, {"temp_dirs": [DIR]}, {DIR: []})
    outcome = {"ok": False, "steps": [], "error": "remove cgroup: EBUSY", "quarantined": True}
    evidence = {"index": 0, "box": 81, "step": "remove cgroup", "how": "frozen", "outcome": outcome}
    evidence.update(effect={"took_effect": True, "fact": "frozen pid 9 in /sys/fs/cgroup/memory/box-81"})
    rec = {**recovered({"temp_dirs": [DIR]}), "contents": {DIR: []}, "state_files": []}
    evidence.update(left={"leaks": {}, "state_files": []}, recovered=rec)
    evidence.update(probe={"verdict": "OK", "message": "", "stdout_ok": True, "cleanup_ok": True})
    b.journal.append("evidence", label=faults.LABEL, evidence=evidence)
    assert by_name(faults.check(b.read()))[faults.RECOVERED].status == "passed"


def test_a_cleanup_that_damages_the_state_of_a_clean_box_is_named_too(tmp_path):
    b = HistoryBuilder(tmp_path, stage="crash")
    cleanup = {"ok": True, "steps": [], "error": "", "quarantined": False}
    damaged = "/st/.state/81/state.json: not valid JSON"
    evidence = {"box": 81, "present_before": [], "cleanup": cleanup, "left": {}, "contents": {}, "gone": {}}
    evidence.update(state_files=[damaged], recover=["quarantine of box 81"], recover_error="")
    b.journal.append("evidence", label=aftermath.CLEAN_CLEANUP_LABEL, evidence=evidence)
    [finding] = aftermath.clean_cleanup_check(b.read())
    assert finding.status == "failed" and finding.message == f"cleanup of a clean box leaves {damaged}"
