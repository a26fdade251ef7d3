"""Concurrency (QA-REL-001 section 2): no deadlock, no box shared, queue, fds and memory bounded, load held.

Everything is judged from the history: result intervals per box (exclusivity), the sampler's "sample"
events (queue depth, in-flight runs, the pipeline's fds and RSS) and the watchdog's "watchdog" event.
Completeness per submission id is checks/completeness.py, shared with the other stages.
"""

from __future__ import annotations

import statistics

from reliability.checks import other_work
from reliability.checks.base import CheckResult, failed, passed, skipped
from reliability.checks.overlap import overlapping
from reliability.history import History

DEADLOCK = "no deadlocks"
EXCLUSIVE = "no box runs two executions at once"
QUEUE = "queue depth bounded"
IN_FLIGHT = "concurrency held"
RATE = "submission rate reached"
FDS = "pipeline fds bounded"
RSS = "pipeline memory bounded"

MIN_SAMPLES = 8  # fewer samples cannot show a trend
FD_GROWTH = 16  # fds the late samples may hold above the early ones (a leak grows by one per run)
RSS_GROWTH_KB = 64 * 1024  # warm-up (imports, thread stacks, caches) stays far below this
PLAN_CONCURRENCY = 100  # "100+ active executions"


def check(history: History) -> list[CheckResult]:
    samples = history.of_type("sample")
    return [
        _deadlock(history),
        _exclusive(history),
        _queue(samples),
        _in_flight(history, samples),
        _rate(history),
        _growth(FDS, "fds", samples, FD_GROWTH, "fds"),
        _growth(RSS, "rss_kb", samples, RSS_GROWTH_KB, "KiB RSS"),
    ]


def _deadlock(history: History) -> CheckResult:
    fired = history.of_type("watchdog")
    if fired:
        e = fired[0]
        evidence = [f"no sandbox command returned for {e['stalled_s']:.1f} s with {e['in_flight']} in flight"]
        for thread, frames in sorted(e["stacks"].items()):
            evidence.append(
                f"{thread}: {' <- '.join((f.strip().splitlines() or [''])[0] for f in reversed(frames[-3:]))}"
            )
        return failed(DEADLOCK, f"deadlock: the watchdog fired after {e['done']} executions", evidence)
    stall = history.stage_start["config"].get("watchdog_s", 0)
    if not stall:
        return skipped(DEADLOCK, "the watchdog was off (watchdog_s = 0): a deadlock could not be seen")
    return passed(DEADLOCK, f"the watchdog ({stall:g} s without progress) never fired")


def _exclusive(history: History) -> CheckResult:
    """A box is busy from its run's start to its cleanup's record; two busy spans on one box overlap."""
    cleaned = {c["index"]: c["t"] for c in history.cleanups if c["index"] is not None}
    spans = [(r["box"], r["started"], cleaned.get(i, r["ended"]), i) for i, r in history.results.items()]
    if not spans:
        return skipped(EXCLUSIVE, "no results: nothing ran")
    problems = overlapping(spans)
    if problems:
        return failed(EXCLUSIVE, f"{len(problems)} overlapping executions in one box", problems)
    boxes = len({box for box, *_ in spans})
    return passed(EXCLUSIVE, f"{len(history.results)} executions in {boxes} boxes, none overlapping")


def _queue(samples: list[dict]) -> CheckResult:
    if not samples:
        return skipped(QUEUE, "no samples in the history: queue depth was not measured")
    deepest = max(samples, key=lambda s: s["queue_depth"])
    capacity = deepest["queue_capacity"]
    if capacity <= 0:
        return failed(QUEUE, "the queue is unbounded (capacity 0)")
    if deepest["queue_depth"] > capacity:
        return failed(QUEUE, f"queue depth {deepest['queue_depth']} above its capacity {capacity}")
    return passed(QUEUE, f"at most {deepest['queue_depth']} queued of {capacity} ({len(samples)} samples)")


def _in_flight(history: History, samples: list[dict]) -> CheckResult:
    if not samples:
        return skipped(IN_FLIGHT, "no samples in the history: in-flight executions were not measured")
    wanted = min(history.stage_start["config"].get("concurrency", 1), PLAN_CONCURRENCY)
    most = max(s["in_flight"] for s in samples)
    if most < wanted:
        return failed(IN_FLIGHT, f"at most {most} executions in flight, wanted {wanted}")
    return passed(IN_FLIGHT, f"up to {most} executions in flight (wanted {wanted})")


def _cpu_evidence(history: History) -> list[str]:
    """Where the host's CPU went during the run: the run's own cost per execution bounds its rate."""
    cpu, done = (history.stage_end or {}).get("cpu"), len(history.results)
    if not cpu or not done:
        return []
    return [
        f"the run (pipeline and sandbox) used {cpu['run_s']:.1f} s of CPU, {cpu['run_s'] / done:.3f} s per "
        f"execution; the host was busy {cpu['host_busy_s']:.1f} s of its {cpu['capacity_s']:.1f} s"
    ]


def _rate(history: History) -> CheckResult:
    target = history.stage_start["config"].get("min_rate_per_min", 0)
    results = list(history.results.values())
    if not target:
        return skipped(RATE, "no target rate in this profile: nothing to compare")
    if len(results) < 2:
        return skipped(RATE, f"{len(results)} result(s): a rate needs at least two")
    span = max(r["ended"] for r in results) - min(r["started"] for r in results)
    rate = 60.0 * len(results) / span if span > 0 else float("inf")
    other = other_work.whole_run(history)
    if rate < target and other > other_work.OTHER_WORK_MAX:
        return skipped(
            RATE,
            f"{rate:.0f} executions a minute, below the target {target:.0f}, but other work on the host took "
            f"{other:.0%} of its CPU during the run: the rate measured the host, not the sandbox",
        )
    if rate < target:
        return failed(
            RATE, f"{rate:.0f} executions a minute, below the target {target:.0f}", _cpu_evidence(history)
        )
    return passed(RATE, f"{rate:.0f} executions a minute (target {target:.0f})")


def _growth(name: str, key: str, samples: list[dict], slack: int, unit: str) -> CheckResult:
    """Bounded = the last quarter's median stays within `slack` of the first quarter's maximum."""
    if len(samples) < MIN_SAMPLES:
        return skipped(name, f"{len(samples)} samples, need {MIN_SAMPLES} to see a trend")
    quarter = len(samples) // 4
    early = max(s[key] for s in samples[:quarter])
    late = statistics.median(s[key] for s in samples[-quarter:])
    peak = max(s[key] for s in samples)
    summary = f"early max {early}, late median {late:.0f}, peak {peak} {unit}"
    if late > early + slack:
        return failed(name, f"grew by {late - early:.0f} {unit} over the run ({summary})")
    return passed(name, summary)
