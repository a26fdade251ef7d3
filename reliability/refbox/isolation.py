"""The program's jail, built the way isolate builds one: namespaces, a minimal read-only root, no privileges.

A run's processes (isolated):

    supervisor          host pid namespace; unshare(CLONE_NEWPID) just before its one fork
      └── init          pid 1 of the new namespace: joins the run cgroup, unshares mount, IPC, UTS and
          │             network namespaces, builds the root, pivots into it, then forks
          └── program   pid 2: drops to the box uid with no capabilities and no_new_privs, installs
                        the seccomp filter (no new namespaces: refbox/seccomp.py), execs

Why a tiny init instead of the program as pid 1: the kernel drops default-action signals that a pid 1
sends itself, so abort() or kill(getpid(), SIGTERM) would not end the program by that signal and the
verdict's evidence would lie. init waits for the program, reports its wait status and rusage through a
pipe and exits; the kernel then kills whatever is left in the namespace, and the supervisor still kills
the whole run cgroup (init joined it first, so every process is born inside it).

Everything from enter() on runs after fork in a copy of the pipeline: os-level calls only.

init and the program's last steps are normally C (refbox/boxinit.c, forked by the C supervisor),
which does exactly what enter(), set_rlimits() and drop_privileges() do here, in the same order, with
the binds and limits this module decides; this Python path is the fallback where it cannot be built (and is tested to build the
same jail: tests/integration/test_refbox_boxinit.py). A change to one must be made to both.
"""

from __future__ import annotations

import functools
import math
import os
import resource
import socket
from dataclasses import dataclass

from reliability.refbox import mounts, syscalls
from reliability.sandbox_values import Limits

HOSTNAME = "box"
TMP_MB = 16  # the private /tmp: a tmpfs charged to the run cgroup, so a filler meets ENOSPC or MLE
STACK_MB = 64
OPEN_FILES = 128  # a JVM opens about 40 files at start
ENV_ALLOWED = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
STAGING = "/tmp"  # the new root is built on a tmpfs mounted here, in our private mount namespace only
BOX_IN_JAIL = "/box"  # where the program sees its box (as isolate does): its cwd and HOME

SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Small files every dynamic binary or runtime may read; the JDK's /etc pieces are found by resolving.
ETC_PATHS = ("/etc/ld.so.cache", "/etc/localtime", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
NAMESPACES = syscalls.CLONE_NEWNS | syscalls.CLONE_NEWIPC | syscalls.CLONE_NEWUTS | syscalls.CLONE_NEWNET

_RO_BIND = (
    syscalls.MS_BIND | syscalls.MS_REMOUNT | syscalls.MS_RDONLY | syscalls.MS_NOSUID | syscalls.MS_NODEV
)
_DEVICE_BIND = syscalls.MS_BIND | syscalls.MS_REMOUNT | syscalls.MS_NOSUID | syscalls.MS_NOEXEC


@dataclass(frozen=True)
class Jail:
    """What the root is made of: host paths bound read-only at the same place, plus the box, /tmp, /proc.

    The box appears at /box (BOX_IN_JAIL), as in isolate, whatever its host path: the program's cwd
    and HOME, and what it prints, do not depend on where the host keeps boxes. Commands and files
    name things in the box relative to it (the runner copies files in by plain name).
    """

    binds: tuple[str, ...]  # absolute host paths (directories, files or symlinks, copied as symlinks)
    tmp_mb: int = TMP_MB


@functools.lru_cache(maxsize=32)
def jail_for(executable: str) -> Jail:
    """The jail for a program started by `executable`; computed in the parent, once per executable.

    System directories, then whatever /etc pieces the executable's symlink chain and its runtime home
    point into (java -> /etc/alternatives/java -> the JDK, whose conf/ links into /etc/java-N).
    """
    paths = [p for p in SYSTEM_PATHS + ETC_PATHS if os.path.lexists(p)]
    for extra in _resolved_outside(executable):
        if not any(extra == p or extra.startswith(p + "/") for p in paths):
            paths.append(extra)
    return Jail(binds=tuple(paths))


def _resolved_outside(executable: str) -> list[str]:
    """/etc directories (and a runtime home outside /usr) that running `executable` reaches."""
    found: list[str] = []
    path = executable if os.path.isabs(executable) else _which(executable)
    if not path:
        return found
    hops = [path]
    for _ in range(16):  # follow the chain hop by hop: each hop's directory must exist in the jail
        if not os.path.islink(hops[-1]):
            break
        hops.append(os.path.join(os.path.dirname(hops[-1]), os.readlink(hops[-1])))
    real = os.path.realpath(path)
    home = os.path.dirname(os.path.dirname(real))  # <home>/bin/<exe>
    for sub in ("", "conf", "lib", "lib/security"):
        directory = os.path.join(home, sub)
        if os.path.isdir(directory):
            for entry in os.scandir(directory):
                if entry.is_symlink():
                    hops.append(os.path.realpath(entry.path))
    for hop in hops + [real]:
        hop = os.path.normpath(hop)
        if hop.startswith("/etc/"):
            found.append("/etc/" + hop.split("/")[2])
    if not any(real.startswith(p + "/") for p in SYSTEM_PATHS):
        found.append(home)  # e.g. a JDK unpacked under /opt
    return list(dict.fromkeys(found))


def _which(name: str) -> str:
    for directory in os.environ.get("PATH", "/usr/bin:/bin").split(":"):
        candidate = os.path.join(directory, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return ""


# -- after fork, in init (pid 1 of the new pid namespace) -----------------------------------------------
def enter(jail: Jail, box_dir: str) -> None:
    """Unshare the other namespaces, build the root, and pivot into it; cwd ends in the box, at /box."""
    syscalls.unshare(NAMESPACES)
    socket.sethostname(HOSTNAME)
    # Private from here down: none of the mounts below propagates to the host's mount table.
    syscalls.mount("none", "/", "", syscalls.MS_REC | syscalls.MS_PRIVATE)
    box_fd = os.open(box_dir, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW)  # before /tmp is covered
    nosuid_nodev = syscalls.MS_NOSUID | syscalls.MS_NODEV
    syscalls.mount("jail", STAGING, "tmpfs", nosuid_nodev, "size=1m,mode=755")
    for path in jail.binds:
        _bind(path, STAGING + path, _RO_BIND)
    _submounts_read_only([STAGING + p for p in jail.binds])
    for device in DEVICES:  # read-write (writing /dev/null must work), never exec, never suid
        if os.path.exists(device):
            _bind(device, STAGING + device, _DEVICE_BIND)
    os.mkdir(STAGING + "/tmp")
    syscalls.mount("tmp", STAGING + "/tmp", "tmpfs", nosuid_nodev, f"size={jail.tmp_mb}m,mode=1777")
    # The box by its fd: the magic link reaches it even though the staging tmpfs now covers /tmp.
    box_in_jail = STAGING + BOX_IN_JAIL
    os.mkdir(box_in_jail)
    syscalls.mount(f"/proc/self/fd/{box_fd}", box_in_jail, "", syscalls.MS_BIND)
    syscalls.mount("none", box_in_jail, "", syscalls.MS_BIND | syscalls.MS_REMOUNT | nosuid_nodev)
    os.close(box_fd)
    os.mkdir(STAGING + "/proc")
    syscalls.mount("proc", STAGING + "/proc", "proc", nosuid_nodev | syscalls.MS_NOEXEC)
    syscalls.mount("none", STAGING, "", syscalls.MS_REMOUNT | syscalls.MS_RDONLY | nosuid_nodev)
    # pivot_root(".", ".") stacks the old root under the new one; detaching it leaves only the jail.
    os.chdir(STAGING)
    syscalls.pivot_root(".", ".")
    syscalls.umount2(".", syscalls.MNT_DETACH)
    os.chdir(BOX_IN_JAIL)


def _bind(source: str, target: str, remount_flags: int) -> None:
    _make_parents(target)
    if os.path.islink(source):  # merged /usr: /bin -> usr/bin stays a symlink, resolved in the jail
        os.symlink(os.readlink(source), target)
        return
    if os.path.isdir(source):
        os.mkdir(target)
    else:
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
    syscalls.mount(source, target, "", syscalls.MS_BIND | syscalls.MS_REC)
    syscalls.mount("none", target, "", remount_flags)  # a bind takes its own flags only on remount


def _submounts_read_only(roots: list[str]) -> None:
    """Remount read-only every mount below the read-only binds (a host mount under /usr, say).

    MS_REC binds the submounts too, but the remount of a bind changes only its top mount: a writable
    submount would stay writable in the jail. Their noexec is kept; nosuid and nodev are added. One that
    refuses the remount is detached instead: the jail then shows the read-only directory under it."""
    for point in mounts.mounts_under(STAGING):  # deepest first; os-level reads only (after fork)
        if point in roots or not any(point.startswith(r + "/") for r in roots):
            continue
        keep = os.statvfs(point).f_flag & os.ST_NOEXEC
        try:
            syscalls.mount("none", point, "", _RO_BIND | keep)
        except OSError:
            syscalls.umount2(point, syscalls.MNT_DETACH)


def _make_parents(target: str) -> None:
    parent = os.path.dirname(target)
    if not os.path.isdir(parent):
        os.makedirs(parent, 0o755)


# -- after fork, in the program (pid 2), right before exec ---------------------------------------------
def rlimits(limits: Limits) -> list[tuple[int, int, int]]:
    """(resource, soft, hard) for the program, in the order they are set (here or by boxinit.c)."""
    cpu_backstop = math.ceil(limits.cpu_s + 1)  # the cgroup's CPU time decides; this only backs it up
    wanted = [
        (resource.RLIMIT_FSIZE, limits.output_kb * 1024),  # also stops a disk filler at one file
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_STACK, STACK_MB << 20),
        (resource.RLIMIT_NOFILE, OPEN_FILES),
    ]
    capped = [(which, _capped(which, value)) for which, value in wanted]
    return [(resource.RLIMIT_CPU, cpu_backstop, cpu_backstop + 1)] + [(w, v, v) for w, v in capped]


def set_rlimits(limits: Limits) -> None:
    for which, soft, hard in rlimits(limits):
        resource.setrlimit(which, (soft, hard))


def _capped(which: int, value: int) -> int:
    """`value`, or the hard limit we run under if lower (raising a hard limit is refused)."""
    _, hard = resource.getrlimit(which)
    return value if hard == resource.RLIM_INFINITY else min(value, hard)


def drop_privileges(uid: int, gid: int) -> None:
    """Box uid/gid, no supplementary groups, no capabilities in any set, no way to regain any."""
    fd = os.open("/proc/sys/kernel/cap_last_cap", os.O_RDONLY)
    last_cap = int(os.read(fd, 32))
    os.close(fd)
    for cap in range(last_cap + 1):  # needs CAP_SETPCAP: before the uid change
        syscalls.prctl5(syscalls.PR_CAPBSET_DROP, cap)
    syscalls.prctl5(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_CLEAR_ALL)
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    syscalls.capset_zero()  # the uid change already emptied them; say so explicitly
    syscalls.prctl5(syscalls.PR_SET_NO_NEW_PRIVS, 1)


def clean_env(env: dict[str, str], box_dir: str = BOX_IN_JAIL) -> dict[str, str]:
    """Only the allow-listed variables, and HOME pointing at the box as the program sees it (/box).

    `box_dir` (the host path, passed by the supervisor) is not used: it does not exist in the jail."""
    kept = {k: v for k, v in env.items() if k in ENV_ALLOWED}
    kept["HOME"] = BOX_IN_JAIL
    return kept
