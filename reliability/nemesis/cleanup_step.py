"""A failure at one cleanup step of a target, injected while its cleanup() runs.

From outside where the refbox allows it, by failpoint where it cannot be caused from outside:
  unmount           a process of ours with its cwd and an fd in the box mount (faults.busy_mount): EBUSY.
  remove cgroup     on cgroup v1: a foreign process in the box cgroups (the refbox's, or those a
                    described target declares in owns/box_cgroups), frozen in a freezer cgroup of ours
                    (faults.foreign_process.frozen_in_cgroups): SIGKILL stays pending until thawed, so
                    the kill step cannot empty the box cgroup and its rmdir fails with EBUSY.
                    Elsewhere failpoint cleanup.remove_cgroup=error: a plain foreign process dies in the
                    kill step, and on cgroup v2 cgroup.kill kills frozen tasks too.
  reap, close fds   failpoints cleanup.reap / cleanup.close_fds (cannot be caused from outside).
  remove temp dirs  failpoint cleanup.remove_temp_dirs=error. A mount inside the box dir (faults.
                    mount_in_temp) makes the unmount step fail first, since the box dir is the mount.
The fault is undone before cleanup() returns, so what is left afterwards is the target's doing.

A fault from outside may find nothing to act on: a box that is a plain directory (isolate's box mounts
live in the program's own namespace, not on the host), or no box cgroup when the cleanup starts. The
cleanup then runs unhindered and `FailStep.effect` records that the fault did not take effect and why
(the checks skip that case with the reason); when it did, the facts that show it (the mount point and
the holder's cwd, the occupied cgroups). A failpoint is set through the target's Failpoints part.
"""

from __future__ import annotations

import glob
import os
from contextlib import ExitStack

from reliability.nemesis import busy_mount, foreign_process
from reliability.refbox import mounts
from reliability.targets.base import CleanupOutcome, Target
from reliability.targets.capabilities import BoxCgroups, BoxDirectories, Failpoints, capability
from reliability.targets.delegate import Delegating

STEPS = ("reap", "close fds", "unmount", "remove cgroup", "remove temp dirs")  # as the refbox names them
FROM_OUTSIDE = {"unmount": "a process holding the box mount busy"}


FROZEN = "a foreign process in the box cgroups, frozen in a freezer cgroup of ours (SIGKILL stays pending)"


def frozen_foreign_unavailable(target: Target | None) -> str:
    """'' when the cgroup removal can be made to fail from outside (box cgroups known, cgroup v1), else why not."""
    cgroups = capability(target, BoxCgroups) if target is not None else None
    if cgroups is None or not cgroups.box_cgroup_dirs(0):
        return "the target's box cgroups are not known"
    if cgroups.cgroup_version != 1:
        return "cgroup v2: no separate freezer hierarchy, and cgroup.kill kills frozen tasks"
    return foreign_process.frozen_unavailable()


def box_cgroups(target: Target, box: int) -> list[str]:
    """Box `box`'s cgroup directories that exist now (each with a cgroup.procs a process can join)."""
    cgroups = capability(target, BoxCgroups)
    patterns = cgroups.box_cgroup_dirs(box) if cgroups is not None else []
    found = sorted({d for pattern in patterns for d in glob.glob(pattern)})
    return [d for d in found if os.path.isfile(os.path.join(d, "cgroup.procs"))]


def _members(cgroup_dir: str) -> set[str]:
    try:
        with open(os.path.join(cgroup_dir, "cgroup.procs")) as f:
            return set(f.read().split())
    except OSError:
        return set()


def how(step: str, target: Target | None = None) -> str:
    if step == "remove cgroup":
        why = frozen_foreign_unavailable(target)
        return f"failpoint cleanup.remove_cgroup=error ({why})" if why else FROZEN
    return FROM_OUTSIDE.get(step) or f"failpoint cleanup.{step.replace(' ', '_')}=error"


def cannot(target: Target, step: str) -> str:
    if step == "remove cgroup" and not frozen_foreign_unavailable(target):
        return ""
    if step not in FROM_OUTSIDE and capability(target, Failpoints) is None:
        return f"target {target.name} has no failpoints and a {step} failure cannot be caused from outside"
    return ""


def box_dir(target: Target, box: int) -> str:
    dirs = capability(target, BoxDirectories)
    return dirs.box_dir(box) if dirs is not None else os.path.join(target.owned([box]).box_root, str(box))


def effect(took_effect: bool, fact: str) -> dict:
    """What the nemesis saw of its own fault: whether it acted on anything, and the facts that show it."""
    return {"took_effect": took_effect, "fact": fact}


class FailStep(Delegating):
    """Delegates to `inner`; its cleanup() runs with `step` made to fail, if the fault can take effect."""

    def __init__(self, inner: Target, step: str):
        super().__init__(inner)
        self.step = step
        self.outcome: CleanupOutcome | None = None
        self.effect: dict | None = None  # set by cleanup(): see effect()

    def cleanup(self, box: int) -> CleanupOutcome:
        with ExitStack() as fault:
            if self.step == "unmount":
                self.effect = self._busy_mount(fault, box_dir(self.inner, box))
            elif self.step == "remove cgroup" and not frozen_foreign_unavailable(self.inner):
                self.effect = self._occupied_cgroups(fault, box)
            else:
                point = f"cleanup.{self.step.replace(' ', '_')}=error"
                fault.enter_context(capability(self.inner, Failpoints).failing(point))
                self.effect = effect(True, f"failpoint {point} set for the target's cleanup")
            self.outcome = self.inner.cleanup(box)
        return self.outcome

    def _busy_mount(self, fault: ExitStack, path: str) -> dict:
        if not mounts.is_mounted(path):
            return effect(
                False, f"target {self.inner.name} has no host-visible box mount ({path} is not a mount point)"
            )
        pid = fault.enter_context(busy_mount.hold_busy(path))
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError as e:
            return effect(False, f"the holder of {path} (pid {pid}) is gone: {e.strerror}")
        return effect(cwd == path, f"mount {path} held busy by pid {pid} (cwd {cwd})")

    def _occupied_cgroups(self, fault: ExitStack, box: int) -> dict:
        dirs = box_cgroups(self.inner, box)
        if not dirs:
            return effect(
                False,
                f"target {self.inner.name}'s box {box} has no cgroup when its cleanup starts: nothing to occupy",
            )
        try:
            pid = fault.enter_context(foreign_process.frozen_in_cgroups(dirs))
        except OSError as e:  # a cgroup removed meanwhile, or one that refuses the helper
            return effect(False, f"box {box}'s cgroups {dirs} could not be occupied: {e}")
        empty = [d for d in dirs if str(pid) not in _members(d)]
        if empty:
            return effect(False, f"frozen pid {pid} is not in {empty}")
        return effect(True, f"frozen pid {pid} in {', '.join(dirs)}")
