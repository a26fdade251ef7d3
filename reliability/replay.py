"""Run one recorded submission again, exactly as the history describes it (seed + index identify it)."""

from __future__ import annotations

import json
from pathlib import Path

from reliability.analyze import HISTORY
from reliability.errors import UsageError
from reliability.execute import check_boxes
from reliability.history import read
from reliability.runner import Prepared
from reliability.targets import load as load_target
from reliability.workload.prepare import prepare_programs


def replay(run_dir: Path, index: int, target: str, target_options: dict, box: int | None) -> int:
    history = read(Path(run_dir) / HISTORY)
    sub = history.submissions.get(index)
    if sub is None:
        raise UsageError(f"{run_dir}: no submission with index {index}")
    prep = prepare_programs([sub.program]).get(sub.program)
    if not isinstance(prep, Prepared):
        raise UsageError(f"cannot replay {sub.program}: {prep}")
    sandbox = load_target(target, target_options)
    check_boxes(
        sandbox, [sub.box if box is None else box], given_by="--box" if box is not None else "the history"
    )
    box = sub.box if box is None else box
    sandbox.init(box)
    try:
        result = sandbox.run(box, prep.command, sub.limits, prep.files)
    finally:
        outcome = sandbox.cleanup(box)
    stdout_ok = None if prep.expected_stdout is None else result.stdout == prep.expected_stdout
    correct = result.verdict == sub.expected and stdout_ok is not False
    print(
        json.dumps(
            {
                "submission": sub.to_dict(),
                "result": result.to_dict(),
                "cleanup": outcome.to_dict(),
                "expected": sub.expected,
                "correct": correct,
            },
            indent=2,
        )
    )
    return 0 if correct and outcome.ok else 1
