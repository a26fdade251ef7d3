"""The cleanup-fault checks on synthetic "cleanup fault" evidence, and the injected-failure excuse the
verdict check takes from them (a skipped injection excuses nothing)."""

from __future__ import annotations

import pytest
from aftermath_events import OK_PROBE, left, recovered
from synthetic_history import HistoryBuilder

from reliability.checks import faults, verdicts

STEPS = ("unmount", "remove cgroup", "reap", "close fds", "remove temp dirs")


def case(step: str, index: int, **change) -> dict:
    e = {
        "step": step,
        "index": index,
        "box": 2,
        "how": "failpoint",
        "outcome": {"ok": False, "error": f"{step} failed: EBUSY", "quarantined": True},
        "left": left(),
        "recovered": recovered(),
        "probe": dict(OK_PROBE),
    }
    return {**e, **change}


def history(tmp_path, cases: list[dict], verdict: str = "IE", message: str | None = None, recorded=STEPS):
    b = HistoryBuilder(tmp_path, stage="faults", cases=recorded)
    for e in cases:
        if "skipped" not in e:
            b.submit(e["index"], box=2)
            said = f"cleanup failed at {e['step']}" if message is None else message
            b.journal.append(
                "result",
                index=e["index"],
                box=2,
                result={"verdict": verdict, "message": said, "raw": {"program_verdict": "OK"}},
                started=1.0,
                ended=2.0,
                stdout_ok=True,
            )
        b.journal.append("evidence", label=faults.LABEL, evidence=e)
    b.end()
    return b.read()


def checks(tmp_path, cases, **kw) -> dict:
    return {c.name: c for c in faults.check(history(tmp_path, cases, **kw))}


def every_step(**change_at_unmount) -> list[dict]:
    return [case(s, i, **(change_at_unmount if s == "unmount" else {})) for i, s in enumerate(STEPS)]


def test_every_check_passes_when_each_failure_is_reported_quarantined_and_recovered(tmp_path):
    result = checks(tmp_path, every_step())
    assert [result[n].status for n in faults.NAMES] == ["passed"] * len(faults.NAMES)
    assert result[faults.REPORTED].message.startswith("5 injected failures: unmount, remove cgroup")


@pytest.mark.parametrize(
    "change,name,line",
    [
        ({"outcome": None}, faults.REPORTED, "no cleanup ran"),
        ({"outcome": {"ok": True, "error": "", "quarantined": True}}, faults.REPORTED, "cleanup said ok"),
        (
            {"outcome": {"ok": False, "error": "EBUSY", "quarantined": True}},
            faults.REPORTED,
            "the error does not name the step: 'EBUSY'",
        ),
        (
            {"outcome": {"ok": False, "error": "unmount: x", "quarantined": False}},
            faults.QUARANTINED,
            "not quarantined",
        ),
        ({"left": left(processes=["pid 9"])}, faults.EXPLAINED, "processes not explained by the step: pid 9"),
        ({"left": {"leaks": {}, "state_files": ["s.json: bad"]}}, faults.EXPLAINED, "s.json: bad"),
        ({"recovered": recovered(recover_error="EPERM")}, faults.RECOVERED, "recover failed: EPERM"),
        ({"probe": {"skipped": "no python3"}}, faults.HEALTHY, "probe not run: no python3"),
    ],
)
def test_each_check_fails_on_its_own_evidence(tmp_path, change, name, line):
    result = checks(tmp_path, every_step(**change))[name]
    assert result.status == "failed"
    assert any(e.startswith("unmount (index 0, box 2, failpoint): ") and line in e for e in result.evidence)


@pytest.mark.parametrize(
    "step,kind,explained",
    [
        ("unmount", "mounts", True),
        ("unmount", "fds", False),
        ("remove cgroup", "cgroups", True),
        ("remove cgroup", "mounts", False),
        ("reap", "zombies", True),
        ("reap", "processes", False),
        ("close fds", "fds", True),
        ("close fds", "zombies", False),
        ("remove temp dirs", "temp_dirs", True),
        ("remove temp dirs", "cgroups", False),
        ("a step nobody listed", "processes", True),
    ],
)
def test_leftovers_are_explained_only_by_the_failed_step_or_a_later_one(tmp_path, step, kind, explained):
    result = checks(tmp_path, [case(step, 0, left=left(**{kind: ["x"]}))])[faults.EXPLAINED]
    assert result.status == ("passed" if explained else "failed")


