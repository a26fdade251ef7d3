"""The rows the gate shows for a report it cannot read: file, no suite, zero counts, UNREADABLE."""

from __future__ import annotations

from reliability.gate import GateCase, GateRow, format_table, gate


def test_an_unreadable_report_has_one_row_naming_the_file_with_zero_counts(tmp_path):
    (tmp_path / "a_cut.xml").write_text("<testsuite")
    (tmp_path / "b_dir.xml").mkdir()
    (tmp_path / "c_pom.xml").write_text("<project/>")
    result = gate(tmp_path)
    assert result.rows == [
        GateRow(name, "-", 0, 0, 0, 0, "UNREADABLE") for name in ("a_cut.xml", "b_dir.xml", "c_pom.xml")
    ]
    assert [r.split(":")[0] for r in result.reasons] == ["a_cut.xml", "b_dir.xml", "c_pom.xml"]
    assert "b_dir.xml: unreadable (Is a directory)" in result.reasons
    assert format_table(result).splitlines()[1].split() == [
        "a_cut.xml",
        "-",
        "0",
        "0",
        "0",
        "0",
        "UNREADABLE",
    ]


def test_a_testsuites_file_with_no_suite_is_not_a_report(tmp_path):
    (tmp_path / "empty.xml").write_text("<testsuites/>")
    result = gate(tmp_path)
    assert result.rows == [GateRow("empty.xml", "-", 0, 0, 0, 0, "UNREADABLE")]
    assert result.reasons == ["empty.xml: not a JUnit report (root element <testsuites>, no <testsuite>)"]


def test_a_suite_nested_deeper_in_testsuites_is_found(tmp_path):
    (tmp_path / "deep.xml").write_text(
        '<testsuites><testsuites><testsuite name="s"><testcase name="x"/></testsuite></testsuites></testsuites>'
    )
    result = gate(tmp_path)
    assert result.ok and result.rows == [GateRow("deep.xml", "s", 1, 0, 0, 0, "pass")]


def test_each_case_is_read_with_its_worst_outcome_message_and_text(tmp_path):
    (tmp_path / "s.xml").write_text(
        '<testsuite name="stress">'
        '<testcase name="both"><failure message="f">ftext</failure><error message="e"> etext </error></testcase>'
        '<testcase name="fails"><failure message="slow">group a</failure></testcase>'
        '<testcase name="skips"><skipped message="no samples"/></testcase>'
        '<testcase name="passes"><system-out> 60 verdicts correct </system-out></testcase>'
        "<testcase><system-out/></testcase>"
        "</testsuite>"
    )
    assert gate(tmp_path).cases == [
        GateCase("s.xml", "stress", "both", "error", "e", "etext"),  # the worst the case shows
        GateCase("s.xml", "stress", "fails", "failure", "slow", "group a"),
        GateCase("s.xml", "stress", "skips", "skipped", "no samples", ""),
        GateCase("s.xml", "stress", "passes", "passed", "", "60 verdicts correct"),
        GateCase("s.xml", "stress", "", "passed", "", ""),
    ]
