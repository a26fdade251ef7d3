"""A failure at one cleanup step of a target, injected while its cleanup() runs.

From outside where the refbox allows it, by failpoint where it cannot be caused from outside:
  unmount           a process of ours with its cwd and an fd in the box mount (faults.busy_mount): EBUSY.
  remove cgroup     on cgroup v1: a foreign process in the box cgroups, frozen in a freezer cgroup of
                    ours (faults.foreign_process.frozen_in_cgroups): SIGKILL stays pending until thawed,
                    so the kill step cannot empty the box cgroup and its rmdir fails with EBUSY.
                    Elsewhere failpoint cleanup.remove_cgroup=error: a plain foreign process dies in the
                    kill step, and on cgroup v2 cgroup.kill kills frozen tasks too.
  reap, close fds   failpoints cleanup.reap / cleanup.close_fds (cannot be caused from outside).
  remove temp dirs  failpoint cleanup.remove_temp_dirs=error. A mount inside the box dir (faults.
                    mount_in_temp) makes the unmount step fail first, since the box dir is the mount.
The fault is undone before cleanup() returns, so what is left afterwards is the target's doing.
"""

from __future__ import annotations

import os

from reliability.faults import busy_mount, foreign_process
from reliability.refbox import failpoints
from reliability.targets.base import CleanupOutcome, Target
from reliability.targets.delegate import Delegating

STEPS = ("reap", "close fds", "unmount", "remove cgroup", "remove temp dirs")  # as the refbox names them
FROM_OUTSIDE = {"unmount": "a process holding the box mount busy"}


FROZEN = "a foreign process in the box cgroups, frozen in a freezer cgroup of ours (SIGKILL stays pending)"


def frozen_foreign_unavailable(target: Target | None) -> str:
    """'' when the cgroup removal can be made to fail from outside (a refbox on cgroup v1), else why not."""
    refbox = getattr(target, "refbox", None)
    if refbox is None:
        return "the target's box cgroups are not known"
    if refbox.cgroups.version != 1:
        return "cgroup v2: no separate freezer hierarchy, and cgroup.kill kills frozen tasks"
    return foreign_process.frozen_unavailable()


def how(step: str, target: Target | None = None) -> str:
    if step == "remove cgroup":
        why = frozen_foreign_unavailable(target)
        return f"failpoint cleanup.remove_cgroup=error ({why})" if why else FROZEN
    return FROM_OUTSIDE.get(step) or f"failpoint cleanup.{step.replace(' ', '_')}=error"


def cannot(target: Target, step: str) -> str:
    if step == "remove cgroup" and not frozen_foreign_unavailable(target):
        return ""
    if step not in FROM_OUTSIDE and "failpoints" not in target.capabilities:
        return f"target {target.name} has no failpoints and a {step} failure cannot be caused from outside"
    return ""


def box_dir(target: Target, box: int) -> str:
    if hasattr(target, "refbox"):
        return target.refbox.box_dir(box)
    if hasattr(target, "box_dir"):
        return target.box_dir(box)
    return os.path.join(target.owned([box]).box_root, str(box))


class FailStep(Delegating):
    """Delegates to `inner`; its cleanup() runs with `step` made to fail."""

    def __init__(self, inner: Target, step: str):
        super().__init__(inner)
        self.step = step
        self.outcome: CleanupOutcome | None = None

    def cleanup(self, box: int) -> CleanupOutcome:
        if self.step == "unmount":
            with busy_mount.hold_busy(box_dir(self.inner, box)):
                self.outcome = self.inner.cleanup(box)
            return self.outcome
        if self.step == "remove cgroup" and not frozen_foreign_unavailable(self.inner):
            refbox = self.inner.refbox  # type: ignore[attr-defined]
            cgroups = refbox.cgroups.dirs(refbox.box_cgroup(box))
            with foreign_process.frozen_in_cgroups(cgroups):
                self.outcome = self.inner.cleanup(box)
            return self.outcome
        with failpoints.added(f"cleanup.{self.step.replace(' ', '_')}=error"):
            self.outcome = self.inner.cleanup(box)
        return self.outcome
