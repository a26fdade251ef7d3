"""cgroup access behind one interface, with a v1 backend (one hierarchy per controller) and a v2 one.

A cgroup is named by its path relative to the hierarchy roots ("refbox/box-3/run"). Everything here
uses os-level calls only (os.open/os.read/os.write), because the forked supervisor calls it and must
not touch locks another pipeline thread may have held at fork time.
"""

from __future__ import annotations

import abc
import errno
import os
import signal
import time
from collections.abc import Callable

V2_CONTROLLERS = ("memory", "pids", "cpu")
V1_CONTROLLERS = ("memory", "pids", "cpuacct")
KILL_DEADLINE_S = 5.0  # a pids-limited box empties within milliseconds; this only bounds a stuck kernel


# A cgroup removed while we read or write it: ENOENT once it is gone, ENODEV (v2) while the kernel takes
# it down. A run's supervisor removes its run cgroup as soon as the program is dead, so a recover that
# kills the box at the same moment meets both (seen in the cgroup v2 VM: "recover --all" failed so).
GONE = (errno.ENOENT, errno.ENODEV)


class CgroupError(Exception):
    """No usable cgroup setup, or a cgroup operation failed."""


def read_text(path: str) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks).decode()
    finally:
        os.close(fd)


def write_text(path: str, text: str) -> None:
    # No O_CREAT: in cgroupfs the kernel makes the files; creating one would hide a typo.
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def keyed_value(text: str, key: str) -> int | None:
    """Value of `key` in a flat keyed file ('key value' per line: memory.events, cpu.stat, oom_control)."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key:
            return int(parts[1])
    return None


class Cgroups(abc.ABC):
    """The operations the refbox needs, whatever the cgroup version."""

    version: int

    @abc.abstractmethod
    def dirs(self, rel: str) -> list[str]:
        """Absolute directories of cgroup `rel` (one per hierarchy in v1)."""

    @abc.abstractmethod
    def ensure(self, rel: str) -> None:
        """Create `rel` and its ancestors, with the controllers it needs available."""

    @abc.abstractmethod
    def set_limits(self, rel: str, mem_bytes: int, pids: int) -> None: ...

    @abc.abstractmethod
    def cpu_usage_ns(self, rel: str) -> int: ...

    @abc.abstractmethod
    def peak_memory_bytes(self, rel: str) -> int | None:
        """Peak memory of `rel` since it was created, or None where the kernel does not record it."""

    @abc.abstractmethod
    def oom_kills(self, rel: str) -> int: ...

    @abc.abstractmethod
    def _procs_file(self, rel: str) -> str:
        """The one cgroup.procs file that lists every process of `rel`."""

    @abc.abstractmethod
    def c_supervisor_args(self, rel: str) -> list[str]:
        """The files of `rel` the C supervisor reads, writes and removes (its usage: boxsup.c)."""

    def procs_files(self, rel: str) -> list[str]:
        """Files a process writes its pid into to join `rel` (all hierarchies)."""
        return [os.path.join(d, "cgroup.procs") for d in self.dirs(rel)]

    def exists(self, rel: str) -> bool:
        return any(os.path.isdir(d) for d in self.dirs(rel))

    def pids(self, rel: str) -> list[int]:
        try:
            return [int(p) for p in read_text(self._procs_file(rel)).split()]
        except OSError as e:
            if e.errno in GONE:
                return []
            raise

    def children(self, rel: str) -> list[str]:
        """Names of the child cgroups of `rel`, in any hierarchy."""
        names: set[str] = set()
        for d in self.dirs(rel):
            try:
                names.update(e.name for e in os.scandir(d) if e.is_dir(follow_symlinks=False))
            except FileNotFoundError:
                pass
        return sorted(names)

    def _kill_once(self, rel: str) -> None:
        for pid in self.pids(rel):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def kill_all(self, rel: str, reap: Callable[[], None] | None = None) -> list[int]:
        """SIGKILL every process of `rel` until none is left; returns the pids seen.

        Loops because a process may fork between reading cgroup.procs and the kill. `reap` lets the
        supervisor (a child subreaper) collect the zombies, which would otherwise stay listed.
        Raises CgroupError if the cgroup does not empty in time.
        """
        seen: list[int] = []
        deadline = time.monotonic() + KILL_DEADLINE_S
        pause = 0.0005
        while True:
            pids = self.pids(rel)
            if not pids:
                return seen
            seen.extend(p for p in pids if p not in seen)
            self._kill_once(rel)
            if reap:
                reap()
            if not self.pids(rel):
                return seen
            if time.monotonic() > deadline:
                raise CgroupError(f"cgroup {rel} still has processes {self.pids(rel)} after SIGKILL")
            time.sleep(pause)  # only reached while the kernel finishes killing: rare, short
            pause = min(pause * 2, 0.05)

    def remove(self, rel: str) -> None:
        """rmdir `rel` in every hierarchy (children must be gone). Retries briefly on EBUSY: a killed
        task leaves the cgroup only once it is fully released."""
        for d in self.dirs(rel):
            deadline = time.monotonic() + KILL_DEADLINE_S
            while True:
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if e.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise CgroupError(f"cannot remove cgroup {d}: {e.strerror}") from e
                    time.sleep(0.001)


class CgroupV1(Cgroups):
    """One hierarchy per controller, e.g. {"memory": "/sys/fs/cgroup/memory", ...}."""

    version = 1

    def __init__(self, roots: dict[str, str]):
        missing = [c for c in V1_CONTROLLERS if c not in roots]
        if missing:
            raise CgroupError(f"cgroup v1 hierarchies not mounted: {', '.join(missing)}")
        self.roots = {c: roots[c] for c in V1_CONTROLLERS}

    def dirs(self, rel: str) -> list[str]:
        # Deduplicated: some systems co-mount controllers (cpu,cpuacct) in one hierarchy.
        return list(dict.fromkeys(os.path.join(r, rel) for r in self.roots.values()))

    def _dir(self, controller: str, rel: str) -> str:
        return os.path.join(self.roots[controller], rel)

    def ensure(self, rel: str) -> None:
        for d in self.dirs(rel):
            os.makedirs(d, exist_ok=True)

    def set_limits(self, rel: str, mem_bytes: int, pids: int) -> None:
        mem = self._dir("memory", rel)
        write_text(os.path.join(mem, "memory.limit_in_bytes"), str(mem_bytes))
        # Without swap accounting the limit would be met by swapping instead of an OOM kill.
        memsw = os.path.join(mem, "memory.memsw.limit_in_bytes")
        if os.path.exists(memsw):
            write_text(memsw, str(mem_bytes))
        write_text(os.path.join(self._dir("pids", rel), "pids.max"), str(pids))

    def cpu_usage_ns(self, rel: str) -> int:
        return int(read_text(os.path.join(self._dir("cpuacct", rel), "cpuacct.usage")))

    def peak_memory_bytes(self, rel: str) -> int | None:
        return int(read_text(os.path.join(self._dir("memory", rel), "memory.max_usage_in_bytes")))

    def oom_kills(self, rel: str) -> int:
        text = read_text(os.path.join(self._dir("memory", rel), "memory.oom_control"))
        return keyed_value(text, "oom_kill") or 0

    def _procs_file(self, rel: str) -> str:
        # pids sees every task the moment it forks, so it is the hierarchy to list.
        return os.path.join(self._dir("pids", rel), "cgroup.procs")

    def c_supervisor_args(self, rel: str) -> list[str]:
        return [
            f"cpu_file={os.path.join(self._dir('cpuacct', rel), 'cpuacct.usage')}",
            "cpu_v2=0",
            f"oom_file={os.path.join(self._dir('memory', rel), 'memory.oom_control')}",
            f"peak_file={os.path.join(self._dir('memory', rel), 'memory.max_usage_in_bytes')}",
            f"list_file={self._procs_file(rel)}",
            *(f"rmdir={d}" for d in self.dirs(rel)),
        ]


class CgroupV2(Cgroups):
    """The unified hierarchy rooted at `root` (normally /sys/fs/cgroup)."""

    version = 2

    def __init__(self, root: str):
        self.root = root

    def dirs(self, rel: str) -> list[str]:
        return [os.path.join(self.root, rel)]

    def _enable_controllers(self, directory: str) -> None:
        control = os.path.join(directory, "cgroup.subtree_control")
        enabled = read_text(control).split()
        wanted = [c for c in V2_CONTROLLERS if c not in enabled]
        if wanted:
            write_text(control, " ".join(f"+{c}" for c in wanted))

    def ensure(self, rel: str) -> None:
        # Each ancestor must delegate the controllers to its children, the root included.
        current = self.root
        for part in [p for p in rel.split("/") if p]:
            self._enable_controllers(current)
            current = os.path.join(current, part)
            os.makedirs(current, exist_ok=True)

    def set_limits(self, rel: str, mem_bytes: int, pids: int) -> None:
        d = self.dirs(rel)[0]
        write_text(os.path.join(d, "memory.max"), str(mem_bytes))
        swap = os.path.join(d, "memory.swap.max")
        if os.path.exists(swap):
            write_text(swap, "0")
        write_text(os.path.join(d, "pids.max"), str(pids))

    def cpu_usage_ns(self, rel: str) -> int:
        text = read_text(os.path.join(self.dirs(rel)[0], "cpu.stat"))
        return (keyed_value(text, "usage_usec") or 0) * 1000

    def peak_memory_bytes(self, rel: str) -> int | None:
        try:
            return int(read_text(os.path.join(self.dirs(rel)[0], "memory.peak")))
        except FileNotFoundError:  # memory.peak appeared in Linux 5.19
            return None

    def oom_kills(self, rel: str) -> int:
        return keyed_value(read_text(os.path.join(self.dirs(rel)[0], "memory.events")), "oom_kill") or 0

    def _procs_file(self, rel: str) -> str:
        return os.path.join(self.dirs(rel)[0], "cgroup.procs")

    def c_supervisor_args(self, rel: str) -> list[str]:
        d = self.dirs(rel)[0]
        kill = os.path.join(d, "cgroup.kill")
        return [
            f"cpu_file={os.path.join(d, 'cpu.stat')}",
            "cpu_v2=1",
            f"oom_file={os.path.join(d, 'memory.events')}",
            f"peak_file={os.path.join(d, 'memory.peak')}",  # absent before Linux 5.19: no peak
            f"list_file={self._procs_file(rel)}",
            *([f"kill_file={kill}"] if os.path.exists(kill) else []),
            f"rmdir={d}",
        ]

    def _kill_once(self, rel: str) -> None:
        kill_file = os.path.join(self.dirs(rel)[0], "cgroup.kill")
        if not os.path.exists(kill_file):
            return super()._kill_once(rel)
        try:
            write_text(kill_file, "1")  # Linux 5.14+: the kernel kills the whole subtree atomically
        except OSError as e:
            if e.errno not in GONE:  # removed meanwhile: nothing left in it to kill
                raise


def unescape_mountinfo(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo.
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def v1_roots_from_mountinfo(text: str) -> dict[str, str]:
    """controller -> mount point of every cgroup v1 hierarchy listed in a mountinfo text."""
    roots: dict[str, str] = {}
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(tail) < 3 or tail[0] != "cgroup" or len(fields) < 5:
            continue
        for option in tail[2].split(","):
            roots.setdefault(option, unescape_mountinfo(fields[4]))
    return roots


def detect(v2_root: str = "/sys/fs/cgroup", mountinfo: str = "/proc/self/mountinfo") -> Cgroups:
    """The backend this host supports: v2 when its root offers memory and pids, else v1 when the
    memory, pids and cpuacct hierarchies are mounted. Raises CgroupError naming what is missing."""
    controllers_file = os.path.join(v2_root, "cgroup.controllers")
    if os.path.exists(controllers_file):
        available = read_text(controllers_file).split()
        if "memory" in available and "pids" in available:
            return CgroupV2(v2_root)
    roots = v1_roots_from_mountinfo(read_text(mountinfo))
    missing = [c for c in V1_CONTROLLERS if c not in roots]
    if missing:
        raise CgroupError(
            f"no usable cgroups: v2 at {v2_root} lacks memory+pids and v1 lacks {', '.join(missing)}"
        )
    return CgroupV1(roots)
