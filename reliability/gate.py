"""The gate: JUnit reports in, one yes or no out. It fails closed: whatever it cannot confirm is a no.

No report, an unreadable or malformed file, a suite without testcases, a suite whose testcases were
all skipped (it measured nothing; unless allowed for that suite), any failure or error, or an expected
stage without a suite: each makes the gate fail, with a reason naming the file or suite.
Counts come from the testcase elements themselves, not from a suite's summary attributes, which a
broken writer could get wrong.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from reliability.fleet.junit import FLEET_SUITE
from reliability.fleet.merge import host_of_file, is_merged

ALL = "*"  # allow_skipped=ALL: every suite may be all skipped


class GateRow(NamedTuple):
    file: str
    suite: str
    tests: int
    failures: int
    errors: int
    skipped: int
    verdict: str  # "pass", "FAIL", "ERROR", "EMPTY", "SKIPPED" (every testcase skipped) or "UNREADABLE"


class GateCase(NamedTuple):
    """One testcase as read, so a page can show each check and its evidence without reading JUnit again."""

    file: str
    suite: str
    name: str
    outcome: str  # "passed", "failure", "error" or "skipped"
    message: str
    text: str  # the element's body (a check's evidence), or a passed case's system-out


@dataclass
class GateResult:
    ok: bool
    rows: list[GateRow] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what passed only by an allowance, and why
    cases: list[GateCase] = field(default_factory=list)
    properties: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)  # of (file, suite)

    def failures(self) -> list[GateCase]:
        return [c for c in self.cases if c.outcome in ("failure", "error")]


def gate(
    reports_dir: str | os.PathLike, expect: list[str] | None = None, allow_skipped: Collection[str] = ()
) -> GateResult:
    """allow_skipped: suite names whose testcases may all be skipped (ALL for any suite); the skip
    reasons are kept in the result's notes."""
    root = Path(reports_dir)
    if not root.is_dir():
        return GateResult(False, [], [f"{root}: no such reports directory"])
    result = GateResult(False)
    files = [f for f in sorted(root.rglob("*.xml")) if not is_merged(f)]  # derived, would count twice
    if not files:
        result.reasons.append(f"{root}: no JUnit report (*.xml) found")
    for path in files:
        _read_report(path, str(path.relative_to(root)), allow_skipped, result)
    found = {r.suite for r in result.rows}
    for stage in expect or []:
        if stage not in found:
            result.reasons.append(f"expected stage {stage!r}: no suite of that name in {root}")
    result.reasons += _missing_per_host(result.rows, expect or [], found)
    result.ok = not result.reasons
    return result


def _missing_per_host(rows: list[GateRow], expect: list[str], found: set[str]) -> list[str]:
    """In a fleet's reports (a host is a folder with the fleet's own suite) every host must have every
    expected stage: one host's suite does not stand for another's. (A stage no host has is already a
    reason of its own.)"""
    have = {(host_of(r), r.suite) for r in rows}
    hosts = sorted({host for host, suite in have if suite == FLEET_SUITE and host != "-"})
    return [
        f"{host}: expected stage {stage!r}: no suite of that name for this host"
        for host in hosts
        for stage in expect
        if stage in found and (host, stage) not in have
    ]


def _read_report(path: Path, shown: str, allow_skipped: Collection[str], into: GateResult) -> None:
    """Adds one file's rows, reasons to fail, notes, cases and properties to `into`."""
    unreadable = GateRow(shown, "-", 0, 0, 0, 0, "UNREADABLE")
    try:
        top = ET.parse(path).getroot()
    except ET.ParseError as exc:
        into.rows.append(unreadable)
        into.reasons.append(f"{shown}: malformed XML ({exc})")
        return
    except OSError as exc:
        into.rows.append(unreadable)
        into.reasons.append(f"{shown}: unreadable ({exc.strerror or exc})")
        return
    suites = (
        [top] if top.tag == "testsuite" else top.findall(".//testsuite") if top.tag == "testsuites" else []
    )
    if not suites:
        into.rows.append(unreadable)
        into.reasons.append(f"{shown}: not a JUnit report (root element <{top.tag}>, no <testsuite>)")
        return
    for suite in suites:
        row = _suite_row(suite, shown)
        allowed = row.verdict == "SKIPPED" and (ALL in allow_skipped or row.suite in allow_skipped)
        if allowed:
            into.notes.append(
                f"{row.file}: suite {row.suite!r}: all skipped, allowed: {_skip_reasons(suite)}"
            )
            row = row._replace(verdict="skipped (allowed)")
        into.rows.append(row)
        into.reasons += _suite_reasons(suite, row)
        into.cases += [_case(shown, row.suite, case) for case in suite.findall("testcase")]
        into.properties[(shown, row.suite)] = {
            p.get("name", ""): p.get("value", "") for p in suite.iter("property")
        }


def _case(shown: str, suite: str, case: ET.Element) -> GateCase:
    for outcome in ("error", "failure", "skipped"):  # the worst the case shows
        found = case.find(outcome)
        if found is not None:
            return GateCase(shown, suite, case.get("name") or "", outcome, found.get("message") or "",
                            (found.text or "").strip())  # fmt: skip
    out = case.find("system-out")
    text = (out.text or "").strip() if out is not None else ""
    return GateCase(shown, suite, case.get("name") or "", "passed", "", text)


