"""Sizes per profile: how much each stage does in smoke, quick and release runs.

smoke   every stage in well under two minutes in total: used by the tests and CI.
preprod the deploy check (.github/workflows/preprod.yml): every stage at least once on staging hosts, a
        few minutes in all. Smoke's sizes, stress a little longer, and the concurrent stage at 40 workers:
        a staging host is smaller than a judge host and 40 boxes is what it has to spare.
quick   the default, a person's first run: a few minutes.
release the plan's numbers (QA-REL-001): stress 3600 s and 10,000+ submissions, leaks 1000+ iterations.
soak    the plan's soak test: stress for 7 days at 1000 submissions an hour (resume it with --resume).
Each stage declares its sizes per profile next to it (Stage.sizes); every size can be overridden on the
command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

from reliability import bounds
from reliability.errors import UsageError

PROFILES = ("smoke", "preprod", "quick", "release", "soak")
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


def sizes_for(stage: str, table: Mapping[str, Sizes], profile: str, overrides: dict | None = None) -> Sizes:
    """The sizes of `stage` in `profile` from its table (each stage declares its own, next to it), with
    command-line overrides (None values ignored)."""
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r} (choose from {', '.join(PROFILES)})")
    if profile not in table:
        raise UsageError(f"stage {stage} has no {profile} profile (choose from {', '.join(table)})")
    given = check_overrides(overrides or {})
    return replace(table[profile], **given)


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
