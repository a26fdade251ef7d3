"""Is the candidate slower than the baseline? Sandbox overhead and cycle time per group, and throughput.

The groups, the samples and the statistics are the degradation check's (checks/degradation.py): per
language and verdict (TLE left out), overhead = wall minus the program's CPU, cycle = start to cleanup.
There the check compares a run's early and late windows; here the baseline's whole run with the
candidate's. A group is slower when its ratio of medians is above 1 + 10% and the seeded bootstrap
interval lies wholly above 1. The interval's level is corrected for every group the comparison judges,
over all stages, so that a release with many groups is not failed one time in a few on noise alone.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from reliability.checks import degradation
from reliability.checks.base import failed, passed, skipped
from reliability.compare.findings import Finding
from reliability.history import History
from reliability.report import series

THRESHOLD = degradation.THRESHOLD
SLOWDOWN = "not slower than the baseline (overhead, cycle time)"
THROUGHPUT = "throughput not lower than the baseline at the same concurrency"


@dataclass(frozen=True)
class Group:
    language: str
    verdict: str
    metric: str  # "overhead" or "cycle"
    baseline: list[float]  # seconds, every run of the group
    candidate: list[float]

    @property
    def label(self) -> str:
        return f"{self.language} {self.verdict} {self.metric}"


def groups(baseline: History, candidate: History) -> tuple[list[Group], list[str]]:
    """(the groups with enough runs on both sides, why each other group was not compared)."""
    base, cand = degradation.samples(baseline), degradation.samples(candidate)
    compared, not_compared = [], []
    for key in sorted(set(base) | set(cand)):
        group = Group(*key, [s for _, s in base.get(key, [])], [s for _, s in cand.get(key, [])])
        need = degradation.MIN_PER_WINDOW
        if min(len(group.baseline), len(group.candidate)) < need:
            not_compared.append(
                f"{group.label}: {len(group.baseline)} baseline and {len(group.candidate)} candidate runs,"
                f" need {need} each"
            )
        elif statistics.median(group.baseline) < degradation.MIN_BASE_S:
            not_compared.append(
                f"{group.label}: baseline median below {degradation.MIN_BASE_S * 1000:g} ms, too small to compare"
            )
        else:
            compared.append(group)
    return compared, not_compared


def slowdown(stage: str, found: list[Group], not_compared: list[str], seed: int, all_groups: int) -> Finding:
    """`all_groups`: how many groups the whole comparison judges (the interval's correction)."""
    name = f"{stage}: {SLOWDOWN}"
    pairs = [(g.label, 0, degradation.thin(g.baseline), degradation.thin(g.candidate)) for g in found]
    ratios = degradation.ratios(pairs, seed, THRESHOLD, groups=all_groups)
    lines, slow, rows, medians = [], [], [], []
    for g, r in zip(found, ratios):
        median = (
            f"{g.label}: median {_ms(r.before_s)} -> {_ms(r.after_s)} ms ({r.ratio - 1:+.1%}, {r.level:.2%} CI"
            f" {r.low - 1:+.1%} .. {r.high - 1:+.1%})"
        )
        line = (
            f"{median}; p95 {_ms(_p(g.baseline, 95))} -> {_ms(_p(g.candidate, 95))} ms;"
            f" p99 {_ms(_p(g.baseline, 99))} -> {_ms(_p(g.candidate, 99))} ms; {len(g.baseline)} vs"
            f" {len(g.candidate)} runs"
        )
        (slow if r.slower else lines).append(line)
        if r.slower:
            medians.append(median)
        rows.append(_row(g, r))
    data = {"threshold": THRESHOLD, "groups": rows, "not_compared": not_compared}
    if slow:
        message = (
            f"{len(slow)} group(s) slower than the baseline by more than {THRESHOLD:.0%}, significantly: "
            + "; ".join(medians)
        )
        return Finding(stage, "slowdown", failed(name, message, slow + lines + not_compared), data)
    if not lines:
        reason = "; ".join(not_compared) or "no results outside TLE"
        return Finding(
            stage, "slowdown", skipped(name, f"too few runs to compare: {reason}", not_compared), data
        )
    note = f"; not compared (too few runs): {len(not_compared)} group(s)" if not_compared else ""
    message = f"{len(lines)} group(s) within {THRESHOLD:.0%} of the baseline or not significant{note}"
    return Finding(stage, "slowdown", passed(name, message, lines + not_compared), data)


def _row(g: Group, r: degradation.Ratio) -> dict:
    def side(values: list[float]) -> dict:
        return {"runs": len(values), **{f"p{q}_s": _p(values, q) for q in series.PERCENTILES}}

    return {
        "language": g.language,
        "verdict": g.verdict,
        "metric": g.metric,
        "baseline": side(g.baseline),
        "candidate": side(g.candidate),
        "ratio": r.ratio,
        "ci": [r.low, r.high],
        "level": r.level,
        "slower": r.slower,
    }


def throughput(stage: str, baseline: History, candidate: History, stages: int = 1) -> Finding:
    """Executions per minute in each window of the run (the report's windows; the last, partial one left
    out); slower when the median window rate fell by more than 10%, significantly (the same bootstrap,
    its level corrected for the `stages` compared)."""
    name = f"{stage}: {THROUGHPUT}"
    conc = [h.stage_start["config"].get("concurrency") for h in (baseline, candidate)]
    data: dict = {
        "concurrency": conc[1],
        "baseline_per_min": _overall(baseline),
        "candidate_per_min": _overall(candidate),
    }
    summary = f"{data['baseline_per_min']:.0f} -> {data['candidate_per_min']:.0f} executions/min overall"
    if conc[0] != conc[1]:
        reason = f"not at the same concurrency: {conc[0]} in the baseline, {conc[1]} in the candidate"
        return Finding(stage, "throughput", skipped(name, reason, [summary]), data)
    base, cand = _window_rates(baseline), _window_rates(candidate)
    need = degradation.MIN_PER_WINDOW
    if min(len(base), len(cand)) < need or min(statistics.median(base), statistics.median(cand)) <= 0:
        reason = f"too few busy windows to compare ({len(base)} and {len(cand)}, need {need} each): {summary}"
        return Finding(stage, "throughput", skipped(name, reason, [summary]), data)
    # The ratio is baseline/candidate, so "slower" reads as for the latencies: above 1 is worse.
    r = degradation.ratios([("throughput", 0, cand, base)], baseline.seed, THRESHOLD, groups=stages)[0]
    line = (
        f"median window {r.after_s:.0f} -> {r.before_s:.0f}/min at concurrency {conc[1]} (baseline/candidate"
        f" {r.ratio:.3f}, {r.level:.1%} CI {r.low:.3f} .. {r.high:.3f}; {len(base)} and {len(cand)} windows);"
        f" {summary}"
    )
    data.update(ratio=r.ratio, ci=[r.low, r.high], level=r.level, slower=r.slower)
    if r.slower:
        return Finding(
            stage,
            "throughput",
            failed(name, f"throughput fell by more than {THRESHOLD:.0%}, significantly: {line}", [line]),
            data,
        )
    return Finding(
        stage, "throughput", passed(name, f"within {THRESHOLD:.0%} or not significant", [line]), data
    )


def _window_rates(history: History) -> list[float]:
    return [rate for _, rate in series.executions_per_minute(history)[:-1]]


def _overall(history: History) -> float:
    results = history.of_type("result")
    if not results:
        return 0.0
    span = max(r["ended"] for r in results) - min(r["started"] for r in results)
    return 60.0 * len(results) / span if span > 0 else 0.0


def _p(values: list[float], q: int) -> float:
    return series.percentile(values, q)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"
