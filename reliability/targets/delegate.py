"""A target that passes everything to another one: faults wrap a target and change one call."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager

from reliability.targets.base import CleanupOutcome, Limits, Owned, Result, Target


class Delegating(Target):
    def __init__(self, inner: Target):
        self.inner = inner
        self.name, self.capabilities = inner.name, inner.capabilities

    def version(self) -> str:
        return self.inner.version()

    def owned(self, boxes: list[int] | None = None) -> Owned:
        return self.inner.owned(boxes)

    def init(self, box: int) -> None:
        self.inner.init(box)

    def run(self, box: int, command: list[str], limits: Limits, files: dict[str, str]) -> Result:
        return self.inner.run(box, command, limits, files)

    def enforced(self, limits: Limits) -> Limits:
        return self.inner.enforced(limits)

    def cleanup(self, box: int) -> CleanupOutcome:
        return self.inner.cleanup(box)

    def recover(self, box: int | None = None) -> list[str]:
        return self.inner.recover(box)

    def box_pids(self, box: int) -> list[int]:
        return self.inner.box_pids(box)

    def lock_file(self, box: int) -> str | None:
        return self.inner.lock_file(box)

    def state_file(self, box: int) -> str | None:
        return self.inner.state_file(box)

    def audit_files(self) -> list[str]:
        return self.inner.audit_files()

    def hold_kills(self, box: int, until: threading.Event) -> AbstractContextManager[None]:
        return self.inner.hold_kills(box, until)

    def pipeline_kills(self, box: int) -> list[dict]:
        return self.inner.pipeline_kills(box)

    def paused_start(self, box: int, command: str) -> AbstractContextManager[bool]:
        return self.inner.paused_start(box, command)

    def close(self) -> None:
        self.inner.close()
