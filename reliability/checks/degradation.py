"""Degradation (QA-REL-001: "no degradation > 10%"; soak: < 1%): the sandbox does not slow down over a run.

Per language and verdict, two costs of the sandbox itself are compared between the first and the last
WINDOWS-th of the run (by start time):
- overhead: the run's wall time minus the program's CPU time (set-up, scheduling, teardown);
- cycle: from the run's start to its cleanup's record (init and run and cleanup).
TLE runs are left out: their length is set by their randomly drawn limit, not by the sandbox.
A noisy shared host must not cry wolf, so a group fails only when the ratio of medians (late/early)
is above 1 + threshold AND a seeded bootstrap confidence interval of that ratio lies wholly above 1.
The interval's level is corrected for the number of groups compared (Bonferroni: 1 - 5%/k), so that a
run comparing eight groups does not fail one time in eight on noise alone (seen on a fresh, idle VM
before the correction). Medians ignore a single outlier by construction.
A slowdown is not provably the sandbox's when the programs themselves loaded the host more late than
early (the workload's mix drifts: a late window of CPU-bound runs is slower on a fixed host whatever
the sandbox does): when the share of the host's CPU the programs used, as the sandbox measured them,
grew by more than the threshold between a slow group's windows, that group is explained; if every slow
group is, the check is skipped with both shares, else it fails as before. The sandbox's own overhead is
never in that share, so a sandbox that costs more with age is not excused.
"""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from reliability.checks import other_work
from reliability.checks.base import CheckResult, failed, passed, skipped
from reliability.history import History

NAME = "no performance degradation"
WINDOWS = 4  # early = first quarter of each group's runs, late = last quarter
MIN_PER_WINDOW = 8  # fewer samples give no median worth comparing
RESAMPLES = 1000  # enough for the tail quantile of a Bonferroni-corrected interval over ~10 groups
ALPHA = 0.05  # the chance that noise alone fails the check, over all groups together
MAX_WINDOW = 2000  # a soak's window is subsampled (evenly) to this, so the bootstrap stays fast
MIN_BASE_S = 0.001  # a ratio against a median of (almost) zero says nothing
THRESHOLD = 0.10
SOAK_THRESHOLD = 0.01
EXCLUDED_VERDICTS = ("TLE",)


def check(history: History) -> list[CheckResult]:
    return [judge(history, threshold_for(history))]


def checker(threshold: float) -> Callable[[History], list[CheckResult]]:
    return lambda history: [judge(history, threshold)]


def samples(history: History) -> dict[tuple[str, str, str], list[tuple[float, float]]]:
    """(language, verdict, metric) -> [(start time, seconds)], in start order."""
    cleaned = {c["index"]: c["t"] for c in history.cleanups if c["index"] is not None}
    out: dict[tuple[str, str, str], list[tuple[float, float]]] = defaultdict(list)
    for index, r in history.results.items():
        sub = history.submissions.get(index)
        verdict = r["result"]["verdict"]
        if sub is None or verdict in EXCLUDED_VERDICTS:
            continue
        wall = r["ended"] - r["started"]
        # A multi-threaded program's CPU may exceed its wall time: its overhead is then not measurable.
        overhead = max(0.0, wall - r["result"].get("cpu_s", 0.0))
        out[(sub.language, verdict, "overhead")].append((r["started"], overhead))
        if index in cleaned:
            out[(sub.language, verdict, "cycle")].append((r["started"], cleaned[index] - r["started"]))
    for series in out.values():
        series.sort()
    return out


@dataclass(frozen=True)
class Group:
    """One group the check compared: the start times that bound its early and late windows, and its ratio."""

    language: str
    verdict: str
    metric: str
    runs_per_window: int
    early_s: tuple[float, float]  # first and last start time (epoch seconds) of the early window's runs
    late_s: tuple[float, float]
    ratio: Ratio

    @property
    def label(self) -> str:
        return f"{self.language} {self.verdict} {self.metric}"

    def line(self) -> str:
        r = self.ratio
        return (
            f"{self.label}: median {r.before_s * 1000:.1f} -> {r.after_s * 1000:.1f} ms"
            f" ({r.ratio - 1:+.1%}, {r.level:.1%} CI {r.low - 1:+.1%} .. {r.high - 1:+.1%},"
            f" {self.runs_per_window} runs per window)"
        )


