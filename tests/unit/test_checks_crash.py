"""The crash checks on synthetic "crash" events: each check fails on its own evidence and passes without
it; a phase that was skipped or missed is never counted as passed."""

from __future__ import annotations

import pytest
from aftermath_events import OK_PROBE, left, recovered
from synthetic_history import HistoryBuilder

from reliability.checks import crash

PHASES = ("setup", "execute", "timeout", "cleanup", "verdict")
# The killed supervisor's program, watched after the kill: it ended with it, within the limits.
ENDED_IN_TIME = {
    "grace_s": 2.0,
    "run_s_at_kill": 0.5,
    "limits": {"cpu_s": 0.5, "wall_s": 1.0, "mem_mb": 64, "processes": 8, "output_kb": 64},
    "processes": [
        {"pid": 9, "name": "prog", "uid": 60003, "cgroup": "", "starttime": 1, "cpu_at_kill": 0.4,
         "cpu_s": 0.4, "alive_s": 0.0, "age_s": 0.5, "alive_at_end": False}
    ],
}  # fmt: skip


def event(phase: str, index: int, **change) -> dict:
    e = {
        "index": index,
        "box": 3,
        "phase": phase,
        "killed": {"pid": 100 + index, "how": "SIGKILL"},
        "after_kill": ENDED_IN_TIME,
        "left": left(),
        "recovered": recovered(),
        "probe": dict(OK_PROBE),
    }
    return {**e, **change}


def checks(tmp_path, events: list[dict], recorded: tuple[str, ...] | None = PHASES) -> dict:
    b = HistoryBuilder(tmp_path, stage="crash", cases=recorded)
    for e in events:
        b.journal.append("crash", **e)
    b.end(executions=len(events))
    return {c.name: c for c in crash.check(b.read())}


def every_phase(**change_at_execute) -> list[dict]:
    return [event(p, i, **(change_at_execute if p == "execute" else {})) for i, p in enumerate(PHASES)]


def test_every_check_passes_when_each_phase_was_killed_and_recovered(tmp_path):
    result = checks(tmp_path, every_phase())
    assert [result[n].status for n in crash.NAMES] == ["passed"] * len(crash.NAMES)
    assert result[crash.KILLED].message.startswith("5 crashes at cleanup, execute, setup, timeout, verdict")
    assert "killed pid 101 (SIGKILL); recover: box 3" in result[crash.LEFT].evidence[1]


@pytest.mark.parametrize(
    "change,name,line",
    [
        ({"killed": {}}, crash.KILLED, "execute (index 1, box 3): the supervisor never reached the phase"),
        ({"left": left(mounts=["tmpfs /b/3"])}, crash.LEFT, "execute (index 1, box 3): mounts: tmpfs /b/3"),
        (
            {"left": {"leaks": {}, "state_files": ["state.json: not JSON"]}},
            crash.STATE,
            "execute (index 1, box 3): state.json: not JSON",
        ),
        ({"recovered": recovered(gone={"mounts": ["/"]})}, crash.RECOVERED, "gone mounts: /"),
        (
            {"recovered": recovered(state_files=["state.json: bad"])},
            crash.RECOVERED,
            "after recover: state.json: bad",
        ),
        ({"probe": {**OK_PROBE, "verdict": "WA"}}, crash.HEALTHY, "probe got WA"),
    ],
)
def test_each_check_fails_on_its_own_evidence_and_only_that_one(tmp_path, change, name, line):
    result = checks(tmp_path, every_phase(**change))
    assert result[name].status == "failed"
    assert any(line in e for e in result[name].evidence), result[name].evidence
    others = [n for n in crash.NAMES if n != name]
    assert [result[n].status for n in others] == ["passed"] * len(others)


def test_no_crash_injected_skips_every_check(tmp_path):
    result = checks(tmp_path, [])
    for name in crash.NAMES:
        assert result[name].status == "skipped" and "no crash was injected" in result[name].message


def test_only_skipped_phases_skip_every_check_with_the_reasons(tmp_path):
    events = [{"index": 0, "box": 3, "phase": "verdict", "skipped": "the target reports no phases"}]
    result = checks(tmp_path, events)
    for name in crash.NAMES:
        assert result[name].status == "skipped"
        assert result[name].message == "verdict (index 0): the target reports no phases"


