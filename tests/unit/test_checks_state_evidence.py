"""What the state checks show: the evidence line of each damaged file, pass or fail, word for word, so a
report reader can trust it (and a change to it is a decision, not an accident)."""

from __future__ import annotations

from test_checks_state import FILE, all_good, checks, with_change

from reliability.checks import state

AT = f"box 7, case wrong_enum (index 3), file {FILE}"
INIT = "init refused: box 7 is quarantined (state file not JSON); run `reliability box recover --box 7`"


def line_at(result, at: str = AT) -> str:
    [line] = [e for e in result.evidence if e.startswith(at)]
    return line


def test_the_passing_evidence_of_each_check(tmp_path):
    result = checks(tmp_path, all_good())
    assert line_at(result[state.DETECTED]) == f"{AT}: refused: {INIT}"
    assert line_at(result[state.QUARANTINED]) == (
        f"{AT}: refused ({INIT}), second run refused too; kept at /st/.state/quarantine/box-7.state.1.2"
    )
    missing = f"box 7, case missing_file (index 2), file {FILE}"
    assert (
        line_at(result[state.QUARANTINED], missing) == f"{missing}: refused ({INIT}), second run refused too"
    )
    assert line_at(result[state.SERVING]) == f"{AT}: boxes 8, 9 ran OK meanwhile"
    assert line_at(result[state.AUDIT]) == f"{AT}: corrupt_state: state file not JSON; moved to q"
    assert line_at(result[state.RECOVERED]) == f"{AT}: recover: quarantine of box 7; probe OK"
    assert all(len(result[n].evidence) == 5 for n in state.NAMES)


def test_an_audit_record_that_names_the_file_or_is_a_plain_line_counts(tmp_path):
    def by_file(e):
        e["audit"] = [{"event": "moved", "path": FILE, "detail": "bad json"}]

    result = checks(tmp_path, with_change(by_file))[state.AUDIT]
    assert result.status == "passed" and line_at(result) == f"{AT}: moved: bad json"
    result = checks(tmp_path / "b", with_change(lambda e: e.update(audit=[f"quarantined {FILE}"])))[
        state.AUDIT
    ]
    assert result.status == "passed" and line_at(result) == f"{AT}: quarantined {FILE}"


def test_an_audit_failure_names_the_files_read(tmp_path):
    def elsewhere(e):
        e["audit_files"] = ["/a.jsonl", "/b.jsonl"]
        e["audit"] = [{"event": "x", "box": 8}]

    result = checks(tmp_path, with_change(elsewhere))[state.AUDIT]
    assert result.message == "1 problem(s) in 5 damaged state files"
    assert result.evidence == [
        f"{AT}: no audit record about the box in /a.jsonl, /b.jsonl (1 new record(s) about other things)"
    ]


def test_a_refusal_with_no_trace_says_what_is_missing(tmp_path):
    def choked(e):
        e["damaged_run"].update(init_error="", result=None, error="")
        e["damaged_run"]["result"] = {"verdict": "IE", "message": "boom"}
        e["file_after"]["untouched"] = True
        e.update(kept_at=[], audit=[])

    result = checks(tmp_path, with_change(choked))[state.DETECTED]
    assert result.evidence == [
        f"{AT}: refused (IE boom) but nothing shows the damage was found: file left as written, nothing set "
        "aside, no audit record, the message does not name it"
    ]


def test_kept_at_alone_or_an_audit_record_alone_is_a_trace(tmp_path):
    def ran_ok(e):
        e["damaged_run"].update(init_error="", result={"verdict": "OK", "message": ""})
        e["file_after"]["untouched"] = False

    for keep, audit in ((["/q/7"], []), ([], [{"event": "reset", "box": 7}])):

        def change(e, keep=keep, audit=audit):
            ran_ok(e)
            e.update(kept_at=keep, audit=audit)

        assert checks(tmp_path / str(len(keep)), with_change(change))[state.DETECTED].status == "passed"


def test_every_other_box_is_judged_not_only_the_last(tmp_path):
    def first_down(e):
        e["others"]["8"] = {"verdict": "IE", "message": "down", "stdout_ok": False, "cleanup_ok": False}

    result = checks(tmp_path, with_change(first_down))[state.SERVING]
    assert result.status == "failed" and "other box 8: probe got IE" in result.evidence[0]


def test_a_box_with_no_run_is_told_so(tmp_path):
    def no_run(e):
        e["damaged_run"].update(init_error="", result=None)

    result = checks(tmp_path, with_change(no_run))[state.QUARANTINED]
    assert f"{AT}: the damaged box was not refused: it ran no run" in result.evidence
