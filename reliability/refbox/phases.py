"""The supervisor's phase in state.json (setup, execute, timeout, cleanup, verdict), as it moves.

Prepared by the parent before fork (the state document, the failpoints), used in the supervisor with
os-level calls only. Each phase is an atomic rename without fsync: measured here at a few ms per
durable write on a busy disk against well under one for a plain rename, and a phase matters only until
the next boot.
"""

from __future__ import annotations

from reliability.refbox import failpoints
from reliability.refbox.state import PHASES, encode, state_path, write_atomic


class PhaseRecorder:
    def __init__(self, state_dir: str, doc: dict):
        self.path = state_path(state_dir, doc["box"])
        self.doc = dict(doc)
        self.points = failpoints.active()

    def enter(self, phase: str) -> None:
        """Record `phase`, then act on failpoint phase.<phase> (pause: a test kills us here)."""
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}")
        self.doc["phase"] = phase
        write_atomic(self.path, encode(self.doc), durable=False)
        failpoints.hit(f"phase.{phase}", self.points)
