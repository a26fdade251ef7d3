"""The isolation check's messages and evidence word for word, and the runs it must not stop reading:
every run of a case counts, the host secret is looked for in read_host_file's output only, and a case
with host evidence but none recorded is a skip that says so."""

from __future__ import annotations

import json

from synthetic_history import HistoryBuilder, isolation_history

from reliability.checks import isolation
from reliability.targets.base import Result


def answered(answers: dict[str, str], detail: str = "") -> Result:
    return Result(verdict="OK", stdout=json.dumps({"answers": answers, "detail": detail}))


def judge(tmp_path, runs: list[tuple[str, Result]], host: dict | None = None, cases=None) -> dict:
    """The check over `runs` ((case, result) in order); the case table journaled when given."""
    return {c.name.split()[1]: c for c in isolation.check(isolation_history(tmp_path, runs, host, cases))}


def test_a_contained_case_says_how_many_runs_and_lists_every_answer(tmp_path):
    runs = [("read_shadow", answered({"open": "EACCES", "stat": "ENOENT"}))] * 2
    got = judge(tmp_path, runs)["read_shadow"]
    assert (got.status, got.message) == ("passed", "2 run(s) contained")
    assert got.evidence == ["open: EACCES", "stat: ENOENT", "open: EACCES", "stat: ENOENT"]


def test_attack_surface_lists_every_answer_in_its_message_and_evidence(tmp_path):
    got = judge(tmp_path, [("keyctl", answered({"add_key": "EPERM", "keyctl": "ENOSYS"}))])["keyctl"]
    assert got.message == "denied (add_key: EPERM; keyctl: ENOSYS)"
    assert got.evidence == ["add_key: EPERM", "keyctl: ENOSYS"]


def test_a_case_with_no_run_is_skipped_with_the_reason(tmp_path):
    got = judge(tmp_path, [])["setns"]
    assert (got.status, got.message) == ("skipped", "no run of hostile/setns (skipped or not reached)")


def test_a_wrong_verdict_of_an_answering_case_names_no_kind_of_hole(tmp_path):
    tle = Result(verdict="TLE", message="cpu 2.0 s")
    got = judge(tmp_path, [("read_shadow", tle)])["read_shadow"]
    assert got.message == "read_shadow: expected OK, got TLE: 'cpu 2.0 s'"


def test_every_run_is_judged_after_a_wrong_verdict_or_a_missing_answer_line(tmp_path):
    runs = [
        ("read_shadow", Result(verdict="TLE", message="cpu")),
        ("read_shadow", Result(verdict="OK", stdout="garbage")),
        ("read_shadow", answered({"open": "ok"})),
    ]
    got = judge(tmp_path, runs)["read_shadow"]
    assert got.evidence == [
        "read_shadow: expected OK, got TLE: 'cpu'",
        "read_shadow: no answer line in the program's output: 'garbage'",
        "read_shadow: escape: open got ok",  # no detail: no trailing "; "
        "open: ok",
    ]


def test_a_missing_answer_line_shows_the_first_200_characters_of_the_output(tmp_path):
    got = judge(tmp_path, [("read_shadow", Result(verdict="OK", stdout="x" * 300))])["read_shadow"]
    assert got.message == f"read_shadow: no answer line in the program's output: {'x' * 200!r}"


def test_every_run_of_a_verdict_case_is_judged(tmp_path):
    b = HistoryBuilder(tmp_path, stage="isolation")
    for i, verdict in enumerate(("TLE", "OK")):
        b.submit(i, "hostile/fork_bomb", "python", "TLE")
        b.result(i, verdict, message="ended")
    b.end()
    got = {c.name.split()[1]: c for c in isolation.check(b.read())}["fork_bomb"]
    assert got.message == "fork_bomb: unbounded processes: expected TLE, got OK: 'ended'"


