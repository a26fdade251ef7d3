"""The built-in target: the reference sandbox (refbox), driven in process."""

from __future__ import annotations

import dataclasses
import json
import os
from contextlib import AbstractContextManager

from reliability.refbox import failpoints, forkserver, locks
from reliability.refbox.audit import audit_path
from reliability.refbox.box import (
    DEFAULT_BOX_ROOT,
    DEFAULT_CGROUP_NAME,
    FIRST_UID,
    MAX_BOXES,
    VERSION,
    Refbox,
)
from reliability.refbox.state import state_path
from reliability.targets.base import CleanupOutcome, Limits, Owned, Result, Target


class BuiltinTarget(Target):
    name = "builtin"
    capabilities: frozenset[str] = frozenset({"locks", "state_files", "phases", "failpoints"})
    box_count = MAX_BOXES
    time_scale = 1.0  # see __init__; also the default of subclasses that make their own refbox

    def __init__(
        self,
        box_root: str = DEFAULT_BOX_ROOT,
        cgroup_name: str = DEFAULT_CGROUP_NAME,
        quota_mb: int = 64,
        time_scale: float = 1.0,
    ):
        self.refbox = Refbox(box_root=box_root, cgroup_name=cgroup_name, quota_mb=quota_mb)
        # On a CPU this many times slower than the machines the limits are made for (an emulated one:
        # qemu's TCG), every CPU and wall limit is stretched by it, so each program keeps its verdict.
        self.time_scale = time_scale

    def close(self) -> None:
        # The parent cgroups exist only to hold box cgroups: left behind they would be new cgroups on
        # the host after every run. A parent still in use by another pipeline stays (EBUSY).
        for directory in self.refbox.cgroup_roots():
            try:
                os.rmdir(directory)
            except OSError:
                pass

    def version(self) -> str:
        scaled = f", time limits x{self.time_scale:g}" if self.time_scale != 1.0 else ""
        return f"refbox {VERSION} (cgroup v{self.refbox.cgroups.version}{scaled})"

    def owned(self, boxes: list[int] | None = None) -> Owned:
        low, high = (min(boxes), max(boxes)) if boxes else (0, MAX_BOXES - 1)
        state = self.refbox.state_dir
        rules = {
            f"{state}/*/state.json": {"schema": "box-state", "format": "json"},
            f"{state}/*/lock": {"schema": "box-lock", "format": "json_line"},
            f"{state}/audit.jsonl": {"schema": "audit-record", "format": "jsonl"},
        }
        return Owned(
            box_root=self.refbox.box_root,
            cgroup_roots=self.refbox.cgroup_roots(),
            uid_range=(FIRST_UID + low, FIRST_UID + high),
            temp_roots=[self.refbox.box_root],
            state_files=list(rules),
            file_rules=rules,
        )

    def state_file(self, box: int) -> str | None:
        """Box `box`'s state file (the state stage damages it from outside)."""
        return state_path(self.refbox.state_dir, box)

    def audit_files(self) -> list[str]:
        """Where the refbox records what it set aside, quarantined and recovered."""
        return [audit_path(self.refbox.state_dir)]

    def init(self, box: int) -> None:
        self.refbox.init(box)

    def enforced(self, limits: Limits) -> Limits:
        if self.time_scale == 1.0:
            return limits
        return dataclasses.replace(
            limits, cpu_s=limits.cpu_s * self.time_scale, wall_s=limits.wall_s * self.time_scale
        )

    def run(self, box: int, command: list[str], limits: Limits, files: dict[str, str]) -> Result:
        return self.refbox.run(box, command, self.enforced(limits), files)

    def cleanup(self, box: int) -> CleanupOutcome:
        return self.refbox.cleanup(box)

    def recover(self, box: int | None = None) -> list[str]:
        return self.refbox.recover(box)

    def box_pids(self, box: int) -> list[int]:
        return self.refbox.box_pids(box)

    def lock_file(self, box: int) -> str | None:
        """The file holding box `box`'s lock (flock + owner record), for the locks stage's faults."""
        return locks.lock_path(self.refbox.state_dir, box)

    # -- capabilities (targets/capabilities.py) --------------------------------------------------------
    def supervisor_pid(self, box: int) -> int | None:
        """Pid of the supervisor of the run in progress in `box` (Supervised)."""
        return self.refbox.supervisor_pid(box)

    def phase(self, box: int) -> str | None:
        """The phase in box `box`'s state.json (PhaseReporting); None between two atomic writes."""
        try:
            with open(state_path(self.refbox.state_dir, box), "rb") as f:
                return json.loads(f.read()).get("phase")
        except (OSError, ValueError):
            return None

    def box_dir(self, box: int) -> str:
        return self.refbox.box_dir(box)

    def failing(self, point: str) -> AbstractContextManager[None]:
        """Failpoint `point` for the calls in the block (Failpoints): the refbox reads REFBOX_FAILPOINTS
        in this process, and its supervisors inherit it."""
        return failpoints.added(point)

    @property
    def cgroup_version(self) -> int:
        return self.refbox.cgroups.version

    def box_cgroup_dirs(self, box: int) -> list[str]:
        return self.refbox.cgroups.dirs(self.refbox.box_cgroup(box))

    def relocated(self, box_root: str) -> BuiltinTarget:
        """The same sandbox (same cgroup name, so the probes see its leftovers) rooted at `box_root`
        (Relocatable)."""
        return BuiltinTarget(
            box_root=box_root, cgroup_name=self.refbox.cgroup_name, time_scale=self.time_scale
        )

    def lock_record(self, data: bytes) -> dict:
        """Box lock file contents as the refbox reads them (LockRecords; schemas/box-lock.schema.json)."""
        return locks.parse_record(data)

    def start(self) -> None:
        """Without the C supervisor (no compiler here: refbox/boxinit_build.py), Python supervisors are
        forked from a lean server started now, before the worker threads: a fork of the pipeline,
        threads and heap, cost 4-6 ms of its CPU per run (measured). The C supervisor is spawned
        (a vfork), so it needs none."""
        if self.refbox.c_supervisor():
            return
        forkserver.start()

    def stop(self) -> None:
        """Stopped before the host snapshot after the run, which must not see it."""
        forkserver.stop()