def compare(history: History, threshold: float) -> tuple[list[Group], list[str]]:
    """(the groups compared, one line per group left out and why). The reports tabulate and shade these."""
    too_few, ready = [], []
    for (language, verdict, metric), series in sorted(samples(history).items()):
        label = f"{language} {verdict} {metric}"
        n = len(series) // WINDOWS
        if n < MIN_PER_WINDOW:
            too_few.append(f"{label}: {len(series)} runs, need {WINDOWS * MIN_PER_WINDOW}")
            continue
        early = thin([s for _, s in series[:n]])
        late = thin([s for _, s in series[-n:]])
        if statistics.median(early) < MIN_BASE_S:
            too_few.append(f"{label}: early median below {MIN_BASE_S * 1000:g} ms, too small to compare")
            continue
        windows = (series[0][0], series[n - 1][0]), (series[-n][0], series[-1][0])
        ready.append(((language, verdict, metric), n, windows, early, late))
    found = ratios(
        [(" ".join(key), n, early, late) for key, n, _, early, late in ready], history.seed, threshold
    )
    groups = [Group(*key, n, *windows, r) for (key, n, windows, _, _), r in zip(ready, found)]
    return groups, too_few


def threshold_for(history: History) -> float:
    """10% in every profile but soak, where the plan asks < 1%."""
    return SOAK_THRESHOLD if history.stage_start["profile"] == "soak" else THRESHOLD


def judge(history: History, threshold: float) -> CheckResult:
    groups, too_few = compare(history, threshold)
    lines = [g.line() for g in groups]
    slow, explained, rest = [], [], []  # evidence: the slow groups first, then those the load explains
    for g in groups:
        grew = _load_grew(history, g, threshold) if g.ratio.slower else None
        if grew:
            explained.append(f"{g.line()}; {grew}")
        else:
            (slow if g.ratio.slower else rest).append(g.line())
    if slow:
        return failed(
            NAME,
            f"{len(slow)} group(s) slowed down by more than {threshold:.0%}, significantly",
            slow + explained + rest,
        )
    if explained:
        return skipped(
            NAME,
            f"{len(explained)} group(s) slowed down by more than {threshold:.0%}, but the programs themselves"
            " used more than that share of the host's CPU more in their late window than in their early one:"
            " the load grew, not provably the sandbox's cost",
            explained + rest,
        )
    if not lines:
        reason = "; ".join(too_few) if too_few else "no results outside TLE"
        return skipped(NAME, f"too few runs to compare early and late windows: {reason}", too_few)
    note = f"; not compared (too few runs): {len(too_few)} group(s)" if too_few else ""
    return passed(
        NAME, f"{len(lines)} group(s) within {threshold:.0%} or not significant{note}", lines + too_few
    )


def _load_grew(history: History, group: Group, threshold: float) -> str | None:
    """How the programs' load grew from the group's early window to its late one, when it grew by more
    than `threshold` of the host's CPU (a slowdown that size can be the load's); else None."""
    early = other_work.program_load(history, *group.early_s)
    late = other_work.program_load(history, *group.late_s)
    if early is None or late is None or late - early <= threshold:
        return None
    return f"the programs used {early:.0%} of the host's CPU in the early window, {late:.0%} in the late one"


@dataclass(frozen=True)
class Ratio:
    """One group's after/before ratio of medians, its interval, and whether that is a slowdown."""

    before_s: float  # median
    after_s: float
    ratio: float
    low: float
    high: float
    level: float  # of the interval, after the correction for the number of groups
    slower: bool  # above 1 + threshold, and the interval wholly above 1


def ratios(
    compared: list[tuple[str, int, list[float], list[float]]], seed: int, threshold: float, groups: int = 0
) -> list[Ratio]:
    """The ratio of each (label, n, before, after) group; the interval's level is corrected for `groups`
    comparisons (default: these). `reliability compare` judges a baseline against a candidate with it."""
    alpha = ALPHA / max(1, groups or len(compared))
    out = []
    for _, _, before, after in compared:
        ratio, low, high = ratio_ci(before, after, seed=seed, alpha=alpha)
        slower = ratio > 1 + threshold and low > 1
        out.append(
            Ratio(statistics.median(before), statistics.median(after), ratio, low, high, 1 - alpha, slower)
        )
    return out


def thin(values: list[float]) -> list[float]:
    if len(values) <= MAX_WINDOW:
        return values
    step = len(values) / MAX_WINDOW
    return [values[int(i * step)] for i in range(MAX_WINDOW)]


def ratio_ci(
    early: list[float], late: list[float], seed: int = 0, alpha: float = ALPHA
) -> tuple[float, float, float]:
    """median(late)/median(early) and its bootstrap (1 - alpha) interval (seeded: the same history, the
    same verdict)."""
    rng = random.Random(seed)
    base = max(statistics.median(early), 1e-9)
    ratio = statistics.median(late) / base
    boots = []
    for _ in range(RESAMPLES):
        e = statistics.median(rng.choices(early, k=len(early)))
        l_ = statistics.median(rng.choices(late, k=len(late)))
        boots.append(l_ / max(e, 1e-9))
    boots.sort()
    tail = int(alpha / 2 * RESAMPLES)
    return ratio, boots[tail], boots[RESAMPLES - 1 - tail]
