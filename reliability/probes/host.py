"""Readers of the host's state, straight from /proc and cgroupfs.

psutil costs several times more per process than reading the three /proc files we need (see
benchmarks/bench_snapshot.py: 2-4x at every size, and over the 20 ms idle budget on its own), and a
snapshot must stay cheap enough to take around every run. psutil also lacks two things read here: a
process's cgroup membership, and where a pipe, socket or anonymous fd points (open_files() lists
regular files only). The pipeline's own resources go through psutil (probes/own.py).
Every reader tolerates things vanishing while it reads: other tools start and stop processes,
mounts and cgroups all the time.
"""

from __future__ import annotations

import os
import re

PROC = "/proc"


def read_bytes(path: str) -> bytes:
    """Whole file via raw syscalls: cheaper than open() for tiny /proc files."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_process(pid: int) -> dict | None:
    """One process from /proc/PID/{stat,status,cgroup}; None if it ended while being read."""
    base = f"{PROC}/{pid}/"
    try:
        stat = read_bytes(base + "stat")
        status = read_bytes(base + "status")
        cgroup = read_bytes(base + "cgroup")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The name may hold spaces and parentheses: it ends at the last ')'.
    close = stat.rfind(b")")
    name = stat[stat.find(b"(") + 1 : close].decode(errors="replace")
    fields = stat[close + 2 :].split()
    # /proc/PID is owned by root once a process has changed uid, so the uid comes from status.
    uid_at = status.find(b"\nUid:")
    uid = int(status[uid_at + 5 :].split(None, 1)[0]) if uid_at >= 0 else -1
    return {
        "pid": pid,
        "ppid": int(fields[1]),
        "uid": uid,
        "name": name,
        "starttime": int(fields[19]),  # clock ticks after boot: with the pid, a process's identity
        "status": fields[0].decode(),
        "cgroups": cgroup.decode(errors="replace").splitlines(),
    }


def read_processes() -> list[dict]:
    procs = []
    for entry in os.listdir(PROC):
        if entry.isdigit() and (proc := read_process(int(entry))) is not None:
            procs.append(proc)
    return procs


def count_processes() -> int:
    """How many processes the host has: the sampler's cheap reading (no file of each is opened)."""
    return sum(1 for entry in os.listdir(PROC) if entry.isdigit())


def count_mounts() -> int:
    return read_bytes(f"{PROC}/self/mountinfo").count(b"\n")


_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo octal."""
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo_line(line: str) -> dict:
    """One /proc/PID/mountinfo line; super options kept (cgroup v1 controllers live there)."""
    left, _, right = line.partition(" - ")
    parts = left.split()
    fstype, source, super_options = (right.split() + ["", ""])[:3]
    return {
        "id": int(parts[0]),
        "parent": int(parts[1]),
        "device": parts[2],
        "root": _unescape(parts[3]),
        "mount_point": _unescape(parts[4]),
        "fstype": fstype,
        "source": _unescape(source),
        "super_options": super_options.split(","),
    }


def read_mountinfo() -> list[dict]:
    text = read_bytes(f"{PROC}/self/mountinfo").decode(errors="replace")
    return [parse_mountinfo_line(line) for line in text.splitlines() if line]


def v1_controller_names() -> set[str]:
    try:
        text = read_bytes(f"{PROC}/cgroups").decode()
    except FileNotFoundError:
        return set()
    return {line.split()[0] for line in text.splitlines() if line and not line.startswith("#")}


def cgroup_hierarchies(mounts: list[dict]) -> list[dict]:
    """Every mounted cgroup hierarchy (v1 and v2), each once even if mounted at several places."""
    known = v1_controller_names()
    seen_devices: set[str] = set()
    out = []
    for m in mounts:
        if m["fstype"] not in ("cgroup", "cgroup2") or m["device"] in seen_devices:
            continue
        seen_devices.add(m["device"])
        v1 = m["fstype"] == "cgroup"
        controllers = [o for o in m["super_options"] if o in known or o.startswith("name=")] if v1 else []
        out.append(
            {
                "mount_point": m["mount_point"],
                "root": m["root"],
                "version": 1 if v1 else 2,
                "controllers": controllers,
            }
        )
    return out


def walk_cgroups(hierarchies: list[dict]) -> list[str]:
    """Absolute path of every cgroup directory, each hierarchy's mount point included."""
    out: list[str] = []
    stack = [h["mount_point"] for h in hierarchies]
    while stack:
        path = stack.pop()
        out.append(path)
        try:
            with os.scandir(path) as entries:
                stack.extend(e.path for e in entries if e.is_dir(follow_symlinks=False))
        except (FileNotFoundError, NotADirectoryError):
            continue  # removed while we walked
    out.sort()
    return out


def read_fds(pid: int) -> list[dict] | None:
    """Open fds of `pid` as {pid, fd, target}; None if the process is gone.

    listdir closes its own directory fd before returning, so when `pid` is us that fd's readlink
    fails and it is left out: the probe's transient fd never counts.
    """
    path = f"{PROC}/{pid}/fd"
    try:
        names = os.listdir(path)
    except (FileNotFoundError, ProcessLookupError):
        return None
    out = []
    for name in names:
        try:
            target = os.readlink(f"{path}/{name}")
        except OSError:
            continue  # closed meanwhile (the probe's own listing fd among them)
        if target != path:
            out.append({"pid": pid, "fd": int(name), "target": target})
    out.sort(key=lambda d: d["fd"])
    return out


def list_entries(roots: list[str]) -> list[dict]:
    """Entries directly under each existing root, as {path, kind}."""
    out = []
    for root in roots:
        try:
            with os.scandir(root) as entries:
                for e in entries:
                    kind = "symlink" if e.is_symlink() else "dir" if e.is_dir() else "file"
                    out.append({"path": e.path, "kind": kind})
        except (FileNotFoundError, NotADirectoryError):
            continue
    out.sort(key=lambda d: d["path"])
    return out


def boot_id() -> str:
    return read_bytes(f"{PROC}/sys/kernel/random/boot_id").decode().strip()
