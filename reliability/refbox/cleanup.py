"""Cleanup of one box as ordered steps, each verified afterwards and retried with a bounded backoff.

kill (through the cgroup) -> reap -> close fds -> unmount -> remove cgroup -> remove temp dirs.
Fds are closed before the unmount, not after: an fd open in the tmpfs would keep it busy. The fds
checked are the ones the refbox opened into the box (recorded where box.py opens them), not every fd of
the pipeline: reading the target of each of a busy pipeline's ~700 fds twice per cleanup was a tenth of
all its CPU. Nothing is lost: an fd into the box opened by anything else keeps the tmpfs busy, so the
unmount step fails and the box is quarantined; recover still scans every fd (fds_into); and the leak
probes (reliability/probes) look at every fd of the pipeline on their own. The first
step that still fails after its retries stops the cleanup: later steps would act on a box in an
unknown state (removing files from a tmpfs still mounted, say). The caller quarantines the box.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from reliability.refbox import failpoints, mounts
from reliability.refbox.cgroups import CgroupError
from reliability.sandbox_values import TargetError

if TYPE_CHECKING:
    from reliability.refbox.box import Refbox

ATTEMPTS = 3
BACKOFF_S = 0.02  # doubled after each failed attempt: 20 ms, 40 ms; a just-killed task frees its cwd fast
REAP_TIMEOUT_S = 2.0
OCCUPIED_GRACE_S = 0.2  # a SIGKILLed task leaves its cgroup within milliseconds unless something holds it
STEP_NAMES = ("kill", "reap", "close fds", "unmount", "remove cgroup", "remove temp dirs")
FAILURES = (OSError, CgroupError, TargetError, failpoints.FailpointError)


def cgroup_subtree(refbox: Refbox, rel: str) -> list[str]:
    """`rel` and every cgroup below it, deepest first: the order to empty and remove them in."""
    out: list[str] = []
    for child in refbox.cgroups.children(rel):
        out += cgroup_subtree(refbox, f"{rel}/{child}")
    return out + [rel]


def run_steps(refbox: Refbox, box: int) -> list[dict]:
    """Every step up to the first that fails for good: [{"name", "ok", "error", "attempts"}]."""
    killed: list[int] = []
    actions: dict[str, Callable[[], None]] = {
        "kill": lambda: killed.extend(kill(refbox, box)),
        "reap": lambda: wait_gone(killed),
        "close fds": lambda: close_box_fds(refbox, box),
        "unmount": lambda: unmount_box(refbox, box),
        "remove cgroup": lambda: remove_cgroups(refbox, box),
        "remove temp dirs": lambda: refbox._remove_box_dir(box),
    }
    points = failpoints.active()
    report = []
    for name in STEP_NAMES:
        step = {"name": name, "ok": False, "error": "", "attempts": 0}
        report.append(step)
        for attempt in range(ATTEMPTS):
            step["attempts"] = attempt + 1
            try:
                failpoints.hit("cleanup." + name.replace(" ", "_"), points)
                actions[name]()
                step.update(ok=True, error="")
                break
            except FAILURES as e:
                step["error"] = str(e) or type(e).__name__
                if attempt + 1 < ATTEMPTS:
                    time.sleep(BACKOFF_S * 2**attempt)
        if not step["ok"]:
            break
    return report


def kill(refbox: Refbox, box: int) -> list[int]:
    """SIGKILL everything in the box's cgroups; returns the box's processes killed (for the reap step).

    Verified: no task left in the cgroups below the box cgroup (the run cgroup, where every box process
    is born and which it cannot leave). A task directly in the box cgroup itself was put there from
    outside by root (a foreign process): it gets its SIGKILL too, but it is not the box's to wait for
    or reap. One that outlives its SIGKILL (frozen by a freezer cgroup, say) keeps the cgroup busy, and
    the "remove cgroup" step names it.
    """
    killed: list[int] = []
    top = refbox.box_cgroup(box)
    groups = cgroup_subtree(refbox, top) if refbox.cgroups.exists(top) else []
    for rel in groups:
        if rel == top:
            _signal_all(refbox.cgroups.pids(rel))
        else:
            killed += refbox.cgroups.kill_all(rel)
    left = {rel: refbox.cgroups.pids(rel) for rel in groups if rel != top}
    left = {rel: pids for rel, pids in left.items() if pids}
    if left:
        raise TargetError(f"tasks left after kill: {left}")
    return killed


def _signal_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_gone(pids: list[int], timeout: float = REAP_TIMEOUT_S) -> None:
    """Wait until killed processes are reaped (reaping our own children); verified via /proc."""
    deadline = time.monotonic() + timeout
    pending = list(pids)
    while pending:
        for pid in list(pending):
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            if not os.path.exists(f"/proc/{pid}"):
                pending.remove(pid)
        if pending and time.monotonic() > deadline:
            raise TargetError(f"processes not reaped: {pending}")
        if pending:
            time.sleep(0.002)


def fds_into(directory: str, pid: int | str = "self") -> list[int]:
    """This process's fds whose target is `directory` or below (readlink: never follows into it)."""
    prefix = directory.rstrip("/") + "/"
    found = []
    base = f"/proc/{pid}/fd"
    for name in os.listdir(base):
        try:
            target = os.readlink(f"{base}/{name}")
        except OSError:
            continue  # the listing's own fd, or one closed meanwhile
        if target == directory or target.startswith(prefix):
            found.append(int(name))
    return found


