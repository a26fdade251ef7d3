"""Lock integrity (QA-REL-001 section 7): many workers contend for ONE box.

Every worker is mapped to the same box (ALL_ON_ONE_BOX), so the target's locks alone stand between two
executions in it. Each run is programs/locks/marker.py, which reports another run's marker in the box.
A target without locks is not skipped: running two jobs in one box is exactly the bug, so it fails
with the overlapping runs as evidence.

Then, once the contention runs are over (on the host fixture's exit: no execution in flight), three
sub-cases on the same box, each one "evidence" event: runs contending in one box initialised once
(nemesis/run_contention.py, for every target: that is how judges use a box, and a sandbox without a
run lock fails it), the lock holder SIGKILLed, and the lock file corrupted (nemesis/lock_cases.py; a
target without the "locks" capability has these two skipped with that reason). Each records facts;
checks/locks.py judges them.

`around` makes each worker wait its turn for the box (Contender).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from reliability.checks import completeness, leaks, locks
from reliability.nemesis import lock_cases, run_contention
from reliability.profiles import Sizes
from reliability.runner import Prepared
from reliability.stages.base import ALL_ON_ONE_BOX, Fixture, Stage, StageContext
from reliability.targets.base import Target, TargetError
from reliability.targets.capabilities import Reloadable, capability
from reliability.targets.delegate import Delegating
from reliability.workload import toolchain
from reliability.workload.submission import Submission

PROGRAM = "locks/marker"
LIMITS = lock_cases.LIMITS
STALE, CORRUPT = "lock holder killed", "lock file corrupted"  # the evidence labels (checks/locks.py)
NO_LOCKS = "target has no locks"
RETRY_S = 0.1
WAIT_S = 60.0  # a contender gives up on a busy box after this (then its refusal is an IE with a cause)
SIZES = {  # iterations = executions; every worker contends for the same box
    "smoke": Sizes(iterations=16, concurrency=4),
    "preprod": Sizes(iterations=16, concurrency=4),
    "quick": Sizes(iterations=100, concurrency=8),
    "release": Sizes(iterations=1000, concurrency=16),
}


@contextmanager
def host_fixture(ctx: StageContext) -> Iterator[Fixture]:
    python = toolchain.detect("python")
    if python.available:
        prepared: Prepared | str = lock_cases.marker(python.tools["python3"], 0.3)
    else:
        prepared = python.missing
    yield Fixture({PROGRAM: prepared})
    # Reached only when the runs ended normally (an interrupt raises through the yield).
    assert ctx.journal is not None and ctx.target is not None
    for label, facts in [run_case(ctx.target, ctx.box, prepared), *subcases(ctx.target, ctx.box, prepared)]:
        ctx.journal.append("evidence", label=label, evidence=facts)


@contextmanager
def around(ctx: StageContext, sub: Submission) -> Iterator[Target]:
    assert ctx.target is not None
    yield Contender(ctx.target)


class Contender(Delegating):
    """A worker that waits its turn: a refused init (the box is busy) is tried again until WAIT_S.

    Without the wait every refused contender is an IE at once and the box sees one run in a hundred:
    the overlap checks would measure almost nothing. A target without locks never refuses, so its
    contenders all run at once, which is the evidence the stage exists for.
    """

    def init(self, box: int) -> None:
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                return self.inner.init(box)
            except TargetError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(RETRY_S)


def run_case(target: Target, box: int, prepared: Prepared | str) -> tuple[str, dict]:
    """(label, raw facts) of the run-level case: every target, locks or not."""
    if isinstance(prepared, str):
        return run_contention.LABEL, {"skipped": prepared}
    return run_contention.LABEL, _guarded(run_contention.run_contention, target, box, prepared)


def subcases(target: Target, box: int, prepared: Prepared | str) -> list[tuple[str, dict]]:
    """[(label, raw facts)] of both sub-cases, run one after the other on the stage's box."""
    why = ""
    if "locks" not in target.capabilities:
        why = NO_LOCKS
    elif isinstance(prepared, str):
        why = prepared
    elif capability(target, Reloadable) is None:
        why = "the target cannot be made again in another process (not made by targets.load)"
    if why:
        return [(STALE, {"skipped": why}), (CORRUPT, {"skipped": why})]
    assert not isinstance(prepared, str)
    return [
        (STALE, _guarded(lock_cases.stale_lock, target, box, prepared)),
        (CORRUPT, _guarded(lock_cases.corrupt, target, box, prepared)),
    ]


def _guarded(case, target: Target, box: int, prepared: Prepared) -> dict:
    """A pipeline error in a sub-case is recorded as such (the check fails it), never lost, and never
    stops the stage."""
    try:
        return case(target, box, prepared)
    except Exception as e:
        return {
            "error": f"the sub-case itself failed: {e!r}",
            "traceback": traceback.format_exc().splitlines()[-12:],
        }


def workload(ctx: StageContext) -> Iterator[Submission]:
    for index in range(ctx.sizes.iterations):
        yield Submission(index, PROGRAM, "python", "OK", "normal", LIMITS)


STAGE = Stage(
    name="locks",
    title="Lock integrity (QA-REL-001 section 7)",
    sizes=SIZES,
    workload=workload,
    checks=(locks.check, completeness.check, leaks.check),
    boxes_plan=ALL_ON_ONE_BOX,
    host_fixture=host_fixture,
    around=around,
)
