"""The C supervisor and init (boxsup.c, boxinit.c): the command line that carries a run's plan to
them, the spawn, and the facts they report.

Why: profiled on the 2-core VM, a run under the Python supervisor cost a fork of a Python process
(copy_page_range, copy-on-write faults and the copy's teardown led the kernel's profile), about 9 ms
of its interpreter's CPU, and, with the Python init, two more such forks. The C supervisor is started
with posix_spawn (a vfork: nothing of the caller is copied), forks a tiny init, and does the very steps
of the Python path (supervisor._supervise, _init_main, isolation.enter, _exec_program) in the same
order. Every policy (the binds, the rlimits, the seccomp filter's instructions, the cgroup files, the
phase documents) is decided here in Python and passed on its command line, and it decides no verdict:
it reports facts, which supervisor.result_from judges as it judges the Python supervisor's.

Building and caching the binary is boxinit_build.py, kept apart so the fork server, and every
supervisor it forks, does not carry the compiler-side imports (hashlib's libcrypto, shutil's
compressors).
"""

from __future__ import annotations

import fcntl
import os
import signal
from typing import TYPE_CHECKING

from reliability.refbox import isolation, seccomp
from reliability.refbox.state import PHASES, encode

if TYPE_CHECKING:
    from reliability.refbox.cgroups import Cgroups
    from reliability.refbox.phases import PhaseRecorder
    from reliability.refbox.supervisor import RunPlan

# The fds boxsup.c expects: the answer, stdout, stderr.
FIXED_FDS = (3, 5, 6)
# Every signal a disposition can be set for: a program starts with all of them at their default.
ALL_SIGNALS = tuple(s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP))


def command(
    helper: str,
    plan: RunPlan,
    jail: isolation.Jail,
    cgroups: Cgroups,
    phases: PhaseRecorder | None,
    caller: int,
) -> list[str]:
    """The C supervisor's command line for `plan` (see boxsup.c's and boxinit.c's usage)."""
    procs_files = cgroups.procs_files(plan.cgroup)
    args = [helper, f"box={plan.box_dir}", f"tmp_mb={jail.tmp_mb}", f"uid={plan.uid}", f"gid={plan.gid}"]
    args += [f"bind={p}" for p in jail.binds]
    args += [f"device={d}" for d in isolation.DEVICES if os.path.exists(d)]
    args += [f"procs={p}" for p in procs_files]
    args += [f"rlimit={which}:{soft}:{hard}" for which, soft, hard in isolation.rlimits(plan.limits)]
    if plan.seccomp:  # fails closed: no filter for this machine, no run (as seccomp.install)
        args.append(f"seccomp={seccomp.filter_bytes().hex()}")
    if plan.keep_orphans:
        args.append("keep_orphans=1")
    args += [f"env={name}={value}" for name, value in isolation.clean_env(plan.env).items()]
    args += [f"cpu_s={plan.limits.cpu_s!r}", f"wall_s={plan.limits.wall_s!r}", f"caller={caller}"]
    args += cgroups.c_supervisor_args(plan.cgroup)
    if phases is not None:
        args.append(f"state={phases.path}")
        for phase in PHASES:
            args.append(f"phase.{phase}={encode(dict(phases.doc, phase=phase)).decode()}")
            point = phases.points.get(f"phase.{phase}")
            if point:
                args.append(f"point.{phase}={point}")
    return args + ["--", *plan.argv]


def spawn(argv: list[str], fds: tuple[int, ...]) -> int:
    """Start the C supervisor as our child, in a session of its own, with our environment (as a
    forked supervisor's: a pipeline finds the processes of its run by it); `fds` go to FIXED_FDS.

    posix_spawn is a vfork: nothing of this Python process is copied. The fds are first moved above
    the fixed numbers, so no dup2 below overwrites one still to be moved."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in fds]
    try:
        actions = [(os.POSIX_SPAWN_DUP2, fd, target) for fd, target in zip(high, FIXED_FDS)]
        return os.posix_spawn(
            argv[0],
            argv,
            os.environ,
            file_actions=actions,
            setsid=True,  # out of the pipeline's session: a terminal's Ctrl-C must not kill us mid-cleanup
            setsigmask=(),
            setsigdef=ALL_SIGNALS,
        )
    finally:
        for fd in high:
            os.close(fd)


def facts(answer: bytes) -> dict | None:
    """The C supervisor's report as {key: text}; None if it did not get as far as its facts."""
    out = {}
    for line in answer.decode(errors="replace").splitlines():
        key, _, value = line.partition(" ")
        out[key] = value
    return out if "wall" in out and "remove_error" in out else None
