"""SIGKILL a target's supervisor alone (not its process group) at one phase of a run.

Phase detection, per target:
  builtin (reports phases): the failpoint phase.<name>=pause is set in REFBOX_FAILPOINTS for this run
      only, so the supervisor holds at that phase; it is killed once supervisor_pid(box) is known and
      <state dir>/<box>/state.json says that phase. The environment is the process's: the stage that
      uses this runs one worker, so no other run sees the failpoint.
  a target that reports no phases but exposes supervisor_pid(box): by observation only:
      execute = a process is in the box (box_pids), timeout = still one there past the wall limit.
      setup, cleanup and verdict cannot be told apart from outside such a target: not killable.
  a target without supervisor_pid: there is no supervisor to kill from outside (reason given).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

from reliability.refbox import failpoints
from reliability.refbox.state import state_path
from reliability.targets.base import Limits, Result, Target
from reliability.targets.delegate import Delegating

POLL_S = 0.002
GIVE_UP_S = 10.0  # past the wall limit: the phase was never reached
OBSERVABLE = ("execute", "timeout")


def cannot(target: Target, phase: str) -> str:
    """Why the supervisor of `target` cannot be killed at `phase` here ("" if it can)."""
    if not hasattr(target, "supervisor_pid"):
        return f"target {target.name} does not expose its supervisor's pid"
    if "phases" not in target.capabilities and phase not in OBSERVABLE:
        return f"target {target.name} reports no phases and {phase} cannot be observed from outside"
    return ""


class KillAtPhase(Delegating):
    """Delegates to `inner`; during run() a thread kills the supervisor once it is at `phase`."""

    def __init__(self, inner: Target, phase: str):
        super().__init__(inner)
        self.phase = phase
        self.killed: dict = {}  # pid, phase seen, how, seconds into the run

    def run(self, box: int, command: list[str], limits: Limits, files: dict[str, str]) -> Result:
        done = threading.Event()
        killer = threading.Thread(target=self._kill, args=(box, limits, done), daemon=True)
        pause = f"phase.{self.phase}=pause" if "phases" in self.capabilities else ""
        with failpoints.added(pause):
            killer.start()
            try:
                return self.inner.run(box, command, limits, files)
            finally:
                done.set()
                killer.join()

    def _kill(self, box: int, limits: Limits, done: threading.Event) -> None:
        start = time.monotonic()
        while not done.wait(POLL_S):
            elapsed = time.monotonic() - start
            if elapsed > limits.wall_s + GIVE_UP_S:
                return
            pid = self.inner.supervisor_pid(box)  # type: ignore[attr-defined]
            how = self._at_phase(box, limits, elapsed) if pid else ""
            if how:
                try:
                    os.kill(pid, signal.SIGKILL)  # the supervisor alone, never its group
                except ProcessLookupError:
                    return
                self.killed = {"pid": pid, "how": how, "after_s": round(elapsed, 3)}
                return

    def _at_phase(self, box: int, limits: Limits, elapsed: float) -> str:
        if "phases" in self.capabilities:
            path = state_path(self.inner.refbox.state_dir, box)  # type: ignore[attr-defined]
            try:
                with open(path, "rb") as f:
                    seen = json.loads(f.read()).get("phase")
            except (OSError, ValueError):
                return ""  # between two atomic writes, or not there yet
            return f"state.json phase {seen}" if seen == self.phase else ""
        running = bool(self.inner.box_pids(box))
        if self.phase == "execute" and running:
            return "observed: a process in the box"
        if self.phase == "timeout" and running and elapsed > limits.wall_s:
            return f"observed: a process in the box {elapsed:.1f} s into a {limits.wall_s:g} s limit"
        return ""
