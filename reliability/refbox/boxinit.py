"""boxinit: the run's init and the program's last steps before exec, as a small C program (boxinit.c).

Why: profiled on the 2-core VM, the Python init cost each run two more forks of a Python process (the
supervisor's fork of init, init's fork of the program: copy_page_range, copy-on-write faults and the
teardown of the copies were the kernel's top entries) plus a few milliseconds of interpreter work in
each. Spawned with posix_spawn (vfork: no copy of the supervisor), the C init and its fork of the
program cost a fraction. It does the very steps of the Python path (supervisor._init_main,
isolation.enter, supervisor._exec_program), in the same order; every policy (the binds, the rlimits,
the seccomp filter's instructions) is still decided in Python and passed on its command line.

This module is what the supervisor needs (the command line, the spawn); building and caching the
binary is boxinit_build.py, kept apart so the fork server, and every supervisor it forks, does not
carry the compiler-side imports (hashlib's libcrypto, shutil's compressors).
"""

from __future__ import annotations

import fcntl
import os
import signal
from typing import TYPE_CHECKING

from reliability.refbox import isolation, seccomp

if TYPE_CHECKING:
    from reliability.refbox.supervisor import RunPlan

# The fds boxinit.c expects (its enum): setup errors, report, stdout, stderr, supervisor pidfd.
FIXED_FDS = (3, 4, 5, 6, 7)
_ALL_SIGNALS = tuple(s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP))


def command(helper: str, plan: RunPlan, jail: isolation.Jail, procs_files: list[str]) -> list[str]:
    """boxinit's command line for `plan` (see boxinit.c's usage)."""
    args = [helper, f"box={plan.box_dir}", f"tmp_mb={jail.tmp_mb}", f"uid={plan.uid}", f"gid={plan.gid}"]
    args += [f"bind={p}" for p in jail.binds]
    args += [f"device={d}" for d in isolation.DEVICES if os.path.exists(d)]
    args += [f"procs={p}" for p in procs_files]
    args += [f"rlimit={which}:{soft}:{hard}" for which, soft, hard in isolation.rlimits(plan.limits)]
    if plan.seccomp:  # fails closed: no filter for this machine, no run (as seccomp.install)
        args.append(f"seccomp={seccomp.filter_bytes().hex()}")
    if plan.keep_orphans:
        args.append("keep_orphans=1")
    return args + ["--", *plan.argv]


def spawn(
    helper: str, plan: RunPlan, jail: isolation.Jail, procs_files: list[str], fds: tuple[int, ...]
) -> int:
    """Start boxinit as our child (pid 1 of the pid namespace we unshared); `fds` go to FIXED_FDS.

    posix_spawn is a vfork: nothing of this Python process is copied. The fds are first moved above
    the fixed numbers, so no dup2 below overwrites one still to be moved."""
    argv = command(helper, plan, jail, procs_files)
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in fds]
    try:
        actions = [(os.POSIX_SPAWN_DUP2, fd, target) for fd, target in zip(high, FIXED_FDS)]
        return os.posix_spawn(
            helper,
            argv,
            isolation.clean_env(plan.env),
            file_actions=actions,
            setsigmask=(),
            setsigdef=_ALL_SIGNALS,
        )
    finally:
        for fd in high:
            os.close(fd)
