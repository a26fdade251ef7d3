"""SIGKILL processes one by one, by pid, never a group: the pipeline ends only what it found."""

from __future__ import annotations

import os
import signal


def kill_each(pids: list[int]) -> list[int]:
    """SIGKILL each pid; the ones that were there to kill."""
    killed = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except ProcessLookupError:
            pass
    return killed
