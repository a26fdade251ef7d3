"""The registry of stages, by name."""

from __future__ import annotations

from reliability.errors import UsageError
from reliability.stages.base import Stage


def all_stages() -> dict[str, Stage]:
    from reliability.stages import leaks, stress

    return {s.name: s for s in (stress.STAGE, leaks.STAGE)}


def get(name: str) -> Stage:
    stages = all_stages()
    if name not in stages:
        raise UsageError(f"unknown stage {name!r} (choose from {', '.join(stages)})")
    return stages[name]
