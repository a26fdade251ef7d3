"""Run one stage for real on the built-in sandbox, in a box root and cgroup of its own, with optional
REFBOX_FAILPOINTS (the defects); everything it made is removed afterwards, even when it failed."""

from __future__ import annotations

import dataclasses
import itertools
import os
import shutil
import tempfile
from pathlib import Path

from reliability.execute import RunOptions, execute
from reliability.refbox import defects, failpoints
from reliability.stages import get
from reliability.stages.base import Stage
from reliability.targets.builtin import BuiltinTarget

PID = os.getpid()
_boxes = itertools.count(200 + (PID % 40) * 10)  # box numbers (uids) apart from other testers' runs


def only(stage_name: str, picks: tuple[str, ...], own_end: bool = False) -> Stage:
    """The stage with its workload narrowed to some cases (Submission.case), or to some programs for a
    stage without cases: the same machinery, fewer executions.

    It ends when the narrowed workload does; a stream that never ends (stress) keeps the stage's own
    end instead (own_end: enough submissions fed)."""
    stage = get(stage_name)
    narrowed = lambda ctx: (s for s in stage.workload(ctx) if (s.case or s.program) in picks)  # noqa: E731
    enough = stage.done_feeding if own_end else lambda ctx, fed, elapsed: False
    return dataclasses.replace(stage, workload=narrowed, enough=enough)


def smoke_options(work: Path, target: str, overrides: dict, box_base: int, seed: int) -> RunOptions:
    """A smoke run of the target file `target`, its runs and reports under `work`."""
    return RunOptions(
        profile="smoke",
        seed=seed,
        overrides=overrides,
        runs_dir=work / "runs",
        reports_dir=work / "reports",
        target=target,
        box_base=box_base,
    )


def run_stage(stage: Stage | str, overrides: dict, points: str = "") -> dict:
    """{check name: CheckResult} of one real run."""
    stage = get(stage) if isinstance(stage, str) else stage
    work = Path(tempfile.mkdtemp(prefix=f"stage-run-{PID}-"))
    os.chmod(work, 0o755)
    boxes = work / "boxes"
    boxes.mkdir(mode=0o755)
    cgroup = f"refbox-test-{PID}-{work.name[-8:]}"
    saved = os.environ.get(failpoints.ENV)
    if points:
        os.environ[failpoints.ENV] = points
    try:
        opts = RunOptions(
            profile="smoke",
            seed=11,
            overrides=overrides,
            runs_dir=work / "runs",
            reports_dir=work / "reports",
            target_options={"box_root": str(boxes), "cgroup_name": cgroup, "quota_mb": 16},
            box_base=next(_boxes),
        )
        return {c.name: c for c in execute(stage, opts).checks}
    finally:
        if saved is None:
            os.environ.pop(failpoints.ENV, None)
        else:
            os.environ[failpoints.ENV] = saved
        defects.undo_left()
        target = BuiltinTarget(box_root=str(boxes), cgroup_name=cgroup)
        target.recover()
        target.close()
        shutil.rmtree(work, ignore_errors=True)
