"""SIGKILL a target's supervisor alone (not its process group) at one phase of a run.

Phase detection, per target:
  builtin (reports phases): the failpoint phase.<name>=pause is set in REFBOX_FAILPOINTS for this run
      only, so the supervisor holds at that phase; it is killed once supervisor_pid(box) is known and
      <state dir>/<box>/state.json says that phase. The environment is the process's: the stage that
      uses this runs one worker, so no other run sees the failpoint. Never reaching the phase is a
      failure: the pause guarantees it is reached.
  a described target (targets/command.py; reports no phases): the supervisor is the sandbox command
      the pipeline started for the box and waits on (supervisor_pid). The phase is observed from
      outside, polling every POLL_S:
        setup    the init command is running (init() is wrapped); killed at first sight, so a short
                 command may die before it made anything (the refbox script: before Python started);
        execute  a process is in the box (box_pids) while the run command runs;
        timeout  a process is still in the box once it has been seen there for the run's time limit
                 (CPU or wall, the shorter: a spinning program spends CPU as fast as wall time);
        cleanup  the cleanup command is running (cleanup() is wrapped); killed at first sight;
        verdict  not observable: the sandbox decides it inside its run command. Skipped, with that.
      A command can end before the poll sees it in the phase: then nothing is killed and `missed`
      says why; the crash check reports that phase skipped (no crash injected), never passed.
  isolate (a described target): the keeper is `isolate --run`, the run command; its inside process
      (the box's init) is a child of the keeper, in the box cgroup and uid, so found by both.
  a target without supervisor_pid: there is no supervisor to kill from outside (reason given).

Just before the kill, the supervisor's descendants are recorded (pid and start time, through
/proc/PID/task/TID/children): once it is dead they hang from init, where neither the box uid nor the
box cgroup need find them (the refbox script's orphaned supervisor runs as root in the pipeline's
cgroup). aftermath.left_behind reports those still alive.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from reliability.probes.host import read_process
from reliability.refbox import failpoints
from reliability.refbox.state import state_path
from reliability.targets.base import CleanupOutcome, Limits, Result, Target
from reliability.targets.delegate import Delegating

POLL_S = 0.002
GIVE_UP_S = 10.0  # past the wall limit: the phase was never reached (phase-reporting targets)
OBSERVED = ("setup", "execute", "timeout", "cleanup")  # by observation, for targets without phases
COMMAND_OF = {"setup": "init", "execute": "run", "timeout": "run", "cleanup": "cleanup"}


def cannot(target: Target, phase: str) -> str:
    """Why the supervisor of `target` cannot be killed at `phase` here ("" if it can)."""
    if not hasattr(target, "supervisor_pid"):
        return f"target {target.name} does not expose its supervisor's pid"
    if "phases" not in target.capabilities and phase not in OBSERVED:
        return (
            f"target {target.name} reports no phases and {phase} cannot be observed from outside "
            "(it happens inside the sandbox's run command)"
        )
    return ""


class KillAtPhase(Delegating):
    """Delegates to `inner`; while the call that holds `phase` runs, a thread kills the supervisor
    once it is at `phase` (run() for phase-reporting targets; init, run or cleanup by observation)."""

    def __init__(self, inner: Target, phase: str):
        super().__init__(inner)
        self.phase = phase
        self.observing = "phases" not in inner.capabilities
        self.killed: dict = {}  # pid, how the phase was seen, seconds into the call
        self.missed = ""  # observed phases: why nothing was killed (the command ended first)
        self.orphans: list[dict] = []  # the killed supervisor's descendants at the kill

    def init(self, box: int) -> None:
        if not (self.observing and self.phase == "setup"):
            return self.inner.init(box)
        with self._killing(box, None):
            return self.inner.init(box)

    def run(self, box: int, command: list[str], limits: Limits, files: dict[str, str]) -> Result:
        if self.observing and self.phase not in ("execute", "timeout"):
            return self.inner.run(box, command, limits, files)
        pause = "" if self.observing else f"phase.{self.phase}=pause"
        with failpoints.added(pause), self._killing(box, limits):
            return self.inner.run(box, command, limits, files)

    def cleanup(self, box: int) -> CleanupOutcome:
        if not (self.observing and self.phase == "cleanup"):
            return self.inner.cleanup(box)
        with self._killing(box, None):
            return self.inner.cleanup(box)

    @contextmanager
    def _killing(self, box: int, limits: Limits | None) -> Iterator[None]:
        if self.killed:  # once per execution
            yield
            return
        done = threading.Event()
        killer = threading.Thread(target=self._kill, args=(box, limits, done), daemon=True)
        killer.start()
        try:
            yield
        finally:
            done.set()
            killer.join()
            if self.observing and not self.killed and not self.missed:
                self.missed = f"the {COMMAND_OF[self.phase]} command ended before {self._sign()} was seen"

    def _sign(self) -> str:
        return {
            "setup": "it running",
            "cleanup": "it running",
            "execute": "a process in the box",
            "timeout": "a process in the box past the time limit",
        }[self.phase]

    def _kill(self, box: int, limits: Limits | None, done: threading.Event) -> None:
        start = time.monotonic()
        seen: dict = {}
        while not done.wait(POLL_S):
            elapsed = time.monotonic() - start
            if not self.observing and limits and elapsed > limits.wall_s + GIVE_UP_S:
                return
            pid = self.inner.supervisor_pid(box)  # type: ignore[attr-defined]
            how = (
                (self._observed(box, limits, seen) if self.observing else self._reported(box)) if pid else ""
            )
            if how:
                orphans = descendants(pid)
                try:
                    os.kill(pid, signal.SIGKILL)  # the supervisor alone, never its group
                except ProcessLookupError:
                    continue  # ended meanwhile: a later call may still be caught, or it is missed
                self.killed = {"pid": pid, "how": how, "after_s": round(elapsed, 3)}
                self.orphans = orphans
                return

    def _reported(self, box: int) -> str:
        path = state_path(self.inner.refbox.state_dir, box)  # type: ignore[attr-defined]
        try:
            with open(path, "rb") as f:
                seen = json.loads(f.read()).get("phase")
        except (OSError, ValueError):
            return ""  # between two atomic writes, or not there yet
        return f"state.json phase {seen}" if seen == self.phase else ""

    def _observed(self, box: int, limits: Limits | None, seen: dict) -> str:
        live = getattr(self.inner, "live_command", None)
        command = COMMAND_OF[self.phase]
        if live is not None and live(box) not in (None, command):
            return ""
        if self.phase in ("setup", "cleanup"):
            return f"observed: the {command} command running"
        if not self.inner.box_pids(box):
            return ""
        now = time.monotonic()
        first = seen.setdefault("first", now)
        if self.phase == "execute":
            return "observed: a process in the box"
        limit = min(limits.cpu_s, limits.wall_s) if limits else 0.0
        if now - first >= limit:
            return f"observed: a process in the box {now - first:.2f} s after it was first seen, limit {limit:g} s"
        return ""


def descendants(pid: int) -> list[dict]:
    """pid, name, uid and start time of every descendant of `pid` now (children files of its tasks)."""
    out: list[dict] = []
    todo, seen = [pid], {pid}
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{parent}/task/{tid}/children") as f:
                    children = [int(c) for c in f.read().split()]
            except (OSError, ValueError):
                continue
            for child in children:
                if child in seen:
                    continue
                seen.add(child)
                todo.append(child)
                proc = read_process(child)
                if proc is not None:
                    out.append({k: proc[k] for k in ("pid", "name", "uid", "starttime")} | {"parent": parent})
    return out
