from __future__ import annotations

from reliability.checks.base import failed, passed, skipped
from reliability.gate import format_table, gate
from reliability.report.junit import write_suite

GOOD = [passed("all verdicts correct", "10 verdicts correct"), skipped("languages covered", "java: no JDK")]


def _write(reports, stage, checks):
    return write_suite(reports / f"{stage}.xml", stage, checks, {"seed": 1})


def test_clean_reports_pass_and_show_in_the_table(tmp_path):
    _write(tmp_path, "stress", GOOD)
    _write(tmp_path / "nested", "leaks", GOOD)
    result = gate(tmp_path, expect=["stress", "leaks"])
    assert result.ok, result.reasons
    assert result.reasons == []
    assert sorted(r.suite for r in result.rows) == ["leaks", "stress"]
    assert all(
        (r.tests, r.failures, r.errors, r.skipped, r.verdict) == (2, 0, 0, 1, "pass") for r in result.rows
    )
    table = format_table(result)
    assert table.splitlines()[0].split() == [
        "file",
        "suite",
        "tests",
        "failures",
        "errors",
        "skipped",
        "verdict",
    ]
    assert table.endswith("gate: PASS")


def test_an_empty_or_missing_directory_fails(tmp_path):
    result = gate(tmp_path)
    assert not result.ok and result.reasons == [f"{tmp_path}: no JUnit report (*.xml) found"]
    result = gate(tmp_path / "nope")
    assert not result.ok and "no such reports directory" in result.reasons[0]
    assert format_table(result).endswith("gate: FAIL (1 reason(s))")


def test_a_missing_expected_stage_fails(tmp_path):
    _write(tmp_path, "stress", GOOD)
    result = gate(tmp_path, expect=["stress", "leaks"])
    assert not result.ok
    assert result.reasons == [f"expected stage 'leaks': no suite of that name in {tmp_path}"]


def test_a_suite_with_zero_testcases_fails(tmp_path):
    _write(tmp_path, "stress", [])
    result = gate(tmp_path)
    assert not result.ok
    assert result.rows[0].verdict == "EMPTY"
    assert result.reasons == ["stress.xml: suite 'stress' has no testcases"]


def test_a_failure_fails_naming_suite_and_check(tmp_path):
    _write(tmp_path, "stress", GOOD)
    _write(tmp_path, "leaks", [*GOOD, failed("no leaked mounts", "1 leaked mounts", ["mount tmpfs on /x"])])
    result = gate(tmp_path, expect=["stress", "leaks"])
    assert not result.ok
    assert result.reasons == ["leaks.xml: suite 'leaks': failure in 'no leaked mounts': 1 leaked mounts"]
    assert {r.suite: r.verdict for r in result.rows} == {"leaks": "FAIL", "stress": "pass"}


def test_an_error_fails(tmp_path):
    (tmp_path / "other.xml").write_text(
        '<testsuites><testsuite name="x" tests="1"><testcase name="a">'
        '<error message="crashed">Traceback</error></testcase></testsuite></testsuites>'
    )
    result = gate(tmp_path)
    assert not result.ok and result.rows[0].verdict == "ERROR"
    assert result.reasons == ["other.xml: suite 'x': error in 'a': crashed"]


def test_summary_attributes_claiming_failures_are_believed(tmp_path):
    (tmp_path / "odd.xml").write_text('<testsuite name="x" failures="2"><testcase name="a"/></testsuite>')
    result = gate(tmp_path)
    assert not result.ok
    assert result.reasons == ["odd.xml: suite 'x': reports 2 failures but only 0 testcases show one"]


def test_malformed_and_foreign_xml_fail(tmp_path):
    (tmp_path / "cut.xml").write_text('<testsuites><testsuite name="stress"><testcase name="a">')
    (tmp_path / "pom.xml").write_text("<project/>")
    result = gate(tmp_path)
    assert not result.ok
    assert [r.verdict for r in result.rows] == ["UNREADABLE", "UNREADABLE"]
    assert result.reasons[0].startswith("cut.xml: malformed XML")
    assert result.reasons[1] == "pom.xml: not a JUnit report (root element <project>, no <testsuite>)"


def test_an_unreadable_file_fails(tmp_path):
    (tmp_path / "dir.xml").mkdir()  # a name that matches but cannot be read as a file
    result = gate(tmp_path)
    assert not result.ok and result.reasons[0].startswith("dir.xml: unreadable")
