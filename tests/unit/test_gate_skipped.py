"""A suite whose testcases were all skipped measured nothing: the gate fails it, with the skip reasons,
unless --allow-skipped (for every suite, or for named stages) accepts it; the reasons stay visible."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from reliability import cli
from reliability.checks.base import passed, skipped
from reliability.gate import ALL, _skip_reasons, format_table, gate
from reliability.report.junit import write_suite

ALL_SKIPPED = [skipped("damage detected", "target has no state files"), skipped("audit trail", "no audit")]


def _write(reports, stage, checks):
    return write_suite(reports / f"{stage}.xml", stage, checks, {"seed": 1})


def test_a_suite_with_every_testcase_skipped_fails_with_its_reasons(tmp_path):
    _write(tmp_path, "state", ALL_SKIPPED)
    _write(tmp_path, "stress", [passed("all verdicts correct", "ok"), skipped("languages covered", "no JDK")])
    result = gate(tmp_path)
    assert not result.ok
    assert {r.suite: r.verdict for r in result.rows} == {"state": "SKIPPED", "stress": "pass"}
    (reason,) = result.reasons
    assert "suite 'state': all 2 testcases skipped, nothing was measured" in reason
    assert "target has no state files; no audit" in reason and "--allow-skipped state" in reason


def test_allow_skipped_accepts_named_stages_or_all_and_keeps_the_reasons(tmp_path):
    _write(tmp_path, "state", ALL_SKIPPED)
    _write(tmp_path, "locks", [skipped("no overlap", "target has no locks")])
    only_state = gate(tmp_path, allow_skipped={"state"})
    assert not only_state.ok and len(only_state.reasons) == 1 and "'locks'" in only_state.reasons[0]
    every = gate(tmp_path, allow_skipped={ALL})
    assert every.ok, every.reasons
    assert {r.verdict for r in every.rows} == {"skipped (allowed)"}
    table = format_table(every)
    assert (
        "note: state.xml: suite 'state': all skipped, allowed: target has no state files; no audit" in table
    )
    assert table.endswith("gate: PASS")


def test_gate_command_takes_the_allowance(tmp_path, capsys):
    _write(tmp_path, "state", ALL_SKIPPED)
    assert cli.main(["gate", str(tmp_path)]) == 1
    assert "allow it with --allow-skipped state" in capsys.readouterr().out
    assert cli.main(["gate", str(tmp_path), "--allow-skipped", "leaks,state"]) == 0
    assert cli.main(["gate", str(tmp_path), "--allow-skipped"]) == 0


def _suite(*messages: str | None) -> ET.Element:
    cases = "".join(
        f'<testcase name="c{i}"><skipped{"" if m is None else f" message={m!r}"}/></testcase>'
        for i, m in enumerate(messages)
    )
    return ET.fromstring(f'<testsuite name="s">{cases}</testsuite>')


def test_skip_reasons_are_the_first_three_distinct_ones_then_how_many_more():
    assert _skip_reasons(_suite("a", "b", "a", "c")) == "a; b; c"
    assert _skip_reasons(_suite("a", "b", "c", "d")) == "a; b; c; and 1 more"
    assert _skip_reasons(_suite("a", "b", "c", "d", "e")) == "a; b; c; and 2 more"


def test_skip_reasons_without_any_message_say_so():
    assert _skip_reasons(_suite(None, "  ")) == "no reason given"
    assert _skip_reasons(_suite(None, " a   b ")) == "a b"
