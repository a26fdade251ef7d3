"""diff(): what appeared between two snapshots, split into the sandbox's leaks and host noise.

The rules are stated in the reliability.probes docstring; each function here applies one of them.
"""

from __future__ import annotations

import fnmatch
from collections import Counter

from reliability.errors import UsageError
from reliability.probes.leaks import Leaks
from reliability.sandbox_values import Owned
from reliability.schemas import errors as schema_errors


def diff(before: dict, after: dict, owned: Owned, pipeline_pid: int) -> Leaks:
    # Full schema validation costs more than the diff itself (tens of ms on a busy host), so it runs
    # only when a snapshot turns out malformed, to say precisely what is wrong.
    try:
        return _diff(before, after, owned, pipeline_pid)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        validate_snapshot(before, "before")
        validate_snapshot(after, "after")
        raise UsageError(f"snapshots are malformed: {type(exc).__name__}: {exc}") from None


def validate_snapshot(doc: object, label: str = "snapshot") -> None:
    """Raise UsageError with the first way `doc` breaks schemas/snapshot.schema.json."""
    problems = schema_errors("snapshot", doc)
    if problems:
        raise UsageError(f"{label} snapshot is not valid: {problems[0]}")


def _diff(before: dict, after: dict, owned: Owned, pipeline_pid: int) -> Leaks:
    if before["boot_id"] != after["boot_id"]:
        raise UsageError("snapshots come from different boots: pids and start times cannot be compared")
    leaks = Leaks()
    ownership = _Ownership(after, owned, pipeline_pid)
    _diff_processes(before, after, ownership, leaks)
    _diff_mounts(before, after, owned, leaks)
    _diff_cgroups(before, after, owned, leaks)
    _diff_fds(before, after, leaks)
    _diff_temp(before, after, owned, leaks)
    _diff_box_paths(before, after, owned, leaks)
    return leaks


def _under(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _cgroup_label(line: str) -> str:
    """'4:memory:/refbox/box-3' -> 'memory:/refbox/box-3'; the v2 line '0::/x' -> 'cgroup2:/x'."""
    _, controllers, path = line.split(":", 2)
    return f"{controllers or 'cgroup2'}:{path}"


class _Ownership:
    """Decides whether a process in the `after` snapshot is the sandbox's, and by which rule."""

    def __init__(self, after: dict, owned: Owned, pipeline_pid: int):
        self.owned = owned
        self.pipeline_pid = pipeline_pid
        self.by_pid = {p["pid"]: p for p in after["processes"]}
        self.roots = [r.rstrip("/") or "/" for r in owned.cgroup_roots]
        self.v2 = next((h for h in after["hierarchies"] if h["version"] == 2), None)
        self.v1 = {frozenset(h["controllers"]): h for h in after["hierarchies"] if h["version"] == 1}

    def _absolute(self, line: str) -> str | None:
        """cgroupfs path of one /proc/PID/cgroup line, None if its hierarchy is not mounted here."""
        _, controllers, path = line.split(":", 2)
        h = self.v1.get(frozenset(controllers.split(","))) if controllers else self.v2
        if h is None:
            return None
        root = h["root"].rstrip("/")
        if path != root and not path.startswith(root + "/"):
            return None  # outside the part of the hierarchy that is mounted
        return (h["mount_point"].rstrip("/") + path[len(root) :]).rstrip("/") or "/"

    def box_uid(self, proc: dict) -> bool:
        r = self.owned.uid_range
        return r is not None and r[0] <= proc["uid"] <= r[1]

    def owned_cgroup(self, proc: dict) -> str | None:
        """Label of the first cgroup of `proc` under an owned root."""
        for line in proc["cgroups"]:
            path = self._absolute(line)
            if path is not None and _under(path, self.roots):
                return _cgroup_label(line)
        return None

    def descends_from_pipeline(self, proc: dict) -> bool:
        seen = set()
        ppid = proc["ppid"]
        while ppid and ppid not in seen:
            if ppid == self.pipeline_pid:
                return True
            seen.add(ppid)
            parent = self.by_pid.get(ppid)
            ppid = parent["ppid"] if parent else 0
        return False

    def not_ours_reason(self) -> str:
        return f"not the sandbox's: uid outside box range, in no owned cgroup, not under pipeline {self.pipeline_pid}"


def _diff_processes(before: dict, after: dict, ownership: _Ownership, leaks: Leaks) -> None:
    # A pid can be reused: identity is pid + start time.
    seen = {(p["pid"], p["starttime"]) for p in before["processes"]}
    zombies_before = {(p["pid"], p["starttime"]) for p in before["processes"] if p["status"] == "Z"}
    for p in after["processes"]:
        key = (p["pid"], p["starttime"])
        zombie = p["status"] == "Z"
        if key in (zombies_before if zombie else seen) or p["pid"] == ownership.pipeline_pid:
            continue
        cgroup = ownership.owned_cgroup(p)
        ours = ownership.box_uid(p) or cgroup is not None or ownership.descends_from_pipeline(p)
        if zombie:
            item = f"zombie {p['pid']} ({p['name']}) uid {p['uid']} parent {p['ppid']}"
            target = leaks.zombies
        else:
            item = f"process {p['pid']} ({p['name']}) uid {p['uid']}"
            target = leaks.processes
        if cgroup is not None:
            item += f" cgroup {cgroup}"
        if ours:
            target.append(item)
        else:
            leaks.noise.append(f"{item}: {ownership.not_ours_reason()}")


def _diff_mounts(before: dict, after: dict, owned: Owned, leaks: Leaks) -> None:
    # Keyed by place and kind, not mount id: a box unmounted and mounted again at the same place is
    # the same state; a second mount stacked on the first is a new one.
    def key(m: dict) -> tuple[str, str, str]:
        return (m["mount_point"], m["fstype"], m["source"])

    roots = [owned.box_root, *owned.temp_roots, *owned.mount_roots]
    extra = Counter(key(m) for m in after["mounts"]) - Counter(key(m) for m in before["mounts"])
    for (mount_point, fstype, _source), count in sorted(extra.items()):
        item = f"mount {fstype} on {mount_point}"
        if _under(mount_point, roots):
            leaks.mounts.extend([item] * count)
        else:
            leaks.noise.extend([f"{item}: not under the target's box, temp or mount roots"] * count)


def _box_path(path: str, owned: Owned) -> bool:
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in owned.box_paths)


