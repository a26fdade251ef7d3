"""The isolation checks on synthetic histories: an escape shown by the program or by the host fails its
case; a case not run, or without the host's evidence it needs, is skipped, never passed."""

from __future__ import annotations

import pytest
from synthetic_history import HistoryBuilder

from reliability.checks import isolation

HOST = {"secret": "s3cret", "planted_file_exists": False, "connections": 0, "victim_alive": True,
        "host_dir_intact": True}  # fmt: skip


def checks(tmp_path, stdout=None, verdicts=None, host=HOST, only=None) -> dict:
    b = HistoryBuilder(tmp_path, stage="isolation")
    for i, (case, expected) in enumerate(isolation.EXPECTED.items()):
        if only is not None and case not in only:
            continue
        b.submit(i, f"hostile/{case}", "cpp", expected)
        verdict = (verdicts or {}).get(case, expected)
        out = (stdout or {}).get(case, f"contained: {case}")
        b.journal.append(
            "result", index=i, box=1, result={"verdict": verdict, "stdout": out, "message": ""}, started=1.0,
            ended=2.0, stdout_ok=None,
        )  # fmt: skip
    if host is not None:
        b.journal.append("evidence", label="isolation host", evidence=host)
    b.end()
    return {c.name.split()[1]: c for c in isolation.check(b.read())}


def test_every_case_contained_passes(tmp_path):
    result = checks(tmp_path)
    assert {c: r.status for c, r in result.items()} == dict.fromkeys(isolation.EXPECTED, "passed")


@pytest.mark.parametrize(
    "case,kw,line",
    [
        ("setuid", {"stdout": {"setuid": "ESCAPED: euid 0"}}, "escape: ESCAPED: euid 0"),
        (
            "read_host_file",
            {"stdout": {"read_host_file": "s3cret"}},
            "the host secret is in the program's stdout",
        ),
        ("fork_bomb", {"verdicts": {"fork_bomb": "OK"}}, "expected TLE, got OK"),
        ("connect", {"host": {**HOST, "connections": 1}}, "escape seen on the host: connections = 1"),
        ("kill", {"host": {**HOST, "victim_alive": False}}, "victim_alive = False"),
        ("write_host_file", {"host": {**HOST, "planted_file_exists": True}}, "planted_file_exists = True"),
        ("symlink_out", {"host": {**HOST, "host_dir_intact": False}}, "host_dir_intact = False"),
    ],
)
def test_an_escape_fails_its_case(tmp_path, case, kw, line):
    result = checks(tmp_path, **kw)
    assert result[case].status == "failed" and any(line in e for e in result[case].evidence)
    assert [c for c, r in result.items() if r.status != "passed"] == [case]


def test_a_program_unsure_of_an_escape_is_not_one(tmp_path):
    assert checks(tmp_path, stdout={"setuid": "ESCAPED? no: euid 1000"})["setuid"].status == "passed"


def test_a_case_not_run_or_without_host_evidence_is_skipped(tmp_path):
    result = checks(tmp_path, only={"setuid"})
    assert (
        result["fork_bomb"].status == "skipped"
        and "no run of hostile/fork_bomb" in result["fork_bomb"].message
    )
    result = checks(tmp_path / "b", host=None)
    assert result["connect"].message == "no host evidence in the history: the escape cannot be ruled out"
    assert result["setuid"].status == "passed"  # needs no host evidence


def test_the_evidence_of_a_wrong_verdict_and_a_leaked_secret_is_exact(tmp_path):
    b = HistoryBuilder(tmp_path, stage="isolation")
    b.submit(0, "hostile/fork_bomb", "cpp", "TLE")
    b.journal.append(
        "result", index=0, box=1, result={"verdict": "OK", "message": "exited 0"}, started=1.0, ended=2.0,
        stdout_ok=None,
    )  # fmt: skip
    b.submit(1, "hostile/read_host_file", "cpp", "OK")
    b.journal.append(
        "result", index=1, box=1, result={"verdict": "OK", "stdout": "s3cret"}, started=1.0, ended=2.0,
        stdout_ok=None,
    )  # fmt: skip
    b.submit(2, "hostile/setuid", "cpp", "OK")
    b.journal.append(
        "result", index=2, box=1, result={"verdict": "OK"}, started=1.0, ended=2.0, stdout_ok=None
    )
    b.journal.append("evidence", label="isolation host", evidence=HOST)
    b.end()
    result = {c.name.split()[1]: c for c in isolation.check(b.read())}
    assert result["fork_bomb"].evidence == ["expected TLE, got OK: 'exited 0'"]
    assert result["read_host_file"].evidence == ["escape: the host secret is in the program's stdout"]
    assert result["setuid"].status == "passed" and result["setuid"].evidence == [""]


def test_only_hostile_programs_with_a_submission_are_judged(tmp_path):
    b = HistoryBuilder(tmp_path, stage="isolation")
    b.submit(0, "cleanup/fork_bomb", "cpp", "OK")  # not hostile/, though [8:] reads like a case
    b.result(0, "OK")
    b.result(1, "OK")  # no submission recorded at all
    b.end()
    result = {c.name.split()[1]: c for c in isolation.check(b.read())}
    assert result["fork_bomb"].status == "skipped"
    assert result["setuid"].message == "no run of hostile/setuid (skipped or not reached)"
    assert result["connect"].status == "skipped"
