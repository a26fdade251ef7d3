"""A foreign process: one of ours placed in a target's cgroup, so removing that cgroup fails (EBUSY).

Plain (`in_cgroup`), the helper dies with any kill of the cgroup: a sandbox that kills everything in its
cgroup before removing it (the refbox does) is not hindered. Frozen (`frozen_in_cgroups`), it is also in
a cgroup v1 freezer cgroup of our own, FROZEN: a frozen task does not die from SIGKILL until thawed (the
signal stays pending; checked on Linux 6.18), so no kill empties the target's cgroup and its rmdir
fails with EBUSY for as long as the fault holds. cgroup v2 has no separate freezer hierarchy (its
freezer is cgroup.freeze of the same cgroup) and cgroup.kill kills frozen tasks too: there the frozen
fault is unavailable and callers fall back to a failpoint (`frozen_unavailable` says why).
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from reliability.nemesis import _proc

FREEZER_ROOT = "/sys/fs/cgroup/freezer"
FREEZE_TIMEOUT_S = 5.0  # FROZEN is reached within milliseconds for a sleeping helper
UNDO_TIMEOUT_S = 5.0


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


def frozen_unavailable(freezer_root: str = FREEZER_ROOT) -> str:
    """'' when a frozen foreign process can be made here, else why not."""
    if os.geteuid() != 0:
        return "a frozen foreign process needs root (cgroupfs writes)"
    if not os.path.isfile(os.path.join(freezer_root, "freezer.state")) and not os.path.isfile(
        os.path.join(freezer_root, "cgroup.procs")
    ):
        return (
            f"no cgroup v1 freezer hierarchy at {freezer_root} (cgroup v2: cgroup.kill kills frozen "
            "tasks, so a foreign process cannot outlive a kill of the cgroup)"
        )
    return ""


@contextmanager
def frozen_in_cgroups(cgroup_dirs: list[str], freezer_root: str = FREEZER_ROOT) -> Iterator[int]:
    """A helper in every one of `cgroup_dirs` (cgroup v1 directories, e.g. a box's memory, pids and
    cpuacct cgroups) and frozen in a freezer cgroup of its own; yields its pid.

    Undone in the finally, however the body is left (KeyboardInterrupt included): SIGKILL by pid, thaw,
    reap, remove the freezer cgroup. The target's cgroups are then empty and removable again."""
    why = frozen_unavailable(freezer_root)
    if why:
        raise OSError(errno.ENOTSUP, why)
    for d in cgroup_dirs:
        if not os.path.isfile(os.path.join(d, "cgroup.procs")):
            raise FileNotFoundError(f"no cgroup at {d}")
    freezer = os.path.join(freezer_root, f"reliability-fault-{os.getpid()}-{time.time_ns()}")
    proc: subprocess.Popen | None = None
    left_normally = False
    try:
        os.mkdir(freezer)
        proc = _proc.start_python(_proc.HOLD)
        for d in cgroup_dirs:
            _write(os.path.join(d, "cgroup.procs"), str(proc.pid))
        _write(os.path.join(freezer, "cgroup.procs"), str(proc.pid))
        _write(os.path.join(freezer, "freezer.state"), "FROZEN")
        _wait_for(lambda: _read(os.path.join(freezer, "freezer.state")) == "FROZEN", "freezer FROZEN")
        yield proc.pid
        left_normally = True
    finally:
        errors = _undo(proc, freezer)
        if errors and left_normally:  # never hide the exception (a Ctrl-C) that is leaving the body
            raise OSError(f"frozen foreign process not fully undone: {'; '.join(errors)}")


def _undo(proc: subprocess.Popen | None, freezer: str) -> list[str]:
    """Kill by pid, thaw, reap, remove the freezer cgroup; each part tried even if one before failed.

    (A pipeline SIGKILLed while the fault holds leaves the helper frozen: `reliability box recover`
    then fails on the box cgroup, naming the task, until someone thaws
    /sys/fs/cgroup/freezer/reliability-fault-*.)"""
    errors: list[str] = []
    if proc is not None:
        try:
            os.kill(proc.pid, signal.SIGKILL)  # pending while frozen: it dies the moment it thaws
        except ProcessLookupError:
            pass
    if os.path.isdir(freezer):
        try:
            _write(os.path.join(freezer, "freezer.state"), "THAWED")
        except OSError as e:
            errors.append(f"thaw {freezer}: {e}")
    if proc is not None:
        try:
            proc.wait(timeout=UNDO_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            errors.append(f"helper {proc.pid} did not die after thaw")
        else:
            if proc.stdout:
                proc.stdout.close()
    if os.path.isdir(freezer):
        try:
            _wait_for(lambda: not _rmdir_busy(freezer), f"freezer cgroup {freezer} removable")
        except (OSError, TimeoutError) as e:
            errors.append(f"remove {freezer}: {e}")
    return errors


def _rmdir_busy(path: str) -> bool:
    try:
        os.rmdir(path)
    except FileNotFoundError:
        return False
    except OSError as e:
        if e.errno == errno.EBUSY:
            return True  # the killed helper is still being released
        raise
    return False


def _wait_for(predicate, what: str, timeout: float = FREEZE_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"never happened: {what}")
        time.sleep(0.002)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)