def _suite_row(suite: ET.Element, shown: str) -> GateRow:
    cases = suite.findall("testcase")
    failures = sum(1 for c in cases if c.find("failure") is not None)
    errors = sum(1 for c in cases if c.find("error") is not None)
    skipped = sum(1 for c in cases if c.find("skipped") is not None)
    # A summary attribute claiming more trouble than the cases show still counts: fail closed.
    failures = max(failures, _int_attr(suite, "failures"))
    errors = max(errors, _int_attr(suite, "errors"))
    verdict = "EMPTY" if not cases else "ERROR" if errors else "FAIL" if failures else "pass"
    if verdict == "pass" and skipped == len(cases):
        verdict = "SKIPPED"
    return GateRow(shown, suite.get("name") or "(unnamed)", len(cases), failures, errors, skipped, verdict)


def _suite_reasons(suite: ET.Element, row: GateRow) -> list[str]:
    where = f"{row.file}: suite {row.suite!r}"
    reasons = []
    if row.tests == 0:
        reasons.append(f"{where} has no testcases")
    if row.verdict == "SKIPPED":
        reasons.append(
            f"{where}: all {row.tests} testcases skipped, nothing was measured ({_skip_reasons(suite)}); "
            f"allow it with --allow-skipped {row.suite}"
        )
    for kind in ("failure", "error"):
        bad = [c for c in suite.findall("testcase") if c.find(kind) is not None]
        for case in bad:
            message = case.find(kind).get("message") or ""
            reasons.append(f"{where}: {kind} in {case.get('name')!r}: {' '.join(message.split())}")
        count = row.failures if kind == "failure" else row.errors
        if count > len(bad):
            reasons.append(f"{where}: reports {count} {kind}s but only {len(bad)} testcases show one")
    return reasons


def _skip_reasons(suite: ET.Element) -> str:
    """The distinct skip messages, in order: why nothing was measured."""
    found = [" ".join((c.find("skipped").get("message") or "").split()) for c in suite.findall("testcase")]
    distinct = list(dict.fromkeys(m for m in found if m)) or ["no reason given"]
    return "; ".join(distinct[:3]) + (f"; and {len(distinct) - 3} more" if len(distinct) > 3 else "")


def _int_attr(element: ET.Element, name: str) -> int:
    try:
        return int(element.get(name, "0"))
    except ValueError:
        return 1  # an unparseable count cannot be trusted to mean zero


def format_table(result: GateResult) -> str:
    header = ("file", "suite", "tests", "failures", "errors", "skipped", "verdict")
    body = [tuple(str(v) for v in row) for row in result.rows]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in [header, *body]]
    lines += [f"- {reason}" for reason in result.reasons]
    lines += [f"- note: {note}" for note in result.notes]
    if any(host_of(row) != "-" for row in result.rows):
        lines += ["", format_host_stage_table(result)]
    lines.append("gate: PASS" if result.ok else f"gate: FAIL ({len(result.reasons)} reason(s))")
    return "\n".join(lines)


# --- The fleet: reports/<host>/... per host (see reliability/fleet/) ---


def host_of(row: GateRow) -> str:
    return host_of_file(row.file)


VERDICT_RANK = {
    "pass": 0,
    "skipped (allowed)": 0,
    "SKIPPED": 1,
    "EMPTY": 1,
    "FAIL": 2,
    "ERROR": 3,
    "UNREADABLE": 4,
}


def host_stage_cells(rows: list[GateRow]) -> tuple[list[str], list[str], dict[tuple[str, str], str]]:
    """(hosts, stages, (host, stage) -> the worst verdict of its suites); a pair absent is missing."""
    cells: dict[tuple[str, str], str] = {}
    for row in rows:
        key = (host_of(row), row.suite)
        if VERDICT_RANK.get(row.verdict, 4) >= VERDICT_RANK.get(cells.get(key, "pass"), 0):
            cells[key] = row.verdict
    return sorted({h for h, _ in cells}), sorted({s for _, s in cells}), cells


def format_host_stage_table(result: GateResult) -> str:
    """host x stage: the worst verdict of each cell; "missing" where a host lacks a stage others have."""
    hosts, stages, cells = host_stage_cells(result.rows)
    table = [("host", *stages)] + [(h, *(cells.get((h, s), "missing") for s in stages)) for h in hosts]
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table)


def format_markdown(result: GateResult) -> str:
    """The gate for a CI step summary (`gate --summary`): the verdict, the host x stage table of a
    fleet's reports and every reason, as Markdown."""
    lines = [f"### Gate: {'PASS' if result.ok else 'FAIL'}", ""]
    if any(host_of(row) != "-" for row in result.rows):
        hosts, stages, cells = host_stage_cells(result.rows)
        lines += [_md_row(["host", *stages]), "|" + "---|" * (len(stages) + 1)]
        lines += [
            _md_row([_md_escape(h), *(_md_verdict(cells.get((h, s), "missing")) for s in stages)])
            for h in hosts
        ]
        lines.append("")
    lines += [f"- {_md_escape(reason)}" for reason in result.reasons]
    lines += [f"- note: {_md_escape(note)}" for note in result.notes]
    return "\n".join(lines).rstrip() + "\n"


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _md_verdict(verdict: str) -> str:
    return verdict if VERDICT_RANK.get(verdict) == 0 else f"**{verdict}**"  # what is not a pass stands out


def _md_escape(text: str) -> str:
    """A reason quotes testcase messages: keep its pipes, stars and tags from becoming Markdown."""
    return "".join(f"\\{c}" if c in "|*_`<>[]" else c for c in " ".join(text.split()))
