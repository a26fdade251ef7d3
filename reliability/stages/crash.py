"""Crash recovery (QA-REL-001 section 3): the supervisor SIGKILLed at each phase of a run.

One worker (the phase failpoint lives in the process environment, see nemesis/supervisor_kill.py).
Each execution's case is a phase (Submission.case): an OK program whose supervisor is killed at that
phase; at execute a sleeper and at timeout a spinner, under short limits, so that a program outliving its supervisor
shows (it would sleep or spin on past its limits). Around it: a host snapshot before init; the
supervisor's survivors watched for `sizes.grace_s` after the kill, before anything of the execution
is killed or cleaned (`after_kill`); after the pipeline's usual cleanup, what is left by the target
itself (processes by cgroup, uid and parent, the killed supervisor's own descendants still alive,
mounts, cgroups, fds, temp dirs, zombies, state files against their schema); then the target's
recover, the host compared with the snapshot before, and a probe submission in the same box. All of
it is one "crash" event; a phase observed too late to kill is one with `missed`.
When the first case begins, once (the host fixture, stages/clean_box.py), what the target's cleanup of
the box not yet initialised leaves (aftermath.clean_box_cleanup): recover ends with a cleanup, so that
is reported as its own finding.

For a described target the setup and cleanup phases are its init and cleanup commands, so the
execution's own init or cleanup is the call killed (the runner records the run IE either way).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from reliability import aftermath
from reliability.checks import aftermath as aftermath_checks
from reliability.checks import completeness, crash, leaks
from reliability.nemesis import supervisor_kill
from reliability.profiles import Sizes
from reliability.refbox.state import PHASES
from reliability.stages.base import ONE_WORKER, Stage, StageContext
from reliability.stages.clean_box import clean_box_fixture, first_baseline
from reliability.targets.base import Limits, Target
from reliability.workload.submission import Submission

SIZES = {  # iterations = supervisor kills per phase
    "smoke": Sizes(iterations=1, concurrency=1),
    "preprod": Sizes(iterations=1, concurrency=1),
    "quick": Sizes(iterations=3, concurrency=1),
    "release": Sizes(iterations=20, concurrency=1),
}

LIMITS = Limits(cpu_s=2.0, wall_s=10.0, mem_mb=128, processes=16, output_kb=64)
# Shorter than the grace (Sizes.grace_s): a survivor still there when it ends has outlived its limits.
SHORT_LIMITS = Limits(cpu_s=0.5, wall_s=1.0, mem_mb=128, processes=16, output_kb=64)
OUTLIVING = {"execute": "python/tle_sleep", "timeout": "python/tle_spin"}
SOURCES = {phase: OUTLIVING.get(phase, "python/ok_sum") for phase in PHASES}


def workload(ctx: StageContext) -> Iterator[Submission]:
    index = 0
    for _ in range(ctx.sizes.iterations):
        for phase in PHASES:
            limits = SHORT_LIMITS if phase in OUTLIVING else LIMITS
            # A killed supervisor gives no verdict: IE is what a correct sandbox reports.
            yield Submission(index, SOURCES[phase], "python", "IE", "normal", limits, case=phase)
            index += 1


@contextmanager
def around(ctx: StageContext, sub: Submission) -> Iterator[Target | None]:
    journal, target, phase = ctx.journal, ctx.target, sub.case
    baseline = first_baseline(ctx, sub.box)
    why = supervisor_kill.cannot(target, phase)
    if why:
        journal.append("crash", index=sub.index, box=sub.box, phase=phase, skipped=why)
        yield None
        return
    owned = target.owned([sub.box])
    before = baseline or aftermath.snapshot(owned)
    killing = supervisor_kill.KillAtPhase(target, phase, ctx.sizes.grace_s, sub.index // len(PHASES))
    yield killing
    left = aftermath.left_behind(before, owned, killing.orphans)
    recovered = aftermath.recover_and_compare(target, sub.box, before, owned, killing.orphans)
    journal.append(
        "crash",
        index=sub.index,
        box=sub.box,
        phase=phase,
        killed=killing.killed,
        **({"missed": killing.missed} if killing.missed else {}),
        orphans=killing.orphans,
        after_kill=killing.after_kill,
        left=left,
        recovered=recovered,
        probe=aftermath.probe(target, sub.box),
    )


STAGE = Stage(
    name="crash",
    title="Crash recovery (QA-REL-001 section 3)",
    sizes=SIZES,
    workload=workload,
    planned=lambda ctx: ctx.sizes.iterations * len(PHASES),
    cases=PHASES,
    checks=(crash.check, aftermath_checks.clean_cleanup_check, completeness.check, leaks.check),
    boxes_plan=ONE_WORKER,  # see the module docstring
    host_fixture=clean_box_fixture(lambda target: any(not supervisor_kill.cannot(target, p) for p in PHASES)),
    around=around,
)
