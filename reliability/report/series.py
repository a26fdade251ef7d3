"""What the reports plot and tabulate, read from a history alone: time series, counts and wrong verdicts.

Pure functions of a History, so a finished, interrupted or copied-in run renders alike. Times are seconds
since the stage started. Nothing here decides pass or fail: the wrong-verdict rows use the verdict
check's own rule, so the table and the check cannot disagree.
"""

from __future__ import annotations

import collections
import math
import shlex
from dataclasses import dataclass

from reliability.checks import degradation
from reliability.checks.verdicts import is_wrong  # the check's rule, not a second opinion
from reliability.history import History

# Bucket widths a person reads easily; the first giving at most MAX_WINDOWS windows is used.
NICE_WIDTHS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)
MAX_WINDOWS = 40
PERCENTILES = (50, 95, 99)
RESOURCE_KINDS = ("processes", "fds", "mounts", "cgroups", "temp")
# What the sampler records over the run: field -> (label, unit divisor); counts are whole numbers.
SAMPLED = {
    "host_processes": ("host processes", None),
    "host_mounts": ("host mounts", None),
    "fds": ("pipeline fds", None),
    "rss_kb": ("pipeline memory (MiB)", 1024),
}


@dataclass(frozen=True)
class Window:
    start_s: float
    width_s: float


@dataclass(frozen=True)
class OverheadPoint:
    window: Window
    samples: int
    p50: float
    p95: float
    p99: float


@dataclass(frozen=True)
class ResourcePoint:
    label: str
    at_s: float
    counts: dict[str, int]  # kind -> how many the snapshot saw; a kind it lacks is absent


@dataclass(frozen=True)
class SampledSeries:
    label: str
    counts: bool  # whole numbers (an integer axis), else a measure
    at_s: list[float]
    values: list[float]


@dataclass(frozen=True)
class QueuePoint:
    at_s: float
    depth: int
    capacity: int
    in_flight: int


@dataclass(frozen=True)
class WrongVerdict:
    index: int
    box: int
    program: str
    language: str
    expected: str
    got: str
    message: str
    replay: str


def start_time(history: History) -> float:
    return history.stage_start["t"]


def duration_s(history: History) -> float:
    """The stage's length: from stage_end if it ended, else up to its last event (a cut-short run)."""
    end = history.stage_end
    if end is not None:
        return float(end["duration_s"])
    return max(0.0, history.events[-1]["t"] - start_time(history))


def window_width_s(span_s: float) -> int:
    for width in NICE_WIDTHS_S:
        if span_s / width <= MAX_WINDOWS:
            return width
    return NICE_WIDTHS_S[-1]


def _results(history: History) -> list[dict]:
    return history.of_type("result")


def _span_s(history: History) -> float:
    ends = [r["ended"] - start_time(history) for r in _results(history)]
    return max([duration_s(history), *ends, 0.0])


def _windows(history: History) -> list[Window]:
    span = _span_s(history)
    width = window_width_s(span)
    count = max(1, math.ceil(span / width))
    return [Window(i * width, width) for i in range(count)]


