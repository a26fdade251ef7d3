"""Sizes per profile: how much each stage does in smoke, quick and release runs.

smoke   every stage in well under two minutes in total: used by the tests and CI.
quick   the default, a person's first run: a few minutes.
release the plan's numbers (QA-REL-001): stress 3600 s and 10,000+ submissions, leaks 1000+ iterations.
soak    the plan's soak test: stress for 7 days at 1000 submissions an hour (resume it with --resume).
Every size can be overridden on the command line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from reliability import bounds
from reliability.errors import UsageError

PROFILES = ("smoke", "quick", "release", "soak")
DEFAULT_PROFILE = "quick"


@dataclass(frozen=True)
class Sizes:
    submissions: int = 0  # stress: at least this many submissions ...
    duration_s: float = 0.0  # ... and at least this long (both must be reached)
    iterations: int = 0  # leaks: executions across the four endings
    concurrency: int = 2  # worker threads, one box each
    ranges: str = "default"  # limit ranges preset of the workload generator ("fast" for smoke)
    pace_per_min: float = 0.0  # feed no faster than this (soak: 1000/h); 0 = as fast as workers take them
    min_rate_per_min: float = 0.0  # concurrent: the sustained rate the stage must reach (0 = no target)
    watchdog_s: float = 120.0  # no sandbox command returned for this long while work is pending: a deadlock
    # crash: how long after a supervisor's kill the stage watches what it left, before anything of that
    # execution is killed, cleaned or recovered (longer than the crash runs' wall limit)
    grace_s: float = 2.0

    def to_dict(self) -> dict:
        return asdict(self)


_SIZES: dict[str, dict[str, Sizes]] = {
    "stress": {
        "smoke": Sizes(submissions=60, concurrency=2, ranges="fast"),
        "quick": Sizes(submissions=400, concurrency=4),
        "release": Sizes(submissions=10_000, duration_s=3600, concurrency=4),
        # QA-REL-001 soak: 7 days at 1000 submissions an hour, mix 70/20/5/5 (the stress mix); resumable.
        "soak": Sizes(submissions=168_000, duration_s=7 * 24 * 3600, concurrency=4, pace_per_min=1000 / 60),
    },
    "concurrent": {
        "smoke": Sizes(submissions=200, concurrency=100, ranges="fast", min_rate_per_min=600, watchdog_s=30),
        "quick": Sizes(submissions=3000, concurrency=110, min_rate_per_min=1000, watchdog_s=60),
        "release": Sizes(submissions=30_000, duration_s=1800, concurrency=110, min_rate_per_min=1000),
    },
    "leaks": {
        "smoke": Sizes(iterations=40, concurrency=2, ranges="fast"),
        "quick": Sizes(iterations=200, concurrency=4),
        "release": Sizes(iterations=1000, concurrency=4),
    },
    "exhaustion": {  # iterations = rounds of every exhaustion case; one worker (see stages/exhaustion.py)
        "smoke": Sizes(iterations=1, concurrency=1, watchdog_s=120),
        "quick": Sizes(iterations=2, concurrency=1),
        "release": Sizes(iterations=10, concurrency=1),
    },
    "locks": {  # iterations = executions; every worker contends for the same box
        "smoke": Sizes(iterations=16, concurrency=4),
        "quick": Sizes(iterations=100, concurrency=8),
        "release": Sizes(iterations=1000, concurrency=16),
    },
    "crash": {  # iterations = supervisor kills per phase; one worker (see stages/crash.py)
        "smoke": Sizes(iterations=1, concurrency=1),
        "quick": Sizes(iterations=3, concurrency=1),
        "release": Sizes(iterations=20, concurrency=1),
    },
    "faults": {  # iterations = rounds of a failure at every cleanup step; one worker (see stages/faults.py)
        "smoke": Sizes(iterations=1, concurrency=1),
        "quick": Sizes(iterations=3, concurrency=1),
        "release": Sizes(iterations=20, concurrency=1),
    },
    "state": {  # iterations = rounds of every corruption case; one worker; duration_s caps the stage
        "smoke": Sizes(iterations=1, concurrency=1, duration_s=120),
        "quick": Sizes(iterations=3, concurrency=1, duration_s=600),
        "release": Sizes(iterations=20, concurrency=1, duration_s=3600),
    },
    "isolation": {  # iterations = rounds of every hostile case
        "smoke": Sizes(iterations=1, concurrency=2),
        "quick": Sizes(iterations=3, concurrency=2),
        "release": Sizes(iterations=20, concurrency=4),
    },
}


def sizes_for(stage: str, profile: str, overrides: dict | None = None) -> Sizes:
    """The sizes of `stage` in `profile`, with command-line overrides (None values ignored)."""
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r} (choose from {', '.join(PROFILES)})")
    if profile not in _SIZES[stage]:
        raise UsageError(f"stage {stage} has no {profile} profile (choose from {', '.join(_SIZES[stage])})")
    given = check_overrides(overrides or {})
    return replace(_SIZES[stage][profile], **given)


def check_overrides(overrides: dict) -> dict:
    """The sizes given on the command line (None: not given), each within its bound (bounds.py).

    Zero is refused like any other count out of range: a run of 0 submissions measures nothing."""
    given = {k: v for k, v in overrides.items() if v is not None}
    limits = {
        "duration_s": ("--duration", 1, bounds.MAX_DURATION_S),
        "submissions": ("--submissions", 1, bounds.MAX_SUBMISSIONS),
        "iterations": ("--iterations", 1, bounds.MAX_ITERATIONS),
        "concurrency": ("--concurrency", 1, bounds.max_concurrency()),
        "grace_s": ("--grace", 0.1, 600),
    }
    for key, value in given.items():
        if key in limits:  # other keys come from code (tests), not from the command line
            flag, low, high = limits[key]
            bounds.check(flag, value, low, high)
    return given
