"""What loaded the host besides the sandbox's own overhead: a timing check must not blame the sandbox
for it.

Two figures, each from what the history measured:
- other work over the whole run (the rate check): the host's busy CPU (stage_end's "cpu", from
  /proc/stat) less the run's own. The run's own is at least what its programs used, as the sandbox
  measured them (each result's cpu_s): the pipeline's rusage misses a program killed together with its
  box's init (a TLE), which no process the pipeline waits for reaps.
- the programs' load between two moments (the degradation check): the CPU the submissions themselves
  used in that span, as a share of the host. A late window that ran heavier programs than the early one
  is slower on a fixed host whatever the sandbox does; the sandbox's own overhead is never in it, so a
  sandbox that costs more with age is not excused by it.
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
    programs = sum(r["result"].get("cpu_s", 0.0) for r in history.results.values())
    return max(0.0, cpu["host_busy_s"] - max(cpu["run_s"], programs)) / cpu["capacity_s"]


def program_load(history: History, start: float, end: float) -> float | None:
    """The share of the host's CPU that the runs ending from `start` to `end` (epoch seconds) used, as
    the sandbox measured them; None when the history does not say how many CPUs the host has."""
    cpus = next((s["cpu"]["cpus"] for s in history.of_type("sample") if "cpu" in s), None)
    if not cpus or end <= start:
        return None
    used = sum(r["result"].get("cpu_s", 0.0) for r in history.results.values() if start <= r["ended"] <= end)
    return used / ((end - start) * cpus)
