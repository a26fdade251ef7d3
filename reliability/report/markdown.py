"""The stage summary as GitHub-flavoured Markdown, for $GITHUB_STEP_SUMMARY: the same facts as the terminal."""

from __future__ import annotations

import html

from reliability.report.analysis import Analysis
from reliability.report.summary import EVIDENCE_SHOWN, MARK, executions_text, facts, leaks_text, verdicts_text


def cell(text: str) -> str:
    """One table cell: pipes and newlines would break the row."""
    return " ".join(str(text).split()).replace("|", "\\|")


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
    lines += [
        f"checks: {f.checks['passed']} passed, {f.checks['failed']} failed, {f.checks['skipped']} skipped",
        "",
        "| status | check | result |",
        "|---|---|---|",
    ]
    lines += [f"| {MARK[c.status]} | {cell(c.name)} | {cell(c.message)} |" for c in analysis.checks]
    for c in analysis.checks:
        if c.status != "failed" or not c.evidence:
            continue
        more = len(c.evidence) - EVIDENCE_SHOWN
        lines += ["", f"<details><summary>{html.escape(c.name)}: evidence</summary>", "", "```"]
        lines += [e.replace("```", "'''") for e in c.evidence[:EVIDENCE_SHOWN]]
        lines += [f"... and {more} more (see the JUnit report)"] if more > 0 else []
        lines += ["```", "", "</details>"]
    return "\n".join(lines)
