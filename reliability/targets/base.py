"""The target contract: everything that touches a sandbox goes through this interface.

The built-in reference sandbox, isolate, rustbox and any CLI sandbox are driven alike, so that every
stage runs unchanged against each of them.
"""

from __future__ import annotations

import abc
import threading
from contextlib import AbstractContextManager, nullcontext

# The contract's values live in a module of their own (see there why); re-exported for its users.
from reliability.sandbox_values import VERDICTS, CleanupOutcome, Limits, Owned, Result, TargetError  # noqa: F401

# Capabilities a stage may need. A stage needing one the target lacks reports "skipped: <reason>".
CAPABILITIES = ("locks", "state_files", "phases", "failpoints")


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

    def enforced(self, limits: Limits) -> Limits:
        """The limits the sandbox enforces when asked for `limits` (a target may scale time limits for
        a slow host); what a check of the sandbox's own enforcement measures against."""
        return limits

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
