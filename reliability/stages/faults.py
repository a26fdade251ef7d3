"""Cleanup failure injection (QA-REL-001 section 4): a failure at each cleanup step.

One worker (failpoints live in the process environment). Each execution is "faults/<step>", an OK
program whose cleanup runs with that step made to fail (nemesis/cleanup_step.py says how, per step).
Around it: a host snapshot before init; after the failed cleanup (the fault already undone) what is
left, the target's recover, the host compared with the snapshot before, and a probe submission in the
same box; one "evidence" event labelled "cleanup fault" per case, with the cleanup outcome and the
fault's effect (did it act on anything: a mount to hold busy, a cgroup to occupy). Before the first
case, once, what the target's cleanup of the box not yet initialised leaves (aftermath.clean_box_cleanup).
Each run's result is IE naming the failed step (the runner makes it so); the verdict check judges the
program's own verdict, kept in the result, for these injected failures.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

from reliability import aftermath
from reliability.checks import aftermath as aftermath_checks
from reliability.checks import completeness, faults, leaks, verdicts
from reliability.history import Journal
from reliability.nemesis import cleanup_step, recorded
from reliability.profiles import Sizes
from reliability.stages.base import Stage
from reliability.targets.base import Limits, Target
from reliability.workload.prepare import prepare_programs
from reliability.workload.submission import Submission

LIMITS = Limits(cpu_s=2.0, wall_s=10.0, mem_mb=128, processes=16, output_kb=64)
LABEL = faults.LABEL


@contextmanager
def host_fixture(journal: Journal) -> Iterator[SimpleNamespace]:
    ok = prepare_programs(["python/ok_sum"])["python/ok_sum"]
    yield SimpleNamespace(prepared={f"faults/{step.replace(' ', '_')}": ok for step in cleanup_step.STEPS})


def workload(seed: int, sizes) -> Iterator[Submission]:
    index = 0
    for _ in range(sizes.iterations):
        for step in cleanup_step.STEPS:
            yield Submission(index, f"faults/{step.replace(' ', '_')}", "python", "OK", "normal", LIMITS)
            index += 1


@contextmanager
def around(journal: Journal, target: Target, sub: Submission, sizes: Sizes) -> Iterator[Target | None]:
    step = sub.program.removeprefix("faults/").replace("_", " ")
    baseline = None
    if any(not cleanup_step.cannot(target, s) for s in cleanup_step.STEPS):  # some fault will be tried
        baseline = aftermath.clean_box_cleanup(journal, target, sub.box)  # once, before the first init
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
    workload=workload,
    enough=lambda sizes, fed, elapsed: fed >= sizes.iterations * len(cleanup_step.STEPS),
    planned=lambda sizes: sizes.iterations * len(cleanup_step.STEPS),
    checks=(
        faults.check,
        aftermath_checks.clean_cleanup_check,
        verdicts.check,
        completeness.check,
        leaks.check,
    ),
    host_fixture=host_fixture,
    boxes_for=lambda concurrency, box_base: [box_base],
    around=around,
)
