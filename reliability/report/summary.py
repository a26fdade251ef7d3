"""The terminal summary printed at the end of a stage and by `reliability report`."""

from __future__ import annotations

import collections
import sys

from reliability.analyze import Analysis

MARK = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}


def summary_lines(analysis: Analysis) -> list[str]:
    h = analysis.history
    start, end = h.stage_start, h.stage_end
    results = [e for e in h.events if e["type"] == "result"]
    verdicts = collections.Counter(e["result"]["verdict"] for e in results)
    duration = end["duration_s"] if end else results[-1]["ended"] - start["t"] if results else 0.0
    rate = 60.0 * len(results) / duration if duration else 0.0
    counts = collections.Counter(c.status for c in analysis.checks)
    lines = [
        f"== {analysis.stage}: {'PASSED' if analysis.ok else 'FAILED'} "
        f"(seed {start['seed']}, profile {start['profile']}, target {start['target']})",
        f"   executions {len(results)} in {duration:.1f} s ({rate:.0f}/min); verdicts "
        + (", ".join(f"{v} {n}" for v, n in sorted(verdicts.items())) or "none"),
        f"   checks: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped",
    ]
    if end is None or end.get("interrupted"):
        lines.append("   the run was cut short: the checks cover what the history holds")
    for c in analysis.checks:
        lines.append(f"   [{MARK[c.status]}] {c.name}: {c.message}")
        if c.status == "failed":
            lines.extend(f"          {item}" for item in c.evidence[:10])
            if len(c.evidence) > 10:
                lines.append(f"          ... and {len(c.evidence) - 10} more (see the JUnit report)")
    return lines


def print_summary(analysis: Analysis, stream=None) -> None:
    print("\n".join(summary_lines(analysis)), file=stream or sys.stdout, flush=True)
