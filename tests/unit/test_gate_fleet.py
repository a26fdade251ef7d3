"""The gate over a fleet's reports (reports/<host>/...): the host x stage table, the merged JUnit file
and its exclusion from the gate, and suites nested in <testsuites>."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from reliability.checks.base import failed, passed, skipped
from reliability.fleet.merge import write_merged_junit
from reliability.gate import (
    GateResult,
    GateRow,
    format_host_stage_table,
    format_table,
    gate,
    host_of,
)
from reliability.report.junit import write_suite

GOOD = [passed("a", "fine"), skipped("b", "no JDK")]
BAD = [*GOOD, failed("c", "1 leaked mount", ["mount /x"])]


def fleet(tmp_path):
    write_suite(tmp_path / "h1" / "stress.xml", "stress", GOOD, {"seed": 1})
    write_suite(tmp_path / "h1" / "leaks.xml", "leaks", BAD, {"seed": 1})
    write_suite(tmp_path / "h2" / "stress.xml", "stress", GOOD, {"seed": 1})
    return gate(tmp_path)


def test_host_of_is_the_first_folder_or_none():
    assert host_of(GateRow("h1/stress.xml", "s", 1, 0, 0, 0, "pass")) == "h1"
    assert host_of(GateRow("stress.xml", "s", 1, 0, 0, 0, "pass")) == "-"


def test_the_host_stage_table_shows_each_cell_and_missing_stages(tmp_path):
    assert format_host_stage_table(fleet(tmp_path)).splitlines() == [
        "host  leaks    stress",
        "h1    FAIL     pass",
        "h2    missing  pass",
    ]


def test_the_worst_verdict_of_a_cell_wins(tmp_path):
    rows = [GateRow("h/a.xml", "s", 1, 0, 0, 0, v) for v in ("pass", "ERROR", "FAIL", "EMPTY", "pass")]
    assert format_host_stage_table(GateResult(False, rows)).splitlines()[1] == "h     ERROR"
    rows = [GateRow("h/a.xml", "s", 1, 0, 0, 0, v) for v in ("EMPTY", "pass")]
    assert format_host_stage_table(GateResult(False, rows)).splitlines()[1] == "h     EMPTY"
    rows = [GateRow("h/a.xml", "s", 1, 0, 0, 0, v) for v in ("UNREADABLE", "ERROR")]
    assert format_host_stage_table(GateResult(False, rows)).splitlines()[1] == "h     UNREADABLE"


def test_the_table_of_a_fleet_gate_has_both_tables_and_the_verdict_last(tmp_path):
    result = fleet(tmp_path)
    lines = format_table(result).splitlines()
    assert lines[1].split() == ["h1/leaks.xml", "leaks", "3", "1", "0", "1", "FAIL"]
    assert lines[4] == "- h1/leaks.xml: suite 'leaks': failure in 'c': 1 leaked mount"
    assert lines[6:9] == format_host_stage_table(result).splitlines()
    assert lines[-1] == "gate: FAIL (1 reason(s))"
    write_suite(tmp_path / "top.xml", "top", GOOD, {})
    assert "host" not in format_table(gate(tmp_path / "h2"))


def test_the_merged_file_has_every_suite_with_its_host_and_the_gate_skips_it(tmp_path):
    fleet(tmp_path)
    (tmp_path / "h2" / "cut.xml").write_text("<testsuite")
    write_suite(tmp_path / "top.xml", "top", GOOD, {})
    out = write_merged_junit(tmp_path, tmp_path / "merged" / "all.xml")
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites" and root.get("name") == "reliability-fleet-merged"
    suites = [(s.get("name"), s.get("hostname")) for s in root.findall("testsuite")]
    assert sorted(suites, key=str) == sorted(
        [("leaks", "h1"), ("stress", "h1"), ("stress", "h2"), ("top", None)], key=str
    )
    again = write_merged_junit(tmp_path, tmp_path / "merged" / "again.xml")
    assert len(ET.parse(again).getroot().findall("testsuite")) == 4  # the first merged file is not read
    result = gate(tmp_path)
    assert len(result.rows) == 5 and not any("merged" in r.file for r in result.rows)
    assert any(r.file == "h2/cut.xml" and r.verdict == "UNREADABLE" for r in result.rows)


def test_every_suite_of_a_testsuites_file_is_read(tmp_path):
    (tmp_path / "two.xml").write_text(
        '<testsuites><testsuite name="a"><testcase name="x"/></testsuite>'
        '<testsuite><testcase name="y"><skipped/></testcase></testsuite></testsuites>'
    )
    result = gate(tmp_path)
    assert [(r.suite, r.tests, r.skipped) for r in result.rows] == [("a", 1, 0), ("(unnamed)", 1, 1)]
    assert not result.ok  # a suite that measured nothing (all skipped) fails unless allowed


def test_a_failure_without_a_message_still_names_the_case(tmp_path):
    (tmp_path / "s.xml").write_text(
        '<testsuite name="s"><testcase name="x"><failure/></testcase></testsuite>'
    )
    result = gate(tmp_path)
    assert result.reasons == ["s.xml: suite 's': failure in 'x': "]
    assert result.rows[0][2:] == (1, 1, 0, 0, "FAIL")


def test_a_bare_testsuite_file_is_merged_and_the_output_folder_is_made(tmp_path):
    (tmp_path / "h3").mkdir()
    (tmp_path / "h3" / "bare.xml").write_text('<testsuite name="bare"><testcase name="x"/></testsuite>')
    out = write_merged_junit(tmp_path, tmp_path / "new" / "deeper" / "all.xml")
    assert out.read_text(encoding="utf-8").startswith("<?xml version='1.0' encoding='utf-8'?>")
    [suite] = ET.parse(out).getroot().findall("testsuite")
    assert (suite.get("name"), suite.get("hostname")) == ("bare", "h3")


def test_the_table_is_padded_on_the_right(tmp_path):
    write_suite(tmp_path / "h1" / "stress.xml", "stress", GOOD, {})
    lines = format_table(gate(tmp_path)).splitlines()
    assert lines[:2] == [
        "file           suite   tests  failures  errors  skipped  verdict",
        "h1/stress.xml  stress  2      0         0       1        pass",
    ]
    assert lines[2] == "" and lines[3] == "host  stress"


def test_a_failure_outranks_an_empty_suite_in_its_cell():
    rows = [GateRow("h/a.xml", "s", 1, 0, 0, 0, v) for v in ("FAIL", "EMPTY")]
    assert format_host_stage_table(GateResult(False, rows)).splitlines()[1] == "h     FAIL"


@pytest.mark.parametrize(
    "verdicts,cell",
    [
        (("FAIL", "SKIPPED"), "FAIL"),
        (("FAIL", "skipped (allowed)"), "FAIL"),
        (("SKIPPED", "skipped (allowed)"), "SKIPPED"),
        (("EMPTY", "pass"), "EMPTY"),
    ],
)
def test_a_later_lesser_verdict_does_not_replace_a_worse_one_in_its_cell(verdicts, cell):
    """A skip is worse than a pass or an allowed skip and better than a failure, whatever the order."""
    rows = [GateRow("h/a.xml", "s", 1, 0, 0, 0, v) for v in verdicts]
    assert format_host_stage_table(GateResult(False, rows)).splitlines()[1].split() == ["h", cell]
