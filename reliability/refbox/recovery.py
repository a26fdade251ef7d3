"""Find and remove what a dead supervisor left: processes, mounts, cgroups, box directories."""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING

from reliability.refbox import mounts
from reliability.refbox.cgroups import CgroupError
from reliability.targets.base import TargetError

if TYPE_CHECKING:
    from reliability.refbox.box import Refbox


def processes_with_uids(uids: set[int]) -> dict[int, int]:
    """pid -> real uid of every live process whose real uid is in `uids`."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue  # exited meanwhile
        uid = int(fields.get("Uid", "-1 ").split()[0])
        if uid in uids and not fields.get("State", "").strip().startswith("Z"):
            found[int(entry)] = uid
    return found


def boxes_present(refbox: Refbox) -> set[int]:
    """Every box number this refbox has anything of: a directory or mount under its box root, or a
    cgroup under its cgroup name. Not found by uid alone: another refbox (other root, other cgroup
    name) may be running the same box number right now."""
    from reliability.refbox.box import MAX_BOXES

    boxes: set[int] = set()
    if os.path.isdir(refbox.box_root):
        boxes.update(int(n) for n in os.listdir(refbox.box_root) if n.isdigit() and int(n) < MAX_BOXES)
    for point in mounts.mounts_under(refbox.box_root):
        rest = point[len(refbox.box_root) + 1 :].split("/")[0]
        if rest.isdigit() and int(rest) < MAX_BOXES:
            boxes.add(int(rest))
    for name in refbox.cgroups.children(refbox.cgroup_name):
        number = name.removeprefix("box-")
        if name.startswith("box-") and number.isdigit() and int(number) < MAX_BOXES:
            boxes.add(int(number))
    return boxes


def recover(refbox: Refbox, box: int | None = None) -> list[str]:
    """Remove what is left for `box` (or every box); return what was removed.

    Raises TargetError naming what could not be removed (after trying everything).
    """
    removed: list[str] = []
    failures: list[str] = []
    for number in sorted([box] if box is not None else boxes_present(refbox)):
        _recover_box(refbox, number, removed, failures)
    if box is None:
        for directory in refbox.cgroup_roots():
            try:
                os.rmdir(directory)
                removed.append(f"cgroup {directory}")
            except FileNotFoundError:
                pass
            except OSError as e:
                failures.append(f"cgroup {directory}: {e.strerror}")
    if failures:
        raise TargetError(f"recover left {len(failures)} item(s): {'; '.join(failures)} (removed: {removed})")
    return removed


def _recover_box(refbox: Refbox, box: int, removed: list[str], failures: list[str]) -> None:
    for rel in refbox._box_cgroups(box):
        try:
            removed += [f"process {pid} (cgroup {rel})" for pid in refbox.cgroups.kill_all(rel)]
        except CgroupError as e:
            failures.append(str(e))
    # A box process joins the run cgroup before it takes the box uid, so one outside the cgroup was
    # moved out by root. Only those working inside this box are ours: the uid alone could belong to
    # the same box number of another refbox.
    for pid in _working_in(processes_with_uids({refbox.uid(box)}), refbox.box_dir(box)):
        try:
            os.kill(pid, signal.SIGKILL)
            removed.append(f"process {pid} (uid {refbox.uid(box)})")
        except ProcessLookupError:
            pass
    path = refbox.box_dir(box)
    was_mounted = mounts.is_mounted(path)
    for name, step, present in (
        ("mount", refbox._unmount_box, was_mounted),
        ("cgroup", refbox._remove_box_cgroups, refbox.cgroups.exists(refbox.box_cgroup(box))),
        ("directory", refbox._remove_box_dir, os.path.lexists(path)),
    ):
        if not present:
            continue
        what = path if name != "cgroup" else ", ".join(refbox.cgroups.dirs(refbox.box_cgroup(box)))
        try:
            step(box)
            removed.append(f"{name} {what}")
        except (OSError, CgroupError, TargetError) as e:
            failures.append(f"{name} {what}: {e}")


def _working_in(pids, directory: str) -> list[int]:
    inside = []
    for pid in pids:
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if cwd == directory or cwd.startswith(directory + "/"):
            inside.append(pid)
    return inside
