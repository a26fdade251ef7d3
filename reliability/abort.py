"""A second interrupt: stop at once, yet leave the host as it was, or say exactly what is left.

The runner abandons what is in flight (no result is journaled for it, so --resume runs it again), the
run's own processes are ended (found by the run's id, never by name), the run's boxes are recovered;
all of it bounded in time. What could not be removed is printed with the command that removes it.
A further interrupt during this skips to that message.
"""

from __future__ import annotations

import sys

from reliability import run_processes
from reliability.history import Journal
from reliability.runner import Runner
from reliability.targets.base import Target, TargetError

WORKERS_WAIT_S = 10.0  # their runs end with their supervisors; a hang guard


def abort_run(
    runner: Runner, target: Target, boxes: list[int], journal: Journal, run_id: str, run_dir
) -> None:
    say = lambda text: print(f"reliability: {text}", file=sys.stderr, flush=True)  # noqa: E731
    say("stopping at once: ending this run's processes and recovering its boxes (interrupt again to skip)")
    runner.abandon()
    ended: list[str] = []
    recovered: list[str] = []
    left: list[str] = []
    try:
        ended = run_processes.end(run_id)
        if not runner.join_workers(WORKERS_WAIT_S):
            left.append("worker threads still running after their processes were ended")
        for box in sorted(set(boxes)):
            try:
                recovered += [f"box {box}: {item}" for item in target.recover(box)]
            except TargetError as exc:
                left.append(f"box {box}: {exc}")
    except KeyboardInterrupt:
        left.append("recovery interrupted: the boxes were not all recovered")
    journal.append(
        "note", message="aborted by a second interrupt", ended=ended, recovered=recovered, left=left
    )
    journal.close()
    say(
        f"ended {len(ended)} process(es); recovered: {'; '.join(recovered) or 'nothing was left in the boxes'}"
    )
    if left:
        for item in left:
            say(f"left: {item}")
        say(f"recover them with: reliability run --resume {run_dir}  (it recovers the boxes, then goes on)")
    else:
        say(f"nothing of this run is left on the host; go on with: reliability run --resume {run_dir}")
