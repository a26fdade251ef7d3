"""The summary at the end of every stage and of `reliability report`: rich on a terminal, plain lines
otherwise (CI logs), and the same as Markdown appended to $GITHUB_STEP_SUMMARY when that is set.

Every verdict shown is the checks' own; the summary only counts them.
"""

from __future__ import annotations

import collections
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from reliability.checks import leaks
from reliability.report.analysis import Analysis

MARK = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}
STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
EVIDENCE_SHOWN = 10


@dataclass(frozen=True)
class Facts:
    stage: str
    verdict: str  # "PASSED" or "FAILED", as the gate would read the checks
    seed: int
    profile: str
    target: str
    target_version: str
    executions: int  # results; with `skipped`, what the stage_end counts
    skipped: int  # submissions recorded as skipped (e.g. no compiler for the language)
    duration_s: float
    rate_per_min: float
    verdicts: dict[str, int]
    checks: dict[str, int]  # status -> count
    leaks: list[str]  # the message of each failed leak check
    leaks_measured: bool
    interrupted: bool
    notes: list[str] = field(default_factory=list)


def verdict(analysis: Analysis) -> str:
    """FAILED on any failed check, and on no checks at all: the gate fails an empty suite too."""
    return "PASSED" if analysis.checks and analysis.ok else "FAILED"


def facts(analysis: Analysis) -> Facts:
    h = analysis.history
    start, end = h.stage_start, h.stage_end
    results = h.of_type("result")
    if end:
        duration = float(end["duration_s"])
    else:
        duration = results[-1]["ended"] - start["t"] if results else 0.0
    leak_names = set(leaks.KINDS.values())
    leak_checks = [c for c in analysis.checks if c.name in leak_names]
    notes = []
    if not analysis.checks:
        notes.append("no checks ran: nothing was verified")
    if end is None or end.get("interrupted"):
        notes.append("the run was cut short: the checks cover what the history holds")
    return Facts(
        stage=analysis.stage,
        verdict=verdict(analysis),
        seed=start["seed"],
        profile=start["profile"],
        target=start["target"],
        target_version=start["target_version"],
        executions=len(results),
        skipped=len(h.of_type("skip")),
        duration_s=duration,
        rate_per_min=60.0 * len(results) / duration if duration else 0.0,
        verdicts=dict(sorted(collections.Counter(e["result"]["verdict"] for e in results).items())),
        checks={s: sum(1 for c in analysis.checks if c.status == s) for s in MARK},
        leaks=[c.message for c in leak_checks if c.status == "failed"],
        leaks_measured=any(c.status != "skipped" for c in leak_checks),
        interrupted=end is None or bool(end.get("interrupted")),
        notes=notes,
    )


def leaks_text(f: Facts) -> str:
    if f.leaks:
        return "; ".join(f.leaks)
    return "none" if f.leaks_measured else "not measured"


def executions_text(f: Facts) -> str:
    skipped = f" (+{f.skipped} skipped)" if f.skipped else ""
    return f"executions {f.executions}{skipped} in {f.duration_s:.1f} s ({f.rate_per_min:.0f}/min)"


def verdicts_text(f: Facts) -> str:
    return ", ".join(f"{v} {n}" for v, n in f.verdicts.items()) or "none"


def summary_lines(analysis: Analysis) -> list[str]:
    f = facts(analysis)
    lines = [
        f"== {f.stage}: {f.verdict} (seed {f.seed}, profile {f.profile}, target {f.target})",
        f"   {executions_text(f)}; verdicts {verdicts_text(f)}",
        f"   checks: {f.checks['passed']} passed, {f.checks['failed']} failed, {f.checks['skipped']} skipped;"
        f" leaks: {leaks_text(f)}",
    ]
    lines += [f"   {note}" for note in f.notes]
    for c in analysis.checks:
        lines.append(f"   [{MARK[c.status]}] {c.name}: {c.message}")
        if c.status == "failed":
            lines.extend(f"          {item}" for item in c.evidence[:EVIDENCE_SHOWN])
            if len(c.evidence) > EVIDENCE_SHOWN:
                lines.append(
                    f"          ... and {len(c.evidence) - EVIDENCE_SHOWN} more (see the JUnit report)"
                )
    return lines


def _print_rich(analysis: Analysis, stream) -> None:
    from rich.console import Console
    from rich.table import Table

    f = facts(analysis)
    console = Console(file=stream, highlight=False)
    colour = "green" if f.verdict == "PASSED" else "bold red"
    console.print(
        f"[{colour}]{f.stage}: {f.verdict}[/] seed {f.seed}, profile {f.profile}, "
        f"target {f.target} ({f.target_version})"
    )
    console.print(
        f"{executions_text(f)}; verdicts {verdicts_text(f)}; leaks: {leaks_text(f)}",
        markup=False,
    )
    for note in f.notes:
        console.print(note, style="yellow", markup=False)
    table = Table(
        title=f"checks: {f.checks['passed']} passed, {f.checks['failed']} failed, "
        f"{f.checks['skipped']} skipped"
    )
    table.add_column("status")
    table.add_column("check")
    table.add_column("result / evidence", overflow="fold")
    style = {"passed": "green", "failed": "bold red", "skipped": "yellow"}
    for c in analysis.checks:
        shown = [c.message]
        if c.status == "failed":
            shown += c.evidence[:EVIDENCE_SHOWN]
            if len(c.evidence) > EVIDENCE_SHOWN:
                shown.append(f"... and {len(c.evidence) - EVIDENCE_SHOWN} more (see the JUnit report)")
        table.add_row(f"[{style[c.status]}]{MARK[c.status]}[/]", c.name, "\n".join(shown))
    console.print(table)


def append_step_summary(analysis: Analysis) -> None:
    from reliability.report.markdown import summary_markdown

    append_to_step_summary(lambda: summary_markdown(analysis))


def append_to_step_summary(markdown: Callable[[], str]) -> None:
    """GitHub Actions shows what a step appends to this file; outside Actions it is not set (and the
    Markdown is not even made)."""
    path = os.environ.get(STEP_SUMMARY_ENV)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as out:
            out.write(markdown() + "\n")
    except OSError as exc:  # the summary is a courtesy: never lose the run's result over it
        print(f"reliability: cannot append to ${STEP_SUMMARY_ENV} ({path}): {exc}", file=sys.stderr)


def print_summary(analysis: Analysis, stream=None) -> None:
    stream = stream or sys.stdout
    if hasattr(stream, "isatty") and stream.isatty():
        _print_rich(analysis, stream)
    else:
        print("\n".join(summary_lines(analysis)), file=stream, flush=True)
    append_step_summary(analysis)
