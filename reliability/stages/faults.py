"""Cleanup failure injection (QA-REL-001 section 4): a failure at each cleanup step.

One worker (failpoints live in the process environment). Each execution's case is a cleanup step
(Submission.case): an OK program whose cleanup runs with that step made to fail (nemesis/cleanup_step.py says how, per step).
Around it: a host snapshot before init; after the failed cleanup (the fault already undone) what is
left, the target's recover, the host compared with the snapshot before, and a probe submission in the
same box; one "evidence" event labelled "cleanup fault" per case, with the cleanup outcome and the
fault's effect (did it act on anything: a mount to hold busy, a cgroup to occupy). When the first case
begins, once (the host fixture, stages/clean_box.py), what the target's cleanup of the box not yet
initialised leaves (aftermath.clean_box_cleanup).
Each run's result is IE naming the failed step (the runner makes it so); the verdict check judges the
program's own verdict, kept in the result, for these injected failures.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from reliability import aftermath
from reliability.checks import aftermath as aftermath_checks
from reliability.checks import completeness, faults, leaks, verdicts
from reliability.nemesis import cleanup_step, recorded
from reliability.profiles import Sizes
from reliability.stages.base import ONE_WORKER, Stage, StageContext
from reliability.stages.clean_box import clean_box_fixture, first_baseline
from reliability.targets.base import Limits, Target
from reliability.workload.submission import Submission

LIMITS = Limits(cpu_s=2.0, wall_s=10.0, mem_mb=128, processes=16, output_kb=64)
LABEL = faults.LABEL
PROGRAM = "python/ok_sum"
SIZES = {  # iterations = rounds of a failure at every cleanup step
    "smoke": Sizes(iterations=1, concurrency=1),
    "preprod": Sizes(iterations=1, concurrency=1),
    "quick": Sizes(iterations=3, concurrency=1),
    "release": Sizes(iterations=20, concurrency=1),
}


def workload(ctx: StageContext) -> Iterator[Submission]:
    index = 0
    for _ in range(ctx.sizes.iterations):
        for step in cleanup_step.STEPS:
            yield Submission(index, PROGRAM, "python", "OK", "normal", LIMITS, case=step)
            index += 1


@contextmanager
def around(ctx: StageContext, sub: Submission) -> Iterator[Target | None]:
    journal, target, step = ctx.journal, ctx.target, sub.case
    baseline = first_baseline(ctx, sub.box)
    why = cleanup_step.cannot(target, step)
    if why:
        journal.append("evidence", label=LABEL, evidence={"index": sub.index, "step": step, "skipped": why})
        yield None
        return
    owned = target.owned([sub.box])
    before = baseline or aftermath.snapshot(owned)
    failing = cleanup_step.FailStep(target, step)
    with recorded(
        journal, f"cleanup_{step.replace(' ', '_')}", f"box {sub.box}: {cleanup_step.how(step, target)}"
    ):
        yield failing
    outcome = failing.outcome.to_dict() if failing.outcome else None
    left = aftermath.left_behind(before, owned)
    recovered = aftermath.recover_and_compare(target, sub.box, before, owned)
    evidence = {"index": sub.index, "box": sub.box, "step": step, "how": cleanup_step.how(step, target)}
    evidence.update(outcome=outcome, effect=failing.effect, left=left, recovered=recovered)
    evidence.update(probe=aftermath.probe(target, sub.box))
    journal.append("evidence", label=LABEL, evidence=evidence)


STAGE = Stage(
    name="faults",
    title="Cleanup failure injection (QA-REL-001 section 4)",
    sizes=SIZES,
    workload=workload,
    planned=lambda ctx: ctx.sizes.iterations * len(cleanup_step.STEPS),
    cases=cleanup_step.STEPS,
    checks=(
        faults.check,
        aftermath_checks.clean_cleanup_check,
        verdicts.check,
        completeness.check,
        leaks.check,
    ),
    boxes_plan=ONE_WORKER,
    host_fixture=clean_box_fixture(
        lambda target: any(not cleanup_step.cannot(target, s) for s in cleanup_step.STEPS)
    ),
    around=around,
)
