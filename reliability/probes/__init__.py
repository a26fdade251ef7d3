"""Host snapshots ("probes") and their diff: which resources a sandbox left behind.

    before = snapshot(owned, pipeline_pid, extra_pids)
    ...runs...
    leaks = diff(before, snapshot(owned, pipeline_pid, extra_pids), owned, pipeline_pid)

A snapshot (schemas/snapshot.schema.json) holds every process on the host, every mount of our
mount namespace, every directory of every mounted cgroup hierarchy (v1 and v2, found through
/proc/self/mountinfo), the open fds of the pipeline and of `extra_pids`, and the entries directly
under `owned.temp_roots` and `owned.box_root`.

Each leak is one line naming the item, e.g. "process 4242 (sleep) uid 60003 cgroup
memory:/refbox/box-3", "zombie 4243 (sh) uid 60003 parent 100", "mount tmpfs on /run/refbox/3",
"cgroup /sys/fs/cgroup/pids/refbox/box-3", "fd 7 -> /run/refbox/3/out (pid 100)",
"temp dir /run/refbox/3"; a noise line adds ": <the rule that excluded it>".

Rules: what counts as a leak, and what is noise (the host changing under other tools).
Only what is new in `after` is considered; what vanished is never a leak.

- Process identity is pid + start time (/proc starttime), so a reused pid is a new process.
- A new process is the sandbox's if ANY of these holds, and then it is a leak if alive (not a
  zombie) in `after`:
    1. its real uid is inside `owned.uid_range`;
    2. one of its cgroups (/proc/PID/cgroup, resolved through the mounted hierarchies) is one of
       `owned.cgroup_roots` or below one;
    3. it descends from `pipeline_pid` in `after` (parent chain). A process that double-forked
       away and now hangs from init is not covered by this rule, only by 1 and 2.
  Every other new process is noise, listed with that rule.
- Zombies are counted apart: a zombie that was not already a zombie in `before` is a leak if it is
  the sandbox's by the same rules (a child of the pipeline descends from it); otherwise noise.
- Mounts: a new mount under `owned.box_root`, `owned.temp_roots` or `owned.mount_roots` is a leak;
  a new mount elsewhere is noise (another sandbox or tool on the host: a target declares where its
  mounts live, so a second judge on the same host is not blamed on this one). Identity is (mount point, fstype, source) with multiplicity, so unmounting and mounting a box
  again at the same place is not new, and a second mount stacked on a first one is.
- Cgroups: a new directory below one of `owned.cgroup_roots` is a leak (the roots themselves
  never are); a new directory anywhere else is noise (systemd creates scopes all the time).
- Fds: a new (pid, fd, target) of the pipeline or of an extra pid is a leak. Only pids probed in
  both snapshots with the same start time are compared (others are noted as noise). The fd the
  probe opens to list /proc/PID/fd is closed before the fds are read, so it never counts.
- Temp: every new entry directly under the temp roots or the box root is a leak.
"""

from __future__ import annotations

from reliability.probes.diff import diff, validate_snapshot
from reliability.probes.leaks import LEAK_KINDS, Leaks
from reliability.probes.snapshot import snapshot

__all__ = ["LEAK_KINDS", "Leaks", "diff", "snapshot", "validate_snapshot"]
