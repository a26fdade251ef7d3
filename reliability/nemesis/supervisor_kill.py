"""SIGKILL a target's supervisor alone (not its process group) at one phase of a run.

Phase detection, per target:
  builtin (reports phases): the failpoint phase.<name>=pause is set in REFBOX_FAILPOINTS for this run
      only, so the supervisor holds at that phase; it is killed once supervisor_pid(box) is known and
      the target reports that phase (PhaseReporting: the refbox reads its state.json). The
      environment is the process's: the stage that uses this runs one worker, so no other run sees
      the failpoint. Never reaching the phase is a failure: the pause guarantees it is reached.
  a described target (targets/command.py; reports no phases): the supervisor is the sandbox command
      the pipeline started for the box and waits on (supervisor_pid). The phase is observed from
      outside, polling every POLL_S:
        setup    the init command is running (init() is wrapped); started stopped, see below;
        execute  a process is in the box (box_pids) while the run command runs;
        timeout  a process is still in the box once it has been seen there for NEAR_LIMIT of the
                 run's time limit (CPU or wall, the shorter: a spinning program spends CPU as fast
                 as wall time). Not the whole limit: a sandbox that enforces it ends the program
                 right at it, so an observer that waits for all of it races the kill and, seeing
                 the box late by a poll, misses the phase (CI failed on it; here once in eight runs);
        cleanup  the cleanup command is running (cleanup() is wrapped); started stopped, as setup;
        verdict  not observable: the sandbox decides it inside its run command. Skipped, with that.
      setup and cleanup are started stopped (paused_start: the command stops itself before it execs),
      resumed, and killed DELAYS_MS[iteration] later, so a fast command (isolate --init takes a few
      ms) is still hit; where each kill landed (before exec, mid-command, after it ended) is recorded.
      A command can end before the kill: then nothing is killed and `missed` says why; the crash
      check reports that phase skipped (no crash injected), never passed.
  isolate (a described target): the keeper is `isolate --run`, the run command; its inside process
      (the box's init) is a child of the keeper, in the box cgroup and uid, so found by both.
  a target without supervisor_pid: there is no supervisor to kill from outside (reason given).

Just before the kill, the supervisor's descendants are recorded (pid and start time, through
/proc/PID/task/TID/children): once it is dead they hang from init, where neither the box uid nor the
box cgroup need find them (the refbox script's orphaned supervisor runs as root in the pipeline's
cgroup). aftermath.left_behind reports those still alive.

Observe before you act: after the kill, those descendants and every process in the box are watched
for `grace_s` (CPU time and how long each lives) and recorded in `after_kill`, and until then
nothing of the execution is killed or cleaned by the pipeline: the target's hang guard is held
(hold_kills) and cleanup() waits. A sandbox whose program runs on unbounded once its supervisor is
dead (isolate 1.x's keeper enforces the limits) shows it there, not after the pipeline tidied up.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from reliability.probes.host import read_process
from reliability.probes.proc_stat import TICKS, process_stat, uptime_s
from reliability.refbox import failpoints
from reliability.targets.base import CleanupOutcome, Limits, Result, Target
from reliability.targets.capabilities import CommandDriven, PhaseReporting, Supervised, capability
from reliability.targets.delegate import Delegating

POLL_S = 0.002
WATCH_POLL_S = 0.05  # after the kill: how often the survivors are looked at
GIVE_UP_S = 10.0  # past the wall limit: the phase was never reached (phase-reporting targets)
# How far into its time limit the timeout phase's program is when its supervisor is killed: late
# enough that the program is spinning towards the limit, early enough to beat a prompt enforcement.
NEAR_LIMIT = 0.5
STOP_WAIT_S = 5.0  # a command started stopped that never stops itself: given up on
OBSERVED = ("setup", "execute", "timeout", "cleanup")  # by observation, for targets without phases
COMMAND_OF = {"setup": "init", "execute": "run", "timeout": "run", "cleanup": "cleanup"}
# Kill delays after a paused command is resumed, one per iteration in turn: a spread, so that across
# iterations the kill lands early, mid-way and late in a command of any speed.
DELAYS_MS = (0.5, 0.25, 1.0, 0.0, 2.0, 0.1, 4.0, 8.0)


def cannot(target: Target, phase: str) -> str:
    """Why the supervisor of `target` cannot be killed at `phase` here ("" if it can)."""
    if capability(target, Supervised) is None:
        return f"target {target.name} does not expose its supervisor's pid"
    if capability(target, PhaseReporting) is None and phase not in OBSERVED:
        return (
            f"target {target.name} reports no phases and {phase} cannot be observed from outside "
            "(it happens inside the sandbox's run command)"
        )
    return ""


class KillAtPhase(Delegating):
    """Delegates to `inner`; while the call that holds `phase` runs, a thread kills the supervisor
    once it is at `phase` (run() for phase-reporting targets; init, run or cleanup by observation),
    then watches what it left for `grace_s` before the pipeline may touch it."""

    def __init__(self, inner: Target, phase: str, grace_s: float = 2.0, iteration: int = 0):
        super().__init__(inner)
        self.phase = phase
        self.grace_s = grace_s
        self.delay_ms = DELAYS_MS[iteration % len(DELAYS_MS)]
        self.supervised = capability(inner, Supervised)
        self.reporting = capability(inner, PhaseReporting)
        self.commands = capability(inner, CommandDriven)
        self.observing = self.reporting is None
        self.killed: dict = {}  # pid, how the phase was seen, seconds into the call
        self.missed = ""  # observed phases: why nothing was killed (the command ended first)
        self.orphans: list[dict] = []  # the killed supervisor's descendants at the kill
        self.after_kill: dict = {}  # what lived on after the kill, watched for grace_s
        self.observed = threading.Event()  # set once after_kill is recorded, or nothing was killed
        self._call_start = 0.0

    def init(self, box: int) -> None:
        if not (self.observing and self.phase == "setup"):
            return self.inner.init(box)
        with self._killing(box, None, paused="init"):
            return self.inner.init(box)

    def run(self, box: int, command: list[str], limits: Limits, files: dict[str, str]) -> Result:
        if self.observing and self.phase not in ("execute", "timeout"):
            return self.inner.run(box, command, limits, files)
        pause = "" if self.observing else f"phase.{self.phase}=pause"
        # Judged against what the sandbox enforces (a target may scale time limits for a slow host).
        with failpoints.added(pause), self._killing(box, self.inner.enforced(limits)):
            return self.inner.run(box, command, limits, files)

    def cleanup(self, box: int) -> CleanupOutcome:
        if not (self.observing and self.phase == "cleanup"):
            self.observed.wait(self.grace_s + 10.0)  # observe before the pipeline cleans anything up
            return self.inner.cleanup(box)
        with self._killing(box, None, paused="cleanup"):
            return self.inner.cleanup(box)

    @contextmanager
    def _killing(self, box: int, limits: Limits | None, paused: str = "") -> Iterator[None]:
        if self.killed:  # once per execution
            yield
            return
        with ExitStack() as stack:
            stack.enter_context(self.inner.hold_kills(box, self.observed))
            resumable = stack.enter_context(self.inner.paused_start(box, paused)) if paused else False
            done = threading.Event()
            killer = threading.Thread(
                target=self._kill, args=(box, limits, done, resumable), daemon=True, name="kill-at-phase"
            )
            self._call_start = time.monotonic()
            killer.start()
            try:
                yield
            finally:
                done.set()
                killer.join()
                self.observed.set()
                if self.observing and not self.killed and not self.missed:
                    self.missed = f"the {COMMAND_OF[self.phase]} command ended before {self._sign()} was seen"

    def _sign(self) -> str:
        return {
            "setup": "it running",
            "cleanup": "it running",
            "execute": "a process in the box",
            "timeout": f"a process in the box for {NEAR_LIMIT:.0%} of the time limit",
        }[self.phase]

    def _kill(self, box: int, limits: Limits | None, done: threading.Event, resumable: bool) -> None:
        if resumable:
            return self._kill_resumed(box, done)
        start = self._call_start
        seen: dict = {}
        while not done.wait(POLL_S):
            elapsed = time.monotonic() - start
            if not self.observing and limits and elapsed > limits.wall_s + GIVE_UP_S:
                return
            pid = self.supervised.supervisor_pid(box)
            how = (
                (self._observed(box, limits, seen) if self.observing else self._reported(box)) if pid else ""
            )
            if how and self._kill_now(pid, {"how": how}):
                self._watch(box, limits)
                return

    def _kill_resumed(self, box: int, done: threading.Event) -> None:
        """The command was started stopped: resume it and kill it `delay_ms` later, noting where it was."""
        command = COMMAND_OF[self.phase]
        deadline = time.monotonic() + STOP_WAIT_S
        pid = None
        while time.monotonic() < deadline and not done.is_set():
            pid = self.supervised.supervisor_pid(box)
            st = process_stat(pid) if pid else None
            if st and st["state"] == "T":
                break
            time.sleep(POLL_S / 2)
        else:
            self.missed = f"the {command} command was never seen stopped before it began"
            return
        os.kill(pid, signal.SIGCONT)
        # The delay counts from the exec, not from SIGCONT: waking the shell costs more than a fast
        # command's whole run on a busy host. Busy waits: a sub-millisecond sleep overshoots by far.
        resumed = time.monotonic()
        while (landed := _where(pid)) == "before exec" and time.monotonic() - resumed < STOP_WAIT_S:
            pass
        began = time.monotonic()
        while (waited := time.monotonic() - began) < self.delay_ms / 1000:
            pass
        landed = _where(pid) if landed == "mid-command" else landed
        if landed == "after it ended":
            self.missed = f"the {command} command ended within {self.delay_ms:g} ms of its start"
            return
        how = f"{self.delay_ms:g} ms into the {command} command: {landed}"
        if self._kill_now(pid, {"how": how, "delay_ms": self.delay_ms, "landed": landed, "waited_s": waited}):
            self._watch(box, None)

    def _kill_now(self, pid: int, facts: dict) -> bool:
        orphans = descendants(pid)
        try:
            os.kill(pid, signal.SIGKILL)  # the supervisor alone, never its group
        except ProcessLookupError:
            return False  # ended meanwhile: a later call may still be caught, or it is missed
        self.killed = {"pid": pid, **facts, "after_s": round(time.monotonic() - self._call_start, 3)}
        self.orphans = orphans
        return True

    def _watch(self, box: int, limits: Limits | None) -> None:
        """Follow the orphans and the box's processes for grace_s after the kill; then let go."""
        killed_at = time.monotonic()
        tracked: dict[tuple[int, int], dict] = {}
        for o in self.orphans:
            _track(tracked, o["pid"], o)
        while True:
            for pid in self.inner.box_pids(box):
                _track(tracked, pid)
            now, since_boot = time.monotonic(), uptime_s()
            for proc in tracked.values():
                st = process_stat(proc["pid"])
                if st and st["starttime"] == proc["starttime"] and st["state"] not in ("Z", "X"):
                    proc["cpu_s"] = st["cpu_s"]
                    proc["alive_s"] = round(now - killed_at, 3)
                    proc["age_s"] = round(since_boot - st["starttime"] / TICKS, 3)  # its own wall time
                    proc["alive_at_end"] = True
                else:
                    proc["alive_at_end"] = False
            if now - killed_at >= self.grace_s:
                break
            time.sleep(WATCH_POLL_S)
        self.after_kill = {
            "grace_s": self.grace_s,
            "run_s_at_kill": round(killed_at - self._call_start, 3),
            "limits": limits.to_dict() if limits else None,
            "processes": sorted(tracked.values(), key=lambda p: p["pid"]),
        }
        self.observed.set()

    def _reported(self, box: int) -> str:
        seen = self.reporting.phase(box)
        return f"reported phase {seen}" if seen == self.phase else ""

    def _observed(self, box: int, limits: Limits | None, seen: dict) -> str:
        command = COMMAND_OF[self.phase]
        if self.commands is not None and self.commands.live_command(box) not in (None, command):
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
        if now - first >= NEAR_LIMIT * limit:
            return f"observed: a process in the box {now - first:.2f} s after it was first seen, limit {limit:g} s"
        return ""


