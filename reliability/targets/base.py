"""The target contract: everything that touches a sandbox goes through this interface.

The built-in reference sandbox, isolate, rustbox and any CLI sandbox are driven alike, so that every
stage runs unchanged against each of them.
"""

from __future__ import annotations

import abc
import threading
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field

VERDICTS = ("OK", "TLE", "MLE", "RE", "OLE", "IE")

# Capabilities a stage may need. A stage needing one the target lacks reports "skipped: <reason>".
CAPABILITIES = ("locks", "state_files", "phases", "failpoints")


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
            mount_roots=list(d.get("mount_roots", [])),
            box_paths=list(d.get("box_paths", [])),
        )


class Target(abc.ABC):
    """A sandbox under test. Boxes are numbered; one run at a time per box."""

    name: str = "target"
    capabilities: frozenset[str] = frozenset()
    box_count: int | None = None  # boxes are 0..box_count-1; None: the target does not say

    @abc.abstractmethod
    def version(self) -> str: ...

    @abc.abstractmethod
    def owned(self, boxes: list[int] | None = None) -> Owned:
        """What the target owns; with `boxes`, narrowed to those boxes where the target can (per-box uids)."""

    @abc.abstractmethod
    def init(self, box: int) -> None:
        """Prepare box `box`; raise TargetError if it cannot."""

    @abc.abstractmethod
    def run(self, box: int, command: list[str], limits: Limits, files: dict[str, str]) -> Result:
        """Copy `files` ({host path: name in the box}) into the box, run `command` there under `limits`.

        Never raises for what the program did; a sandbox failure is a Result with verdict IE.
        """

    @abc.abstractmethod
    def cleanup(self, box: int) -> CleanupOutcome: ...

    @abc.abstractmethod
    def recover(self, box: int | None = None) -> list[str]:
        """Remove what a dead run left behind, for one box or all; return what was removed."""

    @abc.abstractmethod
    def box_pids(self, box: int) -> list[int]:
        """Pids of the program processes running in `box` now (used to kill a run from outside)."""

    # Optional: the files the locks and state stages damage from outside; None or [] = not declared,
    # and the sub-case that needs it is skipped with that reason.
    def lock_file(self, box: int) -> str | None:
        """Path of box `box`'s lock file."""
        return None

    def state_file(self, box: int) -> str | None:
        """Path of box `box`'s state file."""
        return None

    def audit_files(self) -> list[str]:
        """The target's audit logs (append-only records of what it found and did)."""
        return []

    # Optional: the pipeline's own hand on a sandbox's commands (a target driven through processes the
    # pipeline starts and may have to kill). Observe before you act: the crash stage holds the hang
    # guard until it has recorded what a killed supervisor left by itself.
    def hold_kills(self, box: int, until: threading.Event) -> AbstractContextManager[None]:
        """While inside, a kill the pipeline would make of `box`'s commands (a hang guard) first waits
        for `until`. Default: the pipeline never kills anything of the target's."""
        return nullcontext()

    def pipeline_kills(self, box: int) -> list[dict]:
        """What the pipeline itself killed for `box` since last asked (pid, name, uid, command and why),
        so the runner can journal it: a kill by the pipeline is never silent. Default: none."""
        return []

    def paused_start(self, box: int, command: str) -> AbstractContextManager[bool]:
        """While inside, the `command` ("init", "cleanup") started for `box` stops itself before it
        execs, so that a crash lands at a chosen delay into it (the caller sends SIGCONT); yields
        whether the target can. Default: it cannot (its commands are not processes of the pipeline)."""
        return nullcontext(False)

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to do for most targets
        """End of a stage: remove what the target keeps only while boxes run (nothing by default)."""


class TargetError(Exception):
    """The target could not do what was asked (not a verdict: the sandbox itself failed)."""
