"""Summaries as GitHub-flavoured Markdown, for $GITHUB_STEP_SUMMARY: a stage's (the same facts as the
terminal) and a release candidate's (the same order as its page: the verdict, the failures, then the
regressions against the baseline). What fails comes before the table of everything, as on the pages."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from reliability.gate import GateCase, GateResult
from reliability.report.analysis import Analysis
from reliability.report.release import REGRESSION_FILE, host_label, is_regression, split_replays, stage_table
from reliability.report.summary import EVIDENCE_SHOWN, MARK, executions_text, facts, leaks_text, verdicts_text


def cell(text: str) -> str:
    """One table cell: pipes and newlines would break the row."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _evidence(title: str, lines: Sequence[str]) -> list[str]:
    """A folded block of at most EVIDENCE_SHOWN lines, with how many more there are."""
    more = len(lines) - EVIDENCE_SHOWN
    out = ["", f"<details><summary>{html.escape(title)}</summary>", "", "```"]
    out += [e.replace("```", "'''") for e in lines[:EVIDENCE_SHOWN]]
    out += [f"... and {more} more (see the JUnit report)"] if more > 0 else []
    return out + ["```", "", "</details>"]


def summary_markdown(analysis: Analysis) -> str:
    f = facts(analysis)
    icon = ":white_check_mark:" if f.verdict == "PASSED" else ":x:"
    lines = [
        f"### {icon} {f.stage}: {f.verdict}",
        "",
        f"seed `{f.seed}`, profile `{f.profile}`, target `{cell(f.target)}` ({cell(f.target_version)})",
        "",
        f"{executions_text(f)}; verdicts {cell(verdicts_text(f))}; leaks: {cell(leaks_text(f))}",
        "",
    ]
    lines += [f"> {cell(note)}" for note in f.notes]
    for c in analysis.checks:
        if c.status == "failed":
            lines.append(f"- **FAIL** {cell(c.name)}: {cell(c.message)}")
            lines += _evidence(f"{c.name}: evidence", c.evidence) if c.evidence else []
    lines += [
        "",
        f"checks: {f.checks['passed']} passed, {f.checks['failed']} failed, {f.checks['skipped']} skipped",
        "",
        "| status | check | result |",
        "|---|---|---|",
    ]
    lines += [f"| {MARK[c.status]} | {cell(c.name)} | {cell(c.message)} |" for c in analysis.checks]
    return "\n".join(lines)


def _case_lines(case: GateCase, where: str) -> list[str]:
    """The case, its replay commands where a reader sees them, and its evidence folded."""
    evidence, commands = split_replays(case.text)
    lines = [f"- **{case.outcome.upper()}** {cell(where)}: {cell(case.name)}: {cell(case.message)}"]
    lines += [f"  - replay: `{c.replace('`', '')}`" for c in commands]
    return lines + (_evidence(f"{case.name}: evidence", evidence) if evidence else [])


def release_markdown(result: GateResult, reports_dir: Path) -> str:
    word = "PASSED" if result.ok else "FAILED"
    lines = [f"## {':white_check_mark:' if result.ok else ':x:'} release candidate: {word}", ""]
    hosts = {(r.file, r.suite): host_label(result, r) for r in result.rows}
    stages, rows = stage_table(result)
    lines += ["| host | " + " | ".join(cell(s) for s in stages) + " |", "|---" * (len(stages) + 1) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    failed = [c for c in result.failures() if not is_regression(c.suite)]
    lines += ["", f"### Failed checks ({len(failed)})", ""]
    lines += [line for c in failed for line in _case_lines(c, f"{hosts[(c.file, c.suite)]} · {c.suite}")]
    lines += ["" if failed else "None.", "", "### Compared with the baseline", ""]
    regressions = [r for r in result.rows if is_regression(r.suite)]
    if not regressions:
        lines.append(f"no comparison: no {REGRESSION_FILE} in {cell(str(reports_dir))}")
    for r in regressions:
        bad = [c for c in result.failures() if (c.file, c.suite) == (r.file, r.suite)]
        lines.append(f"**{cell(r.suite)}**: {r.verdict}, {len(bad)} regression(s) in {r.tests} comparison(s)")
        lines += [line for c in bad for line in _case_lines(c, r.suite)]
        skips = {
            c.message
            for c in result.cases
            if (c.file, c.suite) == (r.file, r.suite) and c.outcome == "skipped"
        }
        lines += [f"- skipped: {cell(m)}" for m in sorted(skips)]
    return "\n".join(lines)
