"""The built-in target: the reference sandbox (refbox), driven in process."""

from __future__ import annotations

from reliability.refbox.box import (
    DEFAULT_BOX_ROOT,
    DEFAULT_CGROUP_NAME,
    FIRST_UID,
    MAX_BOXES,
    VERSION,
    Refbox,
)
from reliability.targets.base import CleanupOutcome, Limits, Owned, Result, Target


class BuiltinTarget(Target):
    name = "builtin"
    capabilities: frozenset[str] = frozenset()

    def __init__(
        self, box_root: str = DEFAULT_BOX_ROOT, cgroup_name: str = DEFAULT_CGROUP_NAME, quota_mb: int = 64
    ):
        self.refbox = Refbox(box_root=box_root, cgroup_name=cgroup_name, quota_mb=quota_mb)

    def version(self) -> str:
        return f"refbox {VERSION} (cgroup v{self.refbox.cgroups.version})"

    def owned(self) -> Owned:
        return Owned(
            box_root=self.refbox.box_root,
            cgroup_roots=self.refbox.cgroup_roots(),
            uid_range=(FIRST_UID, FIRST_UID + MAX_BOXES - 1),
            temp_roots=[self.refbox.box_root],
        )

    def init(self, box: int) -> None:
        self.refbox.init(box)

    def run(self, box: int, command: list[str], limits: Limits, files: dict[str, str]) -> Result:
        return self.refbox.run(box, command, limits, files)

    def cleanup(self, box: int) -> CleanupOutcome:
        return self.refbox.cleanup(box)

    def recover(self, box: int | None = None) -> list[str]:
        return self.refbox.recover(box)

    def box_pids(self, box: int) -> list[int]:
        return self.refbox.box_pids(box)

    def supervisor_pid(self, box: int) -> int | None:
        """Pid of the supervisor of the run in progress in `box` (refbox only: for crash tests)."""
        return self.refbox.supervisor_pid(box)
