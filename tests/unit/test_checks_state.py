"""The state corruption checks (checks/state.py) fire on the defect each exists for and pass without it;
a target with no per-box state file gets every check skipped with the reason, never passed; every
damage the stage writes is damage the read-only probe sees."""

from __future__ import annotations

import dataclasses
import json

import pytest
from synthetic_history import HistoryBuilder

from reliability.checks import state
from reliability.nemesis import corrupt_state
from reliability.probes import state_files
from reliability.profiles import Sizes
from reliability.refbox.state import encode, idle
from reliability.stages import state as state_stage
from reliability.stages.base import StageContext
from reliability.targets.base import CleanupOutcome, Owned, Result, Target

FILE = "/st/.state/7/state.json"
OK = {"verdict": "OK", "message": "", "stdout_ok": True, "cleanup_ok": True, "cleanup_error": ""}
REFUSED = {
    "verdict": "IE",
    "message": "init failed: box 7 is quarantined",
    "stdout_ok": False,
    "cleanup_ok": False,
}


def good_event(case: str = "corrupt_json", index: int = 0) -> dict:
    """What the stage records for a sandbox that does everything right (the refbox)."""
    removed = case == "missing_file"
    return {
        "index": index,
        "box": 7,
        "case": case,
        "how": corrupt_state.HOW[case],
        "file": FILE,
        "audit_files": ["/st/.state/audit.jsonl"],
        "prime": dict(OK),
        "written": {"removed": removed, "bytes": 0 if removed else 40, "sha256": "ab", "preview": "{x"},
        "damage_seen_by_probe": [f"{FILE}: not valid"],
        "damaged_run": {
            "init_error": "box 7 is quarantined (state file not JSON); run `reliability box recover --box 7`",
            "result": None,
            "cleanup": {"ok": False, "steps": [], "error": "box 7 is quarantined"},
            "error": "",
        },
        "file_after": {"exists": True, "bytes": 200, "sha256": "cd", "untouched": False, "problems": []},
        "kept_at": [] if removed else ["/st/.state/quarantine/box-7.state.1.2"],
        "state_root": "/st/.state",
        "audit": [{"event": "corrupt_state", "box": 7, "detail": "state file not JSON", "moved_to": "q"}],
        "retry": dict(REFUSED),
        "others": {"8": dict(OK), "9": dict(OK)},
        "recovered": {"recover": ["quarantine of box 7"], "recover_error": "", "new": {}, "gone": {}, "state_files": []},
        "probe": dict(OK),
        "seconds": 1.0,
    }  # fmt: skip


def checks(tmp_path, events: list[dict], cases: tuple[str, ...] | None = corrupt_state.CASES) -> dict:
    b = HistoryBuilder(tmp_path, stage="state", cases=cases)
    for e in events:
        b.journal.append("evidence", label=state.LABEL, evidence=e)
    b.end(executions=len(events))
    return {c.name: c for c in state.check(b.read())}


def all_good() -> list[dict]:
    return [good_event(case, i) for i, case in enumerate(corrupt_state.CASES)]


def with_change(change, case: str = "wrong_enum") -> list[dict]:
    events = all_good()
    bad = next(e for e in events if e["case"] == case)
    change(bad)
    return events


def test_every_check_passes_for_a_sandbox_that_detects_quarantines_audits_and_recovers(tmp_path):
    result = checks(tmp_path, all_good())
    assert [result[n].status for n in state.NAMES] == ["passed"] * len(state.NAMES), result
    assert "not measured" not in result[state.DETECTED].message


def silently_used(e):  # ran OK on the bad file and left it as it was
    e["damaged_run"].update(init_error="", result={"verdict": "OK", "message": ""}, cleanup={"ok": True})
    e["file_after"]["untouched"] = True
    e.update(kept_at=[], audit=[], retry=dict(OK))


def silently_reset(e):  # defect.trust_state: the bad file replaced by a fresh one, no trace, box serves
    silently_used(e)
    e["file_after"]["untouched"] = False


def choked(e):  # IE with nothing about the damage: the target fell over the file
    e["damaged_run"].update(init_error="", result={"verdict": "IE", "message": "Traceback: KeyError"})
    e["file_after"]["untouched"] = True
    e.update(kept_at=[], audit=[])


@pytest.mark.parametrize("defect", [silently_used, silently_reset, choked])
def test_detected_fails_on_silent_use_a_silent_reset_or_an_ie_without_cause(tmp_path, defect):
    result = checks(tmp_path, with_change(defect))[state.DETECTED]
    assert result.status == "failed", result
    assert any(f"box 7, case wrong_enum (index 3), file {FILE}" in line for line in result.evidence)


def test_an_ie_that_names_the_damage_is_detection(tmp_path):
    def named(e):
        e["damaged_run"].update(init_error="", result={"verdict": "IE", "message": "corrupt state file"})
        e["file_after"]["untouched"] = True
        e.update(kept_at=[], audit=[])

    assert checks(tmp_path, with_change(named))[state.DETECTED].status == "passed"


@pytest.mark.parametrize(
    "change,text",
    [
        (silently_reset, "the damaged box was not refused: it ran OK"),
        (lambda e: e.update(retry=dict(OK)), "a second run before recover got OK"),
        (lambda e: e.update(kept_at=[]), "the bad file was not kept"),
    ],
)
def test_quarantined_fails_when_the_box_serves_or_the_bad_file_is_not_kept(tmp_path, change, text):
    result = checks(tmp_path, with_change(change))[state.QUARANTINED]
    assert result.status == "failed" and any(text in line and "box 7" in line for line in result.evidence)