def _where(pid: int) -> str:
    """Where a resumed command is: still the stopped shell (before exec), running, or ended."""
    st = process_stat(pid)
    if st is None or st["state"] in ("Z", "X"):
        return "after it ended"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return "after it ended"
    return "before exec" if argv[:3] == [b"/bin/sh", b"-c", b'kill -STOP $$ && exec "$@"'] else "mid-command"


def _main_cgroup(lines: list[str]) -> str:
    """The memory (v1) or unified (v2) line of /proc/PID/cgroup: where a sandbox puts its boxes."""
    for line in lines:
        if ":memory:" in line or line.startswith("0::"):
            return line.split(":", 1)[1]
    return lines[0].split(":", 1)[1] if lines else ""


def _track(tracked: dict, pid: int, known: dict | None = None) -> None:
    """Start following `pid` (identity: pid and start time), with its CPU time now."""
    st = process_stat(pid)
    if st is None or (known and st["starttime"] != known["starttime"]):
        return
    key = (pid, st["starttime"])
    if key in tracked:
        return
    proc = read_process(pid)
    tracked[key] = {
        "pid": pid,
        "name": st["name"],
        "uid": proc["uid"] if proc else -1,
        "cgroup": _main_cgroup(proc["cgroups"]) if proc else "",
        "starttime": st["starttime"],
        "cpu_at_kill": st["cpu_s"],
        "cpu_s": st["cpu_s"],
        "alive_s": 0.0,
        "age_s": round(uptime_s() - st["starttime"] / TICKS, 3),
        "alive_at_end": True,
    }


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
