"""The optional parts of the target contract, each a written Protocol that a stage asks for.

A stage never probes a target with hasattr or reaches into one target's internals: it asks
`capability(target, Supervised)` and gets the part, or None and says why it skips. A wrapping target
(targets/delegate.py: the faults wrap a target to change one call) answers for what it wraps, so a
wrapped target keeps its capabilities.

    Supervised      the pid of the sandbox's supervisor of a box (the crash stage kills it alone)
    PhaseReporting  the phase of a box's run as the sandbox records it (setup, execute, ...)
    CommandDriven   which of its commands the pipeline is running for a box now (init, run, cleanup)
    Reloadable      how to make the same target again in another process (the lock holder)
    BoxDirectories  where a box lives on the host
    BoxCgroups      a box's cgroup directories, and the cgroup version they are on
    HasLifecycle    start/stop around a stage's runs (the built-in sandbox's fork server, a described one's
                    start and stop commands)
    Relocatable     the same sandbox (same cgroups) with its box root and state elsewhere
    LockRecords     how to read its own lock record (the corrupt-lock case says whether it is valid)
    Failpoints      a named step of its own made to fail on request (the faults stage's cleanup steps)
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol, TypeVar, runtime_checkable

from reliability.targets.base import Target
from reliability.targets.delegate import Delegating


@runtime_checkable
class Supervised(Protocol):
    def supervisor_pid(self, box: int) -> int | None:
        """Pid of the process supervising `box`'s current call now, if any."""


@runtime_checkable
class PhaseReporting(Protocol):
    def phase(self, box: int) -> str | None:
        """The phase the sandbox recorded for `box`'s run (None if unreadable right now)."""


@runtime_checkable
class CommandDriven(Protocol):
    def live_command(self, box: int) -> str | None:
        """Which command ("init", "run", "cleanup", "recover") is running for `box` now, if any."""


@runtime_checkable
class Reloadable(Protocol):
    loaded_as: tuple[str, dict]  # (name or target file, options): targets.load makes it again


@runtime_checkable
class BoxDirectories(Protocol):
    def box_dir(self, box: int) -> str:
        """The host directory of box `box`."""


@runtime_checkable
class BoxCgroups(Protocol):
    cgroup_version: int  # 1 or 2

    def box_cgroup_dirs(self, box: int) -> list[str]:
        """Box `box`'s cgroup directories (globs), whether they exist now or not."""


@runtime_checkable
class HasLifecycle(Protocol):
    def start(self) -> None:
        """Before a stage's worker threads start (the built-in sandbox starts its fork server)."""

    def stop(self) -> None:
        """After they ended, before the host snapshot after the run."""


@runtime_checkable
class Relocatable(Protocol):
    def relocated(self, box_root: str) -> Target:
        """The same sandbox, its cgroups unchanged, with its box root and state under `box_root` (the
        exhaustion stage puts them on a small tmpfs it fills)."""


@runtime_checkable
class LockRecords(Protocol):
    def lock_record(self, data: bytes) -> dict:
        """What a box's lock file holding `data` says, as {"holder": {...} or None}; ValueError if
        `data` is no valid record of the sandbox's own format."""


@runtime_checkable
class Failpoints(Protocol):
    def failing(self, point: str) -> AbstractContextManager[None]:
        """Failpoint `point` (e.g. "cleanup.reap=error") set for the target's calls made in the block."""


P = TypeVar("P")


def capability(target: Target, proto: type[P]) -> P | None:
    """`target` as a `proto`, or None if it has no such part (a wrapper answers for what it wraps)."""
    while not isinstance(target, proto):
        if not isinstance(target, Delegating):
            return None
        target = target.inner
    return target  # type: ignore[return-value]
