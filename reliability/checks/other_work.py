"""How much of the host's CPU work outside the run took: a timing check must not blame the sandbox for it.

The whole run's share comes from stage_end's "cpu" (the rate check). A share between two moments comes
from the samples, each carrying the host's busy CPU seconds and the run's own (probes/host_cpu.py), so a
slowdown late in a run can be set against what other work did early and late (the degradation check).
"""

from __future__ import annotations

from reliability.history import History

# Above this share of the host's CPU taken by other work, a rate below the target is the host's, not
# the sandbox's: skipped with that reason. A rate at or above the target passes whatever the host did.
OTHER_WORK_MAX = 0.25


def whole_run(history: History) -> float:
    """The share of the host's CPU capacity that work outside this run took (0 when not recorded)."""
    cpu = (history.stage_end or {}).get("cpu")
    if not cpu or cpu["capacity_s"] <= 0:
        return 0.0
    return max(0.0, cpu["host_busy_s"] - cpu["run_s"]) / cpu["capacity_s"]


def between(history: History, start: float, end: float) -> float | None:
    """The share other work took from the last sample at or before `start` to the first at or after
    `end` (epoch seconds), or the nearest samples inside; None when the samples carry no CPU figures
    or none span a moment between the two."""
    timed = [s for s in history.of_type("sample") if "cpu" in s]
    if not timed:
        return None
    before = [s for s in timed if s["t"] <= start]
    after = [s for s in timed if s["t"] >= end]
    a, b = (before[-1] if before else timed[0]), (after[0] if after else timed[-1])
    wall = b["t"] - a["t"]
    busy = b["cpu"]["host_busy_s"] - a["cpu"]["host_busy_s"]
    own = b["cpu"]["run_s"] - a["cpu"]["run_s"]
    if wall <= 0 or own < 0:  # a resumed run's process counts its own CPU from zero again
        return None
    return max(0.0, busy - own) / (wall * a["cpu"]["cpus"])
