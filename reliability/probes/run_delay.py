"""How long a command's processes waited for a CPU: /proc/PID/schedstat's run-queue time, summed over
the command's process tree (each process at the most it was seen with, so one that ended still counts).

A hang guard measures wall time; on a saturated host (100 CLI sandbox calls on 2 cores) a healthy
command spends most of it waiting for a CPU, and would be killed as hung. A hung command (blocked on a
lock, a pipe, a dead peer) waits for no CPU: this stays near zero for it, and the guard fires on time.
"""

from __future__ import annotations

import os

from reliability.probes.proc_stat import process_stat


def _run_delay_s(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):  # gone, or a kernel without schedstat
        return None


def _tree(root: int) -> list[int]:
    """`root` and its descendants, through /proc/PID/task/TID/children (a few reads per process)."""
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                    todo.extend(int(c) for c in f.read().split())
            except (OSError, ValueError):
                continue
    return out


class RunDelay:
    """The run-queue wait of `root`'s tree so far; update() reads it again and returns the total."""

    def __init__(self, root: int):
        self.root = root
        self._seen: dict[tuple[int, int], float] = {}  # (pid, starttime): a reused pid is another process

    def update(self) -> float:
        for pid in _tree(self.root):
            st, delay = process_stat(pid), _run_delay_s(pid)
            if st is not None and delay is not None:
                key = (pid, st["starttime"])
                self._seen[key] = max(self._seen.get(key, 0.0), delay)
        return sum(self._seen.values())
