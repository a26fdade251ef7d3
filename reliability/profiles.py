"""Sizes per profile: how much each stage does in smoke, quick and release runs.

smoke   every stage in well under two minutes in total: used by the tests and CI.
quick   the default, a person's first run: a few minutes.
release the plan's numbers (QA-REL-001): stress 3600 s and 10,000+ submissions, leaks 1000+ iterations.
Every size can be overridden on the command line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from reliability.errors import UsageError

PROFILES = ("smoke", "quick", "release")
DEFAULT_PROFILE = "quick"


@dataclass(frozen=True)
class Sizes:
    submissions: int = 0  # stress: at least this many submissions ...
    duration_s: float = 0.0  # ... and at least this long (both must be reached)
    iterations: int = 0  # leaks: executions across the four endings
    concurrency: int = 2  # worker threads, one box each
    ranges: str = "default"  # limit ranges preset of the workload generator ("fast" for smoke)

    def to_dict(self) -> dict:
        return asdict(self)


_SIZES: dict[str, dict[str, Sizes]] = {
    "stress": {
        "smoke": Sizes(submissions=60, concurrency=2, ranges="fast"),
        "quick": Sizes(submissions=400, concurrency=4),
        "release": Sizes(submissions=10_000, duration_s=3600, concurrency=4),
    },
    "leaks": {
        "smoke": Sizes(iterations=40, concurrency=2, ranges="fast"),
        "quick": Sizes(iterations=200, concurrency=4),
        "release": Sizes(iterations=1000, concurrency=4),
    },
}


def sizes_for(stage: str, profile: str, overrides: dict | None = None) -> Sizes:
    """The sizes of `stage` in `profile`, with command-line overrides (None values ignored)."""
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r} (choose from {', '.join(PROFILES)})")
    sizes = _SIZES[stage][profile]
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    for key, value in given.items():
        if isinstance(value, (int, float)) and value < 0:
            raise UsageError(f"--{key.replace('_', '-')} must not be negative (got {value})")
    if given.get("concurrency") == 0:
        raise UsageError("--concurrency must be at least 1")
    return replace(sizes, **given)
