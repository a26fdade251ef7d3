"""boxinit: the run's init and the program's last steps before exec, as a small C program (boxinit.c).

Why: profiled on the 2-core VM, the Python init cost each run two more forks of a Python process (the
supervisor's fork of init, init's fork of the program: copy_page_range, copy-on-write faults and the
teardown of the copies were the kernel's top entries) plus a few milliseconds of interpreter work in
each. Spawned with posix_spawn (vfork: no copy of the supervisor), the C init and its fork of the
program cost a fraction. It does the very steps of the Python path (supervisor._init_main,
isolation.enter, supervisor._exec_program), in the same order; every policy (the binds, the rlimits,
the seccomp filter's instructions) is still decided in Python and passed on its command line.

Compiled on first use with the C compiler the C++ workload already needs, into the build cache
(workload/build.py's directory, keyed by source, compiler version and flags), built in a temporary
file and renamed into place. It runs as root, so an entry not owned by us or writable by others is
never used. Without a compiler, or if the build fails, `path()` is None and the Python path runs:
the same jail, slower (tests run both).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from reliability.refbox import isolation, seccomp

if TYPE_CHECKING:
    from reliability.refbox.supervisor import RunPlan

SOURCE = Path(__file__).with_name("boxinit.c")
CFLAGS = ("-O2", "-Wall")
_FORMAT = "1"  # bump when the command-line protocol changes without a source change
_COMPILE_TIMEOUT_S = 120
# The fds boxinit.c expects (its enum): setup errors, report, stdout, stderr, supervisor pidfd.
FIXED_FDS = (3, 4, 5, 6, 7)
_ALL_SIGNALS = tuple(s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP))


@functools.cache
def path() -> str | None:
    """The cached boxinit binary, built now if needed; None when it cannot be built here."""
    from reliability.workload.build import cache_dir_default  # here: the fork server never needs it

    try:
        return str(_build(cache_dir_default() / "boxinit"))
    except (OSError, subprocess.SubprocessError):
        return None


def _compiler() -> str:
    for name in ("gcc", "cc"):
        found = shutil.which(name)
        if found:
            return found
    raise FileNotFoundError("no C compiler (gcc) on PATH")


def _build(cache: Path) -> Path:
    compiler = _compiler()
    source = SOURCE.read_bytes()
    version = subprocess.run(
        [compiler, "--version"], capture_output=True, text=True, check=True, timeout=_COMPILE_TIMEOUT_S
    ).stdout.splitlines()[0]
    digest = hashlib.sha256()
    for part in (_FORMAT, version, " ".join(CFLAGS)):
        digest.update(part.encode() + b"\0")
    digest.update(source)
    entry = cache / f"boxinit-{digest.hexdigest()[:32]}"
    if _trusted(entry):
        return entry
    cache.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".boxinit-", dir=cache)
    os.close(fd)
    try:
        subprocess.run(
            [compiler, *CFLAGS, "-o", tmp, "-x", "c", "-"],
            input=source,
            capture_output=True,
            check=True,
            timeout=_COMPILE_TIMEOUT_S,
        )
        os.chmod(tmp, 0o755)
        os.rename(tmp, entry)  # a reader sees the whole binary or none
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if not _trusted(entry):
        raise PermissionError(f"{entry} is not ours alone")
    return entry


def _trusted(entry: Path) -> bool:
    """Owned by us, in a directory owned by us, neither writable by anyone else: safe to run as root."""
    try:
        for st in (os.stat(entry.parent), os.lstat(entry)):
            if st.st_uid != os.geteuid() or st.st_mode & 0o022:
                return False
    except FileNotFoundError:
        return False
    return True


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