def _fd_into(fd: int, directory: str) -> bool:
    """Whether this process's `fd` is open, on `directory` or below it."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return False  # closed
    return target == directory or target.startswith(directory.rstrip("/") + "/")


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError as e:
        if e.errno != errno.EBADF:
            raise


def close_box_fds(refbox: Refbox, box: int) -> None:
    """Close the fds the refbox recorded as open into box `box`; verified: none of them is left open
    into the box. One still open stays recorded, so the next attempt retries it and the error names it.
    (A test makes this step fail by recording an fd into the box whose close does not happen.)"""
    directory = refbox.box_dir(box)
    recorded = refbox.take_box_fds(box)
    for fd in recorded:
        if _fd_into(fd, directory):
            _close(fd)
    left = [fd for fd in recorded if _fd_into(fd, directory)]
    for fd in left:
        refbox.track_box_fd(box, fd)
    if left:
        raise TargetError(f"fds still open into {directory}: {left}")


def close_fds_into(directory: str) -> None:
    for fd in fds_into(directory):
        try:
            os.close(fd)
        except OSError as e:
            if e.errno != errno.EBADF:
                raise
    left = fds_into(directory)
    if left:
        raise TargetError(f"fds still open into {directory}: {left}")


def unmount_box(refbox: Refbox, box: int) -> None:
    """Unmount the box tmpfs (stacked copies too); a busy one or one with a mount inside fails here."""
    path = refbox.box_dir(box)
    for _ in range(8):
        if not mounts.is_mounted(path):
            return
        mounts.unmount(path)
    if mounts.is_mounted(path):
        raise TargetError(f"{path} is still mounted")


def remove_cgroups(refbox: Refbox, box: int) -> None:
    top = refbox.box_cgroup(box)
    for rel in cgroup_subtree(refbox, top) if refbox.cgroups.exists(top) else []:
        _fail_if_occupied(refbox, rel)
        refbox.cgroups.remove(rel)
    if refbox.cgroups.exists(top):
        raise TargetError(f"cgroup {top} still exists")


def _fail_if_occupied(refbox: Refbox, rel: str) -> None:
    """A task still in `rel` a moment after the kill step will not leave (it outlived SIGKILL): fail
    now with rmdir's own error and the tasks named, instead of waiting out the removal's long EBUSY
    retry (meant for killed tasks still being released) on every attempt."""
    deadline = time.monotonic() + OCCUPIED_GRACE_S
    while (pids := refbox.cgroups.pids(rel)) and time.monotonic() < deadline:
        time.sleep(0.005)
    if not pids:
        return
    for directory in refbox.cgroups.dirs(rel):
        try:
            os.rmdir(directory)
        except FileNotFoundError:
            continue
        except OSError as e:
            name = errno.errorcode.get(e.errno, str(e.errno))
            raise TargetError(
                f"cannot remove cgroup {directory}: {name} ({e.strerror}); tasks {pids} still in it"
            ) from e
