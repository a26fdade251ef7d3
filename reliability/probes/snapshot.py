"""snapshot(): one picture of the host's resources, as a JSON-serialisable dict.

The shape is schemas/snapshot.schema.json; diff() compares two of them.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Iterable

from reliability.errors import UsageError
from reliability.probes import host
from reliability.sandbox_values import Owned

SNAPSHOT_VERSION = 1


def snapshot(owned: Owned, pipeline_pid: int, extra_pids: Iterable[int] = ()) -> dict:
    """Processes, mounts, cgroups, fds of the pipeline and `extra_pids`, and temp entries, now.

    `extra_pids` are long-lived sandbox processes whose fds matter; one that has ended is skipped.
    """
    if not os.path.isdir(f"{host.PROC}/{pipeline_pid}"):
        raise UsageError(f"pipeline pid {pipeline_pid} is not a running process")
    taken_at = time.time()
    pids = list(dict.fromkeys([pipeline_pid, *extra_pids]))  # ordered, without repeats
    first = {pid: host.read_fds(pid) for pid in pids}
    mounts = host.read_mountinfo()
    hierarchies = host.cgroup_hierarchies(mounts)
    processes = host.read_processes()
    cgroups = host.walk_cgroups(hierarchies)
    # The fds read again, once the rest was read: only those open both times count. The pipeline's
    # other threads open files for a moment (the sampler reads /proc/stat, and its own /proc/PID/stat
    # through psutil): one caught open by a single read was reported as a leaked or a gone fd.
    fds: list[dict] = []
    fd_pids: list[int] = []
    for pid in pids:
        again = host.read_fds(pid)
        if first[pid] is not None and again is not None:
            fd_pids.append(pid)
            fds.extend(d for d in again if d in first[pid])
    temp_roots = list(dict.fromkeys([*owned.temp_roots, owned.box_root]))
    return {
        "version": SNAPSHOT_VERSION,
        "taken_at": taken_at,
        "boot_id": host.boot_id(),
        "pipeline_pid": pipeline_pid,
        "processes": processes,
        "mounts": [{k: m[k] for k in ("id", "parent", "mount_point", "fstype", "source")} for m in mounts],
        "hierarchies": hierarchies,
        "cgroups": cgroups,
        "fd_pids": fd_pids,
        "fds": fds,
        "temp_roots": temp_roots,
        "temp": host.list_entries(temp_roots),
        # this run's box directories wherever they are (box cgroups are among "cgroups" already)
        "box_paths": sorted(p for pattern in owned.box_paths for p in glob.glob(pattern) if os.path.isdir(p)),
    }