def test_a_missed_phase_skips_killed_and_is_left_out_of_the_others(tmp_path):
    events = every_phase()[:4] + [
        event("verdict", 4, killed={}, missed="the command finished first", left=left(mounts=["m"]))
    ]
    result = checks(tmp_path, events)
    assert result[crash.KILLED].status == "skipped"
    assert (
        "never hit: verdict: verdict (index 4): not killed, the command finished first"
        in result[crash.KILLED].message
    )
    assert result[crash.LEFT].status == "passed"  # the missed phase injected no crash
    assert "skipped verdict (index 4): not killed, the command finished first" in result[crash.LEFT].evidence


def test_a_missed_phase_does_not_hide_a_phase_never_reached(tmp_path):
    events = every_phase(killed={}) + [event("verdict", 5, killed={}, missed="too quick")]
    assert checks(tmp_path, events)[crash.KILLED].status == "failed"


def test_a_skipped_phase_beside_crashes_is_named_in_the_summary(tmp_path):
    events = every_phase()[:4] + [{"index": 4, "box": 3, "phase": "verdict", "skipped": "no phases"}]
    result = checks(tmp_path, events)[crash.KILLED]
    assert result.status == "passed" and result.message.endswith("; skipped: verdict (index 4): no phases")


def test_the_crash_messages_and_evidence_word_for_word(tmp_path):
    result = checks(
        tmp_path, every_phase(recovered=recovered(gone={"mounts": ["/"]}), probe={"skipped": "no"})
    )
    assert result[crash.RECOVERED].message == "1 problem(s) in 5 crashes"
    assert result[crash.RECOVERED].evidence == ["execute (index 1, box 3): gone mounts: /"]
    assert result[crash.HEALTHY].evidence == ["execute (index 1, box 3): probe not run: no"]
    left_two = every_phase(left=left(mounts=["m1", "m2"], cgroups=["c1"]))
    assert checks(tmp_path / "b", left_two)[crash.LEFT].evidence == [
        "execute (index 1, box 3): mounts: m1",
        "execute (index 1, box 3): mounts: m2",
        "execute (index 1, box 3): cgroups: c1",
    ]
    assert checks(tmp_path / "c", [])[crash.KILLED].message == (
        "no crash was injected (the run did not get that far)"
    )


def test_skips_and_misses_are_listed_in_full(tmp_path):
    events = [
        {"index": 0, "box": 3, "phase": "verdict", "skipped": "no phases"},
        {"index": 1, "box": 3, "phase": "setup", "skipped": "no pid"},
    ]
    assert (
        checks(tmp_path, events)[crash.LEFT].message
        == "setup (index 1): no pid; verdict (index 0): no phases"
    )
    missed = [
        *every_phase()[:3],
        event("cleanup", 3, killed={}, missed="too quick"),
        event("verdict", 4, killed={}, missed="not seen"),
    ]
    result = checks(tmp_path / "b", missed)[crash.KILLED]
    assert (
        result.message == "never hit: cleanup, verdict: cleanup (index 3): not killed, too quick; "
        "verdict (index 4): not killed, not seen"
    )
    assert result.evidence == [
        "3 crashes at execute, setup, timeout; skipped: cleanup (index 3): not killed, too quick; "
        "verdict (index 4): not killed, not seen",
        "cleanup: 0 of 1 kills landed while it ran",
        *(f"{p}: 1 of 1 kills landed while it ran" for p in ("execute", "setup", "timeout")),
        "verdict: 0 of 1 kills landed while it ran",
    ]
    result = checks(tmp_path / "c", every_phase())[crash.LEFT]
    assert not result.message.endswith("; skipped: ") and "skipped" not in result.message


def test_a_phase_of_the_recorded_list_that_never_ran_is_named_not_measured(tmp_path):
    result = checks(tmp_path, every_phase()[:2], recorded=(*PHASES, "new_phase"))[crash.KILLED]
    assert result.message.endswith("; not measured: timeout, cleanup, verdict, new_phase"), result.message
