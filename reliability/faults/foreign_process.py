"""A foreign process: one of ours placed in a target's cgroup, so removing that cgroup fails (EBUSY)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from reliability.faults import _proc


@contextmanager
def in_cgroup(cgroup_dir: str) -> Iterator[int]:
    """Move a sleeping helper into `cgroup_dir` (an absolute cgroupfs directory); yields its pid.

    Killing it on exit is enough: a dead process leaves the cgroup, so the target can remove it again."""
    procs = os.path.join(cgroup_dir, "cgroup.procs")
    if not os.path.isfile(procs):
        raise FileNotFoundError(f"no cgroup at {cgroup_dir}")
    proc = _proc.start_python(_proc.HOLD)
    try:
        with open(procs, "w") as f:
            f.write(str(proc.pid))
        yield proc.pid
    finally:
        _proc.stop(proc)
