"""Find and remove what a dead supervisor or a failed cleanup left, and return boxes to healthy.

Per box: stale lock, corrupt state, processes (by cgroup, and by box uid working in the box), fds of
this process into the box, mounts at and below the box, cgroups, the box directory. Each item found is
reported. The box ends idle; this is the only way out of quarantine.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from typing import TYPE_CHECKING

from reliability.refbox import audit, cleanup, mounts, state
from reliability.refbox.cgroups import CgroupError
from reliability.sandbox_values import TargetError

if TYPE_CHECKING:
    from reliability.refbox.box import Refbox

UNMOUNT_TRIES = 20
UNMOUNT_WAIT_S = 0.025  # 0.5 s in all before a busy mount is detached lazily


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
    """Every box number this refbox has anything of: a directory or mount under its box root, a
    cgroup under its cgroup name, or a state directory. Not found by uid alone: another refbox (other
    root, other cgroup name) may be running the same box number right now."""
    from reliability.refbox.box import MAX_BOXES

    def number(name: str) -> int | None:
        return int(name) if name.isdigit() and int(name) < MAX_BOXES else None

    names: list[str] = []
    for directory in (refbox.box_root, refbox.state_dir):
        if os.path.isdir(directory):
            names += os.listdir(directory)
    names += [p[len(refbox.box_root) + 1 :].split("/")[0] for p in mounts.mounts_under(refbox.box_root)]
    names += [
        n.removeprefix("box-") for n in refbox.cgroups.children(refbox.cgroup_name) if n.startswith("box-")
    ]
    return {n for n in map(number, names) if n is not None}


def recover(refbox: Refbox, box: int | None = None) -> list[str]:
    """Remove what is left for `box` (or every box); return what was found and removed.

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
    try:
        lock = refbox.claim(box)  # a live owner keeps its box: recovering under it would break its run
    except TargetError as e:
        failures.append(str(e))
        return
    try:
        if lock.recovered:
            removed.append(f"lock of box {box}: {lock.recovered}")
        before = len(failures)
        doc = refbox.read_state(box)
        if doc["status"] == "quarantined":
            removed.append(f"quarantine of box {box}: {doc['quarantine_reason']}")
        elif doc["status"] != "idle":
            removed.append(f"state of box {box}: {doc['status']} in phase {doc['phase']}")
        _kill(refbox, box, removed, failures)
        _remove_rest(refbox, box, removed, failures)
        if len(failures) == before:
            found = [r for r in removed if f" {box}" in r or refbox.box_dir(box) in r]
            audit.append(refbox.state_dir, "recover", box, "; ".join(found) or "nothing left")
            doc.update(status="idle", phase=None, owner=None, quarantine_reason=None, since=time.time())
            state.write(refbox.state_dir, doc)
        else:
            refbox.quarantine(box, f"recover failed: {'; '.join(failures[before:])}", doc)
    finally:
        refbox.release(box)


def _kill(refbox: Refbox, box: int, removed: list[str], failures: list[str]) -> None:
    top = refbox.box_cgroup(box)
    for rel in cleanup.cgroup_subtree(refbox, top) if refbox.cgroups.exists(top) else []:
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


def _unmount_when_free(point: str) -> None:
    """Unmount, giving processes killed a moment ago time to exit (init reaps them, not us); EBUSY after
    that is a real holder."""
    for _ in range(UNMOUNT_TRIES - 1):
        try:
            return mounts.unmount(point)
        except OSError as e:
            if e.errno != errno.EBUSY:
                raise
        time.sleep(UNMOUNT_WAIT_S)
    mounts.unmount(point)


def _remove_rest(refbox: Refbox, box: int, removed: list[str], failures: list[str]) -> None:
    path = refbox.box_dir(box)
    fds = cleanup.fds_into(path)
    if fds:
        cleanup.close_fds_into(path)
        removed.append(f"fds {fds} of pid {os.getpid()} into {path}")
    for point in mounts.mounts_under(path) + [path] * 8:  # deepest first, then stacked box mounts
        if not mounts.is_mounted(point):
            continue
        try:
            _unmount_when_free(point)
            removed.append(f"mount {point}")
        except OSError as e:
            if e.errno != errno.EBUSY:
                failures.append(f"mount {point}: {e}")
                continue
            # Held by a process that is not the box's (a shell with its cwd there): detach it from
            # the tree now; the kernel frees it when the holder lets go.
            mounts.unmount(point, lazy=True)
            removed.append(f"mount {point} (busy: detached lazily)")
    top = refbox.box_cgroup(box)
    if refbox.cgroups.exists(top):
        what = ", ".join(d for d in refbox.cgroups.dirs(top) if os.path.isdir(d))
        try:
            cleanup.remove_cgroups(refbox, box)
            removed.append(f"cgroup {what}")
        except (OSError, CgroupError, TargetError) as e:
            failures.append(f"cgroup {what}: {e}")
    if os.path.lexists(path):
        try:
            refbox._remove_box_dir(box)
            removed.append(f"directory {path}")
        except (OSError, TargetError) as e:
            failures.append(f"directory {path}: {e}")


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
