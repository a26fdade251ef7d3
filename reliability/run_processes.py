"""The processes of a run, found by the run itself: every process a stage starts carries the run's id
in its environment (the fork server, its supervisors and their inits inherit it, as do helpers), so a
resumed or aborted run can end what its dead pipeline left without guessing by name or by parent.

The programs in the boxes run with an environment of their own; the target's recover finds those (by
box cgroup and box uid).
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

from reliability.environ import setenv

ENV = "RELIABILITY_RUN_ID"
END_WAIT_S = 10.0  # a SIGKILLed process is gone within this (a hang guard; D state aside)


def new_id() -> str:
    return secrets.token_hex(8)


@contextmanager
def marked(run_id: str) -> Iterator[None]:
    """While the stage runs, processes started from this one carry `run_id` (os.environ is what
    subprocess and fork pass on)."""
    with setenv(ENV, run_id):
        yield


def find(run_id: str) -> dict[int, str]:
    """pid -> command line of every live process carrying `run_id`, this process excepted."""
    needle = f"{ENV}={run_id}".encode()
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            with open(f"/proc/{entry}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[-1].split()[0] == b"Z":
                    continue  # a zombie is already dead; its parent reaps it
        except OSError:
            continue  # exited meanwhile, or a kernel thread
        found[int(entry)] = cmdline or "?"
    return found


def end(run_id: str) -> list[str]:
    """SIGKILL every process of the run (again, for those forked meanwhile) until none is left or
    END_WAIT_S passed; return what was ended, one 'pid N: command' each."""
    ended: dict[int, str] = {}
    deadline = time.monotonic() + END_WAIT_S
    while time.monotonic() < deadline:
        alive = find(run_id)
        if not alive:
            break
        for pid, cmdline in alive.items():
            try:
                os.kill(pid, signal.SIGKILL)
                ended.setdefault(pid, cmdline)
            except ProcessLookupError:
                pass
        time.sleep(0.02)
    return [f"pid {pid}: {cmdline}" for pid, cmdline in sorted(ended.items())]