@pytest.mark.parametrize("verdict,message", [("OK", None), ("IE", "cleanup failed")])
def test_reported_fails_unless_the_runs_verdict_is_ie_naming_the_step(tmp_path, verdict, message):
    result = checks(tmp_path, every_step(), verdict=verdict, message=message)[faults.REPORTED]
    assert result.status == "failed"
    assert any("must be IE naming the step" in line for line in result.evidence)


def test_only_skipped_injections_skip_every_check_with_the_reasons(tmp_path):
    cases = [{"step": "unmount", "index": 0, "box": 2, "skipped": "no busy mount here"}]
    result = checks(tmp_path, cases)
    assert all(result[n].status == "skipped" for n in faults.NAMES)
    assert result[faults.REPORTED].message == "unmount: no busy mount here"
    assert checks(tmp_path / "none", [])[faults.HEALTHY].message.startswith("no cleanup fault was injected")


def test_a_skipped_injection_beside_real_ones_is_named(tmp_path):
    cases = every_step() + [{"step": "reap", "index": 9, "box": 2, "skipped": "cannot"}]
    assert checks(tmp_path, cases)[faults.REPORTED].message.endswith("; skipped: reap: cannot")


def test_an_injected_cleanup_failure_excuses_its_ie_but_a_skipped_injection_excuses_nothing(tmp_path):
    b = HistoryBuilder(tmp_path, stage="faults")
    for index, skipped in ((0, False), (1, True)):
        b.submit(index)
        b.journal.append(
            "result",
            index=index,
            box=1,
            result={
                "verdict": "IE",
                "message": "cleanup failed at unmount",
                "raw": {"program_verdict": "OK"},
            },
            started=1.0,
            ended=2.0,
            stdout_ok=True,
        )
        ev = {"step": "unmount", "index": index, "box": 1, **({"skipped": "cannot"} if skipped else {})}
        b.journal.append("evidence", label=faults.LABEL, evidence=ev)
    b.end()
    history = b.read()
    assert faults.injected_cleanup_failures(history) == {0}
    [result] = verdicts.check(history)
    assert result.status == "failed" and len(result.evidence) == 1 and "index 1 " in result.evidence[0]


def test_the_verdict_problem_is_told_word_for_word(tmp_path):
    result = checks(tmp_path, [case("unmount", 0)], verdict="OK", message="fine")[faults.REPORTED]
    assert result.evidence == [
        "unmount (index 0, box 2, failpoint): the run's verdict is OK ('fine') although its cleanup failed at "
        "unmount: must be IE naming the step"
    ]


def test_an_ie_without_a_message_does_not_name_the_step(tmp_path):
    b = HistoryBuilder(tmp_path, stage="faults")
    b.journal.append(
        "result", index=0, box=2, result={"verdict": "IE"}, started=1.0, ended=2.0, stdout_ok=None
    )
    b.journal.append("evidence", label=faults.LABEL, evidence=case("unmount", 0))
    b.end()
    result = {c.name: c for c in faults.check(b.read())}[faults.REPORTED]
    assert result.evidence == [
        "unmount (index 0, box 2, failpoint): the run's verdict is IE ('') although its cleanup failed at "
        "unmount: must be IE naming the step"
    ]
    b = HistoryBuilder(tmp_path / "b", stage="faults")
    b.journal.append("evidence", label=faults.LABEL, evidence=case("unmount", 0))
    b.end()
    result = {c.name: c for c in faults.check(b.read())}[faults.REPORTED]
    assert result.evidence == ["unmount (index 0, box 2, failpoint): no result recorded for the run"]


def test_a_step_of_the_recorded_list_that_never_ran_is_named_not_measured(tmp_path):
    result = {c.name: c for c in faults.check(history(tmp_path, every_step()[:3]))}[faults.REPORTED]
    assert result.status == "passed" and result.message.endswith(
        "; not measured: close fds, remove temp dirs"
    )
    result = {c.name: c for c in faults.check(history(tmp_path / "b", every_step()[:3], recorded=None))}
    assert "not measured" not in result[faults.REPORTED].message  # a history from before the list
