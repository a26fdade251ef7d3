"""The registry of stages, by name."""

from __future__ import annotations

from reliability.errors import UsageError
from reliability.stages.base import Stage

# The names alone, for `run --help` without importing every stage (a test keeps it equal to all_stages)
NAMES = ("stress", "leaks", "concurrent", "isolation", "exhaustion", "locks", "crash", "faults", "state")


def all_stages() -> dict[str, Stage]:
    from reliability.stages import (
        concurrent,
        crash,
        exhaustion,
        faults,
        isolation,
        leaks,
        locks,
        state,
        stress,
    )

    stages = (stress.STAGE, leaks.STAGE, concurrent.STAGE, isolation.STAGE, exhaustion.STAGE, locks.STAGE)
    stages += (crash.STAGE, faults.STAGE, state.STAGE)
    return {s.name: s for s in stages}


def get(name: str) -> Stage:
    stages = all_stages()
    if name not in stages:
        raise UsageError(f"unknown stage {name!r} (choose from {', '.join(stages)}, or {ALL})")
    return stages[name]


ALL = "all"  # `reliability run all`: every stage, in the order above


def expand(names: list[str]) -> list[str]:
    """The stage names asked for, with "all" standing for every stage; each name once, in order."""
    every = list(all_stages())
    return list(dict.fromkeys(n for name in names for n in (every if name == ALL else [name])))
