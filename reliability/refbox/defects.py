"""The refbox's "defective" mode: deliberate bugs switched on by REFBOX_FAILPOINTS=defect.<name>.

They exist only so the defect matrix (docs/defect-matrix.md, tests/test_failure_matrix.py) can show
that each check fails on the bug it is meant to find and names it. Each is a few lines at the place
where a real sandbox would have that bug: after a run (a wrong verdict), in the lock (none taken),
in the state reader (a damaged file trusted) and after a cleanup that said ok (something left behind).
"""

from __future__ import annotations

import os
import signal
import subprocess
from typing import TYPE_CHECKING

from reliability.refbox import failpoints, mounts
from reliability.refbox.state import state_path

if TYPE_CHECKING:
    from reliability.refbox.box import Refbox
    from reliability.sandbox_values import Result

# What the defects left in this process, so a test can remove it by pid / fd (recover cannot: that
# is the point of the defect).
LEFT_PIDS: list[int] = []
LEFT_FDS: list[int] = []


class NoLock:
    """defect.skip_lock: what claim() hands out instead of a lock."""

    recovered = ""
    created = False

    def release(self) -> None:
        pass


def skip_lock() -> bool:
    return failpoints.defect("skip_lock")


def ignores_stale_lock() -> bool:
    """defect.ignore_stale_lock: the lock of a dead holder is never recovered; the box stays busy."""
    return failpoints.defect("ignore_stale_lock")


def claims_success() -> bool:
    """defect.claim_cleanup_success: a failed cleanup step is reported as a success."""
    return failpoints.defect("claim_cleanup_success")


def trust_state() -> bool:
    """defect.trust_state: a damaged state file is silently reset to idle (not set aside, no audit, no
    quarantine) and the box goes on serving, as a reader that trusts its own files would."""
    return failpoints.defect("trust_state")


def keeps_orphans() -> bool:
    """defect.keep_orphans: a dead supervisor's program lives on unbounded (no parent-death signal for
    the box's init, and a supervisor whose caller died abandons its run), as isolate 1.x's does when
    its keeper is killed."""
    return failpoints.defect("keep_orphans")


def allows_namespaces() -> bool:
    """defect.allow_namespaces: the boxed program runs without the seccomp filter, so it can create a
    user namespace (and, inside it, every other kind), as a jail of namespaces and dropped capabilities
    alone allows."""
    return failpoints.defect("allow_namespaces")


def after_run(result: Result) -> Result:
    if failpoints.defect("wrong_verdict") and result.verdict == "OK":
        result.verdict, result.message = "RE", "defect.wrong_verdict"
    return result


def after_cleanup(refbox: Refbox, box: int) -> None:
    """Leave behind what the switched-on defects say, after a cleanup that reports success."""
    on = {name for name in failpoints.DEFECTS if failpoints.defect(name)}
    path = refbox.box_dir(box)
    if "leak_process" in on:  # setsid + double fork as the box uid, outside the box cgroup
        uid = refbox.uid(box)
        sh = subprocess.run(
            ["/bin/sh", "-c", "sleep 600 >/dev/null 2>&1 & echo $!"],
            user=uid,
            group=uid,
            start_new_session=True,
            cwd="/",
            capture_output=True,
            text=True,
            check=True,
        )
        LEFT_PIDS.append(int(sh.stdout))
    if "leave_zombie" in on:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        LEFT_PIDS.append(pid)  # never waited for: a zombie child of the pipeline
    if "leak_fd" in on:
        LEFT_FDS.append(os.open(refbox.state_dir, os.O_RDONLY | os.O_DIRECTORY))
    if "leave_mount" in on:
        os.makedirs(path, exist_ok=True)
        mounts.mount_tmpfs(path, 1024 * 1024, 0, 0)
    if "leave_cgroup" in on:
        refbox.cgroups.ensure(refbox.box_cgroup(box))
    if "leave_tempdir" in on:
        os.makedirs(os.path.join(refbox.box_root, f".defect-tmp-{box}"), exist_ok=True)
    if "corrupt_state" in on:  # a partial write: the file cut in the middle of its JSON
        with open(state_path(refbox.state_dir, box), "w") as f:
            f.write('{"version": 1, "box": ')


def undo_left() -> None:
    """Kill / reap / close what the defects left in this process (tests call it in their teardown)."""
    while LEFT_PIDS:
        pid = LEFT_PIDS.pop()
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass  # not our child (the setsid sleep): init reaps it
    while LEFT_FDS:
        os.close(LEFT_FDS.pop())
