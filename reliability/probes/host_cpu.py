"""The host's busy CPU time and this run's own CPU time, to tell how much of the host other work took.

A rate measured while other work held the host's CPUs is the host's rate, not the sandbox's. The run's
own share is the pipeline's CPU time plus that of every descendant reaped (the sandbox's commands,
supervisors and programs: each waited for by its parent, up to the pipeline); the host's is
/proc/stat's busy time over all CPUs.
"""

from __future__ import annotations

import os
import resource

TICKS = os.sysconf("SC_CLK_TCK")
IDLE_FIELDS = (3, 4)  # idle and iowait, of: user nice system idle iowait irq softirq steal ...


def cpu_now() -> dict:
    """{"host_busy_s", "run_s", "cpus"}: seconds of CPU the host has spent busy since boot, this process
    with its reaped descendants since it started, and the host's CPUs."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:9]]
    busy = sum(v for i, v in enumerate(fields) if i not in IDLE_FIELDS) / TICKS
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    run = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    return {"host_busy_s": round(busy, 3), "run_s": round(run, 3), "cpus": os.cpu_count() or 1}


def spent(start: dict, end: dict, wall_s: float) -> dict:
    """What a stage's segment took: the host's busy CPU seconds, this run's, and the host's capacity."""
    return {
        "host_busy_s": round(end["host_busy_s"] - start["host_busy_s"], 3),
        "run_s": round(end["run_s"] - start["run_s"], 3),
        "capacity_s": round(wall_s * (os.cpu_count() or 1), 3),
    }