def test_serving_fails_when_another_box_stops_serving(tmp_path):
    def other_down(e):
        e["others"]["9"] = {**REFUSED, "message": "init failed: box 9 is quarantined"}

    result = checks(tmp_path, with_change(other_down))[state.SERVING]
    assert result.status == "failed" and "other box 9: probe got IE" in result.evidence[0]


def test_audit_fails_without_a_record_about_the_box_and_skips_without_audit_files(tmp_path):
    def other_record(e):
        e["audit"] = [{"event": "corrupt_state", "box": 8, "detail": "another box"}]

    result = checks(tmp_path, with_change(other_record))[state.AUDIT]
    assert result.status == "failed" and "no audit record about the box" in result.evidence[0]
    events = all_good()
    for e in events:
        e["audit_files"], e["audit"] = [], []
    result = checks(tmp_path / "b", events)[state.AUDIT]
    assert result.status == "skipped" and "declares no audit files" in result.message


@pytest.mark.parametrize(
    "change,text",
    [
        (lambda e: e["recovered"].update(recover_error="EBUSY"), "recover failed: EBUSY"),
        (lambda e: e["recovered"]["new"].update(mounts=["tmpfs on /b/7"]), "new mounts: tmpfs on /b/7"),
        (lambda e: e["recovered"].update(state_files=[f"{FILE}: not valid"]), "after recover"),
        (lambda e: e.update(probe=dict(REFUSED)), "probe got IE"),
    ],
)
def test_recovered_fails_on_a_failed_recover_a_leftover_a_bad_file_or_a_sick_box(tmp_path, change, text):
    result = checks(tmp_path, with_change(change))[state.RECOVERED]
    assert result.status == "failed" and any(text in line for line in result.evidence), result.evidence


def test_a_case_not_measured_is_named(tmp_path):
    result = checks(tmp_path, all_good()[:2])[state.DETECTED]
    assert (
        result.status == "passed" and "not measured: missing_file, wrong_enum, missing_key" in result.message
    )


def test_the_cases_counted_against_are_the_ones_the_run_recorded_not_todays(tmp_path):
    # A run whose stage had two cases then: nothing is missing, whatever the code's list is now.
    result = checks(tmp_path, all_good()[:2], cases=("corrupt_json", "partial_write"))[state.DETECTED]
    assert "not measured" not in result.message, result.message
    result = checks(tmp_path / "b", all_good()[:2], cases=(*corrupt_state.CASES, "new_case"))[state.DETECTED]
    assert "not measured: missing_file, wrong_enum, missing_key, new_case" in result.message
    result = checks(tmp_path / "c", all_good()[:2], cases=None)[state.DETECTED]  # before stage_start had them
    assert "records no case list" in result.message and result.status == "passed"


class StubTargetWithoutStateFiles(Target):
    """A stub target (no sandbox behind it): it declares no state files at all."""

    name = "stub-no-state"

    def __init__(self, state_globs: list[str] | None = None):
        self.state_globs = state_globs or []

    def version(self) -> str:
        return "stub"

    def owned(self, boxes=None) -> Owned:
        return Owned(box_root="/nonexistent-stub", state_files=self.state_globs)

    def init(self, box):
        pass

    def run(self, box, command, limits, files) -> Result:
        return Result(verdict="OK")

    def cleanup(self, box) -> CleanupOutcome:
        return CleanupOutcome(ok=True)

    def recover(self, box=None) -> list[str]:
        return []

    def box_pids(self, box) -> list[int]:
        return []


@pytest.mark.parametrize(
    "globs,reason",
    [([], "target stub-no-state has no state files"), (["/x/instances.json"], "names no per-box state file")],
)
def test_a_stub_target_without_per_box_state_files_gets_every_check_skipped_with_the_reason(
    tmp_path, globs, reason
):
    target = StubTargetWithoutStateFiles(globs)
    b = HistoryBuilder(tmp_path, stage="state", cases=corrupt_state.CASES)
    ctx = StageContext(1, Sizes(iterations=1), target, b.journal, (5,))
    for sub in state_stage.workload(ctx):
        with state_stage.around(ctx, dataclasses.replace(sub, box=5)) as replacement:
            assert replacement is None  # nothing is injected: the runner runs it as usual
    b.end(executions=len(corrupt_state.CASES))
    result = {c.name: c for c in state.check(b.read())}
    for name in state.NAMES:
        assert result[name].status == "skipped" and reason in result[name].message, result[name]


REFBOX_DOC = encode(idle(7, generation=3))


@pytest.mark.parametrize("case", corrupt_state.CASES)
def test_every_damage_is_one_the_read_only_probe_sees(tmp_path, case):
    path = tmp_path / "7" / "state.json"
    path.parent.mkdir()
    path.write_bytes(REFBOX_DOC)
    pattern = f"{tmp_path}/*/state.json"  # as the builtin target declares its state files
    owned = Owned(
        str(tmp_path), state_files=[pattern], file_rules={pattern: {"schema": "box-state", "format": "json"}}
    )
    assert state_files.problems(owned, [str(path)]) == []
    data, cannot = corrupt_state.damage(case, REFBOX_DOC)
    assert cannot == ""
    written = corrupt_state.write(str(path), data)
    if case == "missing_file":
        assert written["removed"] and not path.exists()
    else:
        assert path.read_bytes() == data and written["bytes"] == len(data)
        [problem] = state_files.problems(owned, [str(path)])
        assert problem.startswith(str(path))
    if case in ("wrong_enum", "missing_key"):
        json.loads(data)  # still JSON: only the schema says it is bad


def test_a_case_that_cannot_be_made_says_why():
    assert corrupt_state.damage("partial_write", None)[1].startswith("the file is missing or empty")
    assert "status" in corrupt_state.damage("wrong_enum", b'{"a": 1}')[1]
    assert corrupt_state.damage("missing_key", b'{"a": 1, "b": 2}')[0] == b'{"b":2}'
