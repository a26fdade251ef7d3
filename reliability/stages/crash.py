"""Crash recovery (QA-REL-001 section 3): the supervisor SIGKILLed at each phase of a run.

One worker (the phase failpoint lives in the process environment, see nemesis/supervisor_kill.py).
Each execution is "crash/<phase>": an OK program whose supervisor is killed at that phase; at execute
a sleeper and at timeout a spinner, under short limits, so that a program outliving its supervisor
shows (it would sleep or spin on past its limits). Around it: a host snapshot before init; the
supervisor's survivors watched for `sizes.grace_s` after the kill, before anything of the execution
is killed or cleaned (`after_kill`); after the pipeline's usual cleanup, what is left by the target
itself (processes by cgroup, uid and parent, the killed supervisor's own descendants still alive,
mounts, cgroups, fds, temp dirs, zombies, state files against their schema); then the target's
recover, the host compared with the snapshot before, and a probe submission in the same box. All of
it is one "crash" event; a phase observed too late to kill is one with `missed`.
Before the first case, once, what the target's cleanup of the box not yet initialised leaves
(aftermath.clean_box_cleanup): recover ends with a cleanup, so that is reported as its own finding.

For a described target the setup and cleanup phases are its init and cleanup commands, so the
execution's own init or cleanup is the call killed (the runner records the run IE either way).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

from reliability import aftermath
from reliability.checks import aftermath as aftermath_checks
from reliability.checks import completeness, crash, leaks
from reliability.history import Journal
from reliability.nemesis import supervisor_kill
from reliability.profiles import Sizes
from reliability.refbox.state import PHASES
from reliability.stages.base import Stage
from reliability.targets.base import Limits, Target
from reliability.workload.prepare import prepare_programs
from reliability.workload.submission import Submission

LIMITS = Limits(cpu_s=2.0, wall_s=10.0, mem_mb=128, processes=16, output_kb=64)
# Shorter than the grace (Sizes.grace_s): a survivor still there when it ends has outlived its limits.
SHORT_LIMITS = Limits(cpu_s=0.5, wall_s=1.0, mem_mb=128, processes=16, output_kb=64)
OUTLIVING = {"execute": "python/tle_sleep", "timeout": "python/tle_spin"}
SOURCES = {phase: OUTLIVING.get(phase, "python/ok_sum") for phase in PHASES}


@contextmanager
def host_fixture(journal: Journal) -> Iterator[SimpleNamespace]:
    base = prepare_programs(sorted(set(SOURCES.values())))
    yield SimpleNamespace(prepared={f"crash/{phase}": base[src] for phase, src in SOURCES.items()})


def workload(seed: int, sizes) -> Iterator[Submission]:
    index = 0
    for _ in range(sizes.iterations):
        for phase in PHASES:
            limits = SHORT_LIMITS if phase in OUTLIVING else LIMITS
            # A killed supervisor gives no verdict: IE is what a correct sandbox reports.
            yield Submission(index, f"crash/{phase}", "python", "IE", "normal", limits)
            index += 1


@contextmanager
def around(journal: Journal, target: Target, sub: Submission, sizes: Sizes) -> Iterator[Target | None]:
    phase = sub.program.removeprefix("crash/")
    baseline = None
    if any(not supervisor_kill.cannot(target, p) for p in PHASES):  # some crash will be injected
        baseline = aftermath.clean_box_cleanup(journal, target, sub.box)  # once, before the first init
    why = supervisor_kill.cannot(target, phase)
    if why:
        journal.append("crash", index=sub.index, box=sub.box, phase=phase, skipped=why)
        yield None
        return
    owned = target.owned([sub.box])
    before = baseline or aftermath.snapshot(owned)
    killing = supervisor_kill.KillAtPhase(target, phase, sizes.grace_s, sub.index // len(PHASES))
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
    workload=workload,
    enough=lambda sizes, fed, elapsed: fed >= sizes.iterations * len(PHASES),
    planned=lambda sizes: sizes.iterations * len(PHASES),
    checks=(crash.check, aftermath_checks.clean_cleanup_check, completeness.check, leaks.check),
    host_fixture=host_fixture,
    boxes_for=lambda concurrency, box_base: [box_base],  # one worker: see the module docstring
    around=around,
)
