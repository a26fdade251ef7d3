"""Run one recorded submission again, inside its stage: the same seed, sizes, target and case.

The submission is found by its index; the stage runs again with its workload narrowed to that one
submission, so its host fixture and its fault around the execution (a killed supervisor, a failing
cleanup step, a damaged state file, a hostile program's plants) are entered again for the case the
submission carries (Submission.case). The workload made again must give that index the recorded
program and case, or the replay is refused: it would test something else. The
replay is a run of its own under <run dir>/replays/, with its history, checks and JUnit; nothing of the
recorded run is changed. A history recorded by another pipeline version, or against another target
than the one asked for, is refused: the same index could be another case there.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

from reliability import __version__
from reliability.analyze import HISTORY
from reliability.errors import UsageError
from reliability.execute import RunOptions, check_boxes, execute
from reliability.history import read
from reliability.profiles import Sizes
from reliability.stages import get as get_stage
from reliability.stages.base import Stage, StageContext
from reliability.targets import load as load_target
from reliability.workload.submission import Submission


def narrowed(stage: Stage, index: int) -> Stage:
    """`stage` feeding only submission `index` of its workload (the workload is the same for a seed)."""

    def workload(ctx: StageContext):
        return (s for s in [made_again(stage, ctx, index)] if s is not None)

    return dataclasses.replace(stage, workload=workload, enough=lambda *_: False, planned=lambda _: 1)


def made_again(stage: Stage, ctx: StageContext, index: int) -> Submission | None:
    """Submission `index` of the stage's workload for ctx's seed and sizes (None past its end)."""
    upto = itertools.takewhile(lambda s: s.index <= index, stage.workload(ctx))
    return next((s for s in upto if s.index == index), None)


def check_same_case(recorded: Submission, again: Submission | None, run_dir: Path) -> None:
    """Refuse a replay whose workload no longer gives the index the recorded program and case."""
    if again is None or (again.program, again.case) != (recorded.program, recorded.case):
        now = f"{again.program} case {again.case or '-'}" if again else "nothing"
        raise UsageError(
            f"{run_dir}: index {recorded.index} was {recorded.program} case {recorded.case or '-'}, "
            f"but this pipeline's workload gives {now} there: replay it with the pipeline that recorded it"
        )


def replay(run_dir: Path, index: int, target: str | None, target_options: dict, box: int | None) -> int:
    history = read(Path(run_dir) / HISTORY)
    start = history.stage_start
    sub = history.submissions.get(index)
    if sub is None:
        raise UsageError(f"{run_dir}: no submission with index {index}")
    if start["pipeline_version"] != __version__:
        raise UsageError(
            f"{run_dir} was recorded by pipeline {start['pipeline_version']} and this is {__version__}: "
            f"index {index} may be another case here; replay it with that version"
        )
    recorded = start.get("target_spec", start["target"])
    if target is not None and target != recorded:
        raise UsageError(f"{run_dir} was recorded against target {recorded}, not {target}: replay it there")
    stage = get_stage(start["stage"])
    options = dict(start.get("target_options", {})) | dict(target_options)
    if box is not None:  # said about --box, before any stage machinery starts
        sandbox = load_target(recorded, options)
        try:
            check_boxes(sandbox, [box], given_by="--box")
        finally:
            sandbox.close()
    recorded_box = history.results.get(index, {}).get("box", sub.box)
    default = stage.sizes_for(start["profile"])
    sizes = {k: v for k, v in start["config"].items() if k in Sizes.__dataclass_fields__}
    check_same_case(sub, made_again(stage, StageContext(start["seed"], Sizes(**sizes)), index), run_dir)
    sizes = {k: v for k, v in sizes.items() if v != getattr(default, k)}  # what the run was told
    analysis = execute(
        narrowed(stage, index),
        RunOptions(
            profile=start["profile"],
            seed=start["seed"],
            overrides={**sizes, "concurrency": 1},
            runs_dir=Path(run_dir) / "replays",
            reports_dir=Path(run_dir) / "replays",
            target=recorded,
            target_options=options,
            box_base=recorded_box if box is None else box,
        ),
    )
    again = analysis.history
    result = again.results.get(index)
    print(
        json.dumps(
            {
                "submission": sub.to_dict(),
                "expected": sub.expected,
                "result": result["result"] if result else None,
                "replay": str(again.run_dir),
                "failed_checks": [c.name for c in analysis.checks if c.status == "failed"],
            },
            indent=2,
        )
    )
    return 0 if analysis.ok else 1
