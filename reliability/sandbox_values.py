"""The values a sandbox and the pipeline exchange: limits in, a result and a cleanup outcome out, what
the sandbox owns on the host, and the error it raises when it cannot do what was asked.

Why a module of their own, rather than refbox keeping its own copies that targets/builtin.py
translates: these types are the contract's vocabulary, and the reference sandbox speaks the contract
natively. Two copies of the same fields would have to be kept in step by hand, and a translation
layer is one more place where a verdict or a peak memory can silently go missing. This module
imports nothing of the pipeline, so refbox stays independent of it (it could be lifted out with this
one file), and the checks and the history can name a Limits or an Owned without importing a target.
targets/base.py re-exports them, so `from reliability.targets.base import Limits` keeps working.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

VERDICTS = ("OK", "TLE", "MLE", "RE", "OLE", "IE")


@dataclass(frozen=True)
class Limits:
    cpu_s: float  # CPU time of all the run's processes together
    wall_s: float
    mem_mb: int  # cgroup memory limit
    processes: int  # pids limit (threads count too)
    output_kb: int  # largest file the program may write (stdout included)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Limits:
        return cls(**{k: d[k] for k in ("cpu_s", "wall_s", "mem_mb", "processes", "output_kb")})


@dataclass
class Result:
    verdict: str  # one of VERDICTS
    cpu_s: float = 0.0
    wall_s: float = 0.0
    peak_mem_kb: int = 0
    exit_code: int | None = None
    signal: int | None = None
    message: str = ""  # why, for TLE (cpu or wall), IE (the cause) and the like
    stdout: str = ""  # the program's standard output, first 4 KiB
    raw: dict = field(default_factory=dict)  # the target's own output, kept as evidence

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CleanupOutcome:
    ok: bool
    steps: list[dict] = field(default_factory=list)  # [{"name": str, "ok": bool, "error": str}]
    error: str = ""
    quarantined: bool = False  # this cleanup failed for good and put the box in quarantine

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Owned:
    """What the target owns on the host, so the probes know where to look."""

    box_root: str  # box directories live under it
    cgroup_roots: list[str] = field(default_factory=list)  # absolute cgroupfs paths its cgroups live under
    uid_range: tuple[int, int] | None = None  # inclusive range of box process uids
    # directories whose entries are the target's temp dirs
    temp_roots: list[str] = field(default_factory=list)
    state_files: list[str] = field(default_factory=list)  # glob patterns
    # How the files of a state_files glob must read: {glob: {"schema": name under schemas/, "format":
    # "json" | "json_line" | "jsonl"}} (probes/state_files.py; a glob without one is judged by name).
    file_rules: dict[str, dict] = field(default_factory=dict)
    mount_roots: list[str] = field(default_factory=list)  # where its mounts live besides box and temp roots
    # Globs of this run's boxes' own paths (box directories, box cgroups): a new one is the target's
    # leak wherever it is, even where no root is claimed (isolate 1.x's box cgroups sit next to
    # systemd's, so it can claim no cgroup root).
    box_paths: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["uid_range"] = list(self.uid_range) if self.uid_range else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Owned:
        uid = d.get("uid_range")
        return cls(
            box_root=d["box_root"],
            cgroup_roots=list(d.get("cgroup_roots", [])),
            uid_range=tuple(uid) if uid else None,
            temp_roots=list(d.get("temp_roots", [])),
            state_files=list(d.get("state_files", [])),
            file_rules=dict(d.get("file_rules", {})),
            mount_roots=list(d.get("mount_roots", [])),
            box_paths=list(d.get("box_paths", [])),
        )


class TargetError(Exception):
    """The target could not do what was asked (not a verdict: the sandbox itself failed)."""