def _window_index(at_s: float, width: float, count: int) -> int:
    return min(count - 1, max(0, int(at_s // width)))


def executions_per_minute(history: History) -> list[tuple[Window, float]]:
    """Executions that ended in each window, as a rate per minute (a partial last window counts whole)."""
    windows = _windows(history)
    if not _results(history):
        return []
    width = windows[0].width_s
    counts = [0] * len(windows)
    for r in _results(history):
        counts[_window_index(r["ended"] - start_time(history), width, len(windows))] += 1
    return [(w, 60.0 * n / w.width_s) for w, n in zip(windows, counts)]


def overhead_s(result_event: dict) -> float | None:
    """Sandbox overhead of one run: wall time not spent on the program's CPU. None if not reported."""
    res = result_event["result"]
    if not isinstance(res.get("wall_s"), (int, float)) or not isinstance(res.get("cpu_s"), (int, float)):
        return None
    return max(0.0, res["wall_s"] - res["cpu_s"])


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on a non-empty list."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def overhead_by_language(history: History) -> dict[str, list[OverheadPoint]]:
    """Per language, the p50/p95/p99 of sandbox overhead in each window that has runs of it.

    TLE runs are left out, as in the degradation check: their wall minus CPU is the program's own
    sleep or the limit's slack, not the sandbox.
    """
    windows = _windows(history)
    width = windows[0].width_s
    buckets: dict[str, dict[int, list[float]]] = collections.defaultdict(
        lambda: collections.defaultdict(list)
    )
    for r in _results(history):
        sub = history.submissions.get(r["index"])
        value = overhead_s(r)
        if sub is None or value is None or r["result"]["verdict"] in degradation.EXCLUDED_VERDICTS:
            continue
        i = _window_index(r["ended"] - start_time(history), width, len(windows))
        buckets[sub.language][i].append(value)
    out: dict[str, list[OverheadPoint]] = {}
    for language in sorted(buckets):
        points = []
        for i in sorted(buckets[language]):
            values = buckets[language][i]
            p50, p95, p99 = (percentile(values, q) for q in PERCENTILES)
            points.append(OverheadPoint(windows[i], len(values), p50, p95, p99))
        out[language] = points
    return out


def verdict_mix(history: History) -> list[tuple[str, int, int]]:
    """(verdict, expected, observed) over the runs that have a result, in a stable order."""
    expected: collections.Counter = collections.Counter()
    observed: collections.Counter = collections.Counter()
    for index, r in history.results.items():
        sub = history.submissions.get(index)
        if sub is not None:
            expected[sub.expected] += 1
        observed[r["result"]["verdict"]] += 1
    order = ["OK", "TLE", "MLE", "RE", "OLE", "IE"]
    seen = [v for v in order if expected[v] or observed[v]]
    seen += sorted((set(expected) | set(observed)) - set(order))
    return [(v, expected[v], observed[v]) for v in seen]


def resources(history: History) -> list[ResourcePoint]:
    """How many of each resource every snapshot saw, in history order (before, during..., after)."""
    points = []
    for e in history.of_type("snapshot"):
        snap = e["snapshot"]
        counts = {k: len(snap[k]) for k in RESOURCE_KINDS if isinstance(snap.get(k), (list, dict))}
        at = snap.get("taken_at", e["t"])
        points.append(ResourcePoint(e["label"], at - start_time(history), counts))
    return points


def sampled_resources(history: History) -> list[SampledSeries]:
    """The sampler's readings over the run, one series per field it recorded (older histories lack the
    host's counts: those series are absent, not zero)."""
    out = []
    samples = history.of_type("sample")
    for name, (label, divisor) in SAMPLED.items():
        have = [e for e in samples if isinstance(e.get(name), int)]
        if have:
            at = [e["t"] - start_time(history) for e in have]
            values = [e[name] / divisor if divisor else e[name] for e in have]
            out.append(SampledSeries(label, divisor is None, at, values))
    return out


def queue_samples(history: History) -> list[QueuePoint]:
    return [
        QueuePoint(e["t"] - start_time(history), e["queue_depth"], e["queue_capacity"], e["in_flight"])
        for e in history.of_type("sample")
    ]


def replay_command(history: History, index: int) -> str:
    return f"reliability replay {shlex.quote(str(history.run_dir))} {index}"


def wrong_verdicts(history: History) -> list[WrongVerdict]:
    rows = []
    for r in history.of_type("result"):
        sub = history.submissions.get(r["index"])
        if sub is None or not is_wrong(r, sub):
            continue
        res = r["result"]
        got = res["verdict"] + (" with wrong output" if r["stdout_ok"] is False else "")
        rows.append(
            WrongVerdict(
                index=r["index"],
                box=r["box"],
                program=sub.label,
                language=sub.language,
                expected=sub.expected,
                got=got,
                message=str(res.get("message", "")),
                replay=replay_command(history, r["index"]),
            )
        )
    return rows


def rerun_command(history: History) -> str:
    """The command that runs the same stage with the same seed and sizes again."""
    start = history.stage_start
    config = start.get("config", {})
    flags = [f"--profile {shlex.quote(start['profile'])}", f"--seed {start['seed']}"]
    for key, flag in (("submissions", "--submissions"), ("duration_s", "--duration"),
                      ("iterations", "--iterations"), ("concurrency", "--concurrency")):  # fmt: skip
        if config.get(key):
            flags.append(
                f"{flag} {config[key]:g}" if isinstance(config[key], float) else f"{flag} {config[key]}"
            )
    if start["target"] != "builtin":
        flags.append(f"--target {shlex.quote(start['target'])}")
    return f"reliability run {shlex.quote(start['stage'])} " + " ".join(flags)
