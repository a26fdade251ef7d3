"""The scorecard at the end of `reliability run all` (or of any run of several stages): one table, stage x
check, of what the sandbox gets right, what it gets wrong and what could not be measured, each with its
reason.

It only restates the checks' own results (passed: right, failed: wrong with the check's message and its
first piece of evidence, skipped: not measured with the skip's reason). A stage asked for that gave no result (it did not run, or no check ran) is a row of its
own, never left out: a missing stage must not read as a clean one.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reliability.checks.base import CheckResult
from reliability.report.analysis import Analysis
from reliability.report.markdown import cell

SCORE = {"passed": "right", "failed": "wrong", "skipped": "not measured"}
REASON_CHARS = 240  # the whole reason and its evidence are in the stage's JUnit report
FILE = "scorecard.md"


@dataclass(frozen=True)
class Row:
    stage: str
    check: str
    score: str  # one of SCORE's values
    reason: str


def rows(analyses: Sequence[Analysis], expected: Sequence[str]) -> list[Row]:
    """One row per check of every stage in `expected` (then any other analysed), in that order."""
    by_stage = {a.stage: a for a in analyses}
    out = []
    for stage in dict.fromkeys([*expected, *by_stage]):
        analysis = by_stage.get(stage)
        if analysis is None:
            out.append(Row(stage, "-", SCORE["skipped"], "the stage did not run"))
        elif not analysis.checks:
            out.append(Row(stage, "-", SCORE["skipped"], "no check ran: nothing was verified"))
        else:
            out += [Row(stage, c.name, SCORE[c.status], _short(reason(c))) for c in analysis.checks]
    return out


def reason(c: CheckResult) -> str:
    """The check's message; for a wrong one also its first piece of evidence, the finding itself."""
    if c.status == "failed" and c.evidence and c.evidence[0] not in c.message:
        return f"{c.message}; first: {c.evidence[0]}"
    return c.message


def _short(text: str) -> str:
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 3] + "..."


def title(analyses: Sequence[Analysis], table: list[Row]) -> str:
    targets = sorted(
        {f"{a.history.stage_start['target']} ({a.history.stage_start['target_version']})" for a in analyses}
    )
    counts = Counter(r.score for r in table)
    tally = ", ".join(f"{counts[s]} {s}" for s in SCORE.values())
    return f"scorecard, target {', '.join(targets) or '?'}: {tally}"


def scorecard_lines(analyses: Sequence[Analysis], expected: Sequence[str]) -> list[str]:
    table = rows(analyses, expected)
    widths = [max([len(h), *(len(getattr(r, h)) for r in table)]) for h in ("stage", "check", "score")]
    lines = [f"== {title(analyses, table)}"]
    for r in [Row("stage", "check", "score", "reason"), *table]:
        cells = (r.stage, r.check, r.score)
        lines.append("   " + "  ".join(c.ljust(w) for c, w in zip(cells, widths)) + "  " + r.reason)
    return lines


def scorecard_markdown(analyses: Sequence[Analysis], expected: Sequence[str]) -> str:
    table = rows(analyses, expected)
    lines = [f"{title(analyses, table)}", "", "| stage | check | score | reason |", "|---|---|---|---|"]
    lines += [f"| {r.stage} | {cell(r.check)} | {r.score} | {cell(r.reason)} |" for r in table]
    return "\n".join(lines) + "\n"


def report_scorecard(
    analyses: Sequence[Analysis], expected: Sequence[str], reports_dir: Path, stream=None
) -> Path:
    """Print the scorecard and write it as Markdown next to the JUnit reports; returns that file."""
    print("\n".join(scorecard_lines(analyses, expected)), file=stream or sys.stdout, flush=True)
    path = Path(reports_dir) / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(scorecard_markdown(analyses, expected))
    return path