def test_the_host_secret_in_read_host_files_output_is_an_escape(tmp_path):
    leaked = answered({"open /etc/secret": "ENOENT"}, detail="s3cret")
    got = judge(tmp_path, [("read_host_file", leaked)], host={"secret": "s3cret"})["read_host_file"]
    assert got.status == "failed"
    assert got.message == "read_host_file: escape: the host secret is in the program's stdout"


def test_the_host_secret_is_looked_for_in_read_host_files_output_only(tmp_path):
    runs = [
        ("read_host_file", answered({"open /etc/secret": "ENOENT"})),
        ("read_shadow", answered({"open": "ENOENT"}, detail="s3cret")),
    ]
    got = judge(tmp_path, runs, host={"secret": "s3cret"})
    assert got["read_host_file"].status == "passed"
    assert got["read_shadow"].status == "passed"


def test_read_host_file_passes_without_any_recorded_secret(tmp_path):
    got = judge(tmp_path, [("read_host_file", answered({"open /etc/secret": "ENOENT"}))])["read_host_file"]
    assert got.status == "passed"


def test_a_host_case_without_host_evidence_is_a_skip_that_keeps_the_answers(tmp_path):
    got = judge(tmp_path, [("other_box", answered({"read ../n/secret": "ENOENT"}))])["other_box"]
    assert got.status == "skipped"
    assert got.message == "no host evidence in the history: the hole cannot be ruled out"
    assert got.evidence == ["read ../n/secret: ENOENT"]


def test_a_failure_keeps_every_problem_and_answer_as_evidence(tmp_path):
    got = judge(tmp_path, [("read_shadow", answered({"open": "ok", "stat": "ENOENT"}, detail="d"))])
    assert got["read_shadow"].evidence == ["read_shadow: escape: open got ok; d", "open: ok", "stat: ENOENT"]


def test_a_case_only_the_journaled_table_knows_is_judged_by_it(tmp_path):
    cases = {"new_hole": isolation.Case("escape", ("EPERM",), surface=True)}
    got = judge(tmp_path, [("new_hole", answered({"try": "ok"}))], cases=cases)
    assert list(got) == ["new_hole"]
    assert got["new_hole"].name == "hostile new_hole reported"


def test_a_checks_name_says_reported_for_attack_surface_and_contained_otherwise():
    assert isolation.check_name("keyctl") == "hostile keyctl reported"
    assert isolation.check_name("read_shadow") == "hostile read_shadow contained"


def test_any_error_contains_every_answer_but_ok():
    case = isolation.Case("escape", (isolation.ANY_ERROR,))
    assert isolation.is_contained(case, "ECONNREFUSED")
    assert not isolation.is_contained(case, "ok")


def test_the_answer_line_is_found_among_other_output_and_its_detail_defaults_to_empty():
    stdout = "\n".join(["starting", "[1, 2]", '{"progress": 1}', '{"answers": {"open": "EPERM"}}'])
    assert isolation.answers_of({"stdout": stdout}) == ({"open": "EPERM"}, "")
    assert isolation.answers_of({"stdout": "no json here"}) == (None, "")


def test_host_evidence_comes_from_isolation_evidence_events_only(tmp_path):
    b = HistoryBuilder(tmp_path, stage="isolation")
    table = {name: case.to_dict() for name, case in isolation.CASES.items()}
    b.journal.append("evidence", label=isolation.CASES_LABEL, evidence={"cases": table})
    b.journal.append("evidence", label="clean-box cleanup", evidence={"daemon_alive": True})
    b.journal.append("evidence", label="isolation host", evidence={"daemon_alive": False})
    b.end()
    assert isolation.host_evidence(b.read()) == {"daemon_alive": [False]}


def test_a_result_without_a_submission_is_not_a_case_run(tmp_path):
    b = HistoryBuilder(tmp_path, stage="isolation")
    b.result(5, "OK")  # no submission event for index 5
    b.end()
    assert all(c.status == "skipped" for c in isolation.check(b.read()))