def _diff_cgroups(before: dict, after: dict, owned: Owned, leaks: Leaks) -> None:
    roots = [r.rstrip("/") or "/" for r in owned.cgroup_roots]
    for path in sorted(set(after["cgroups"]) - set(before["cgroups"])):
        if (_under(path, roots) and path not in roots) or _box_path(path, owned):
            leaks.cgroups.append(f"cgroup {path}")
        else:
            leaks.noise.append(f"cgroup {path}: outside owned cgroup roots")


def _diff_fds(before: dict, after: dict, leaks: Leaks) -> None:
    def starttimes(snap: dict) -> dict[int, int]:
        return {p["pid"]: p["starttime"] for p in snap["processes"] if p["pid"] in snap["fd_pids"]}

    start_before, start_after = starttimes(before), starttimes(after)
    comparable = set()
    for pid in after["fd_pids"]:
        if pid in before["fd_pids"] and start_before.get(pid) == start_after.get(pid):
            comparable.add(pid)
        else:
            leaks.noise.append(f"fds of pid {pid}: not probed before (or a new process), not compared")
    old = {(d["pid"], d["fd"], d["target"]) for d in before["fds"]}
    for d in after["fds"]:
        if d["pid"] in comparable and (d["pid"], d["fd"], d["target"]) not in old:
            line = f"fd {d['fd']} -> {d['target']} (pid {d['pid']})"
            if d["pid"] == after["pipeline_pid"] and _proc_scan(d["target"]):
                leaks.noise.append(f"{line}: a listing of /proc by one of the pipeline's threads")
            else:
                leaks.fds.append(line)


def _proc_scan(target: str) -> bool:
    """/proc or /proc/PID/{fd,task}: a directory the pipeline's threads list (the sampler counts the
    host's processes, the probes walk a process's fds and tasks), open only while it is read."""
    parts = target.split("/")
    return target == "/proc" or (len(parts) == 4 and parts[1] == "proc" and parts[3] in ("fd", "task"))


def _diff_box_paths(before: dict, after: dict, owned: Owned, leaks: Leaks) -> None:
    """A box directory of this run's that is new and not already listed under the temp roots."""
    listed = {e["path"] for e in after["temp"]}
    for path in sorted(set(after.get("box_paths", [])) - set(before.get("box_paths", [])) - listed):
        if _box_path(path, owned):
            leaks.temp_dirs.append(f"box dir {path}")


def _holds_state(path: str, owned: Owned) -> bool:
    """`path` is one of the target's declared state files, or a directory named literally on the way
    to one: a sandbox that makes its state directory on first use (the refbox CLI under a fresh box
    root) did not leak it. A wildcard step ("{root}/*/state.json") excuses nothing: it would cover
    every box directory."""
    for glob in owned.state_files:
        parts = glob.rstrip("/").split("/")
        for n in range(2, len(parts) + 1):
            literal = n < len(parts) and not any(c in parts[n - 1] for c in "*?[")
            if (literal or n == len(parts)) and fnmatch.fnmatchcase(path, "/".join(parts[:n])):
                return True
    return False


def _diff_temp(before: dict, after: dict, owned: Owned, leaks: Leaks) -> None:
    old = {e["path"] for e in before["temp"]}
    for e in after["temp"]:
        if e["path"] not in old:
            noun = "temp dir" if e["kind"] == "dir" else f"temp {e['kind']}"
            if _holds_state(e["path"], owned):
                leaks.noise.append(f"{noun} {e['path']}: holds the target's declared state files")
            else:
                leaks.temp_dirs.append(f"{noun} {e['path']}")
