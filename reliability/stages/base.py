"""A stage is a short declaration: its sizes, its workload, its faults, and the checks over its history.

Every hook is given the same StageContext, as every part of a Jepsen test is given the test: a hook
takes what it needs from it, and nothing passes state from one hook to another behind the stage's back.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reliability.checks.base import CheckResult, failed
from reliability.history import History, Journal
from reliability.profiles import Sizes, sizes_for
from reliability.workload.submission import Submission

if TYPE_CHECKING:  # types only: the registry is read by the reports, which import no runner
    from reliability.runner import Prepared
    from reliability.targets.base import Target

Check = Callable[[History], "list[CheckResult]"]

# How a stage's workers take boxes (Stage.boxes): the default, one box per worker; one worker alone
# (a fault that lives in the process environment, or one box damaged at a time); every worker on
# the same box (the locks stage: only the target's locks stand between them).
ONE_BOX_EACH, ONE_WORKER, ALL_ON_ONE_BOX = "one box each", "one worker", "all on one box"


@dataclass(frozen=True)
class StageContext:
    """What every hook of a stage is given.

    target and journal are None only where a workload is listed without running it (a test counting
    its total, a replay finding which case an index is); the hooks that act (host_fixture, around) are
    only called within a run, where both are set. `fixture` is what the stage's host fixture gave the
    run (None before it is entered, or without one): `around` reads it there, never from a side channel."""

    seed: int
    sizes: Sizes
    target: Target | None = None
    journal: Journal | None = None
    boxes: tuple[int, ...] = ()
    run_dir: Path | None = None
    fixture: Fixture | None = None

    @property
    def box(self) -> int:
        """The first of the run's boxes: the one box of a stage with one worker or all on one box."""
        return self.boxes[0]


@dataclass
class Fixture:
    """What a stage's host fixture gives the run: programs to add to the catalog's, by program id (a
    Prepared, or why it cannot run here). Whatever else a fixture keeps is its own."""

    prepared: dict[str, Prepared | str] = field(default_factory=dict)


def iterations(ctx: StageContext) -> int:
    """One submission per iteration: the default of Stage.planned."""
    return ctx.sizes.iterations


def submissions(ctx: StageContext) -> int:
    """The submissions of the sizes: a stage fed by an endless stream (stress, concurrent)."""
    return ctx.sizes.submissions


@dataclass(frozen=True)
class Stage:
    name: str
    title: str  # what it tests, with the plan's section
    sizes: Mapping[str, Sizes]  # profile -> sizes (profiles.PROFILES); the command line overrides them
    workload: Callable[[StageContext], Iterator[Submission]]  # the submissions, in order; same for a seed
    checks: tuple[Check, ...]
    # How many submissions a full run feeds (progress, time left, and by default when to stop feeding):
    # default, one per iteration. A stage counted in submissions, or with several cases per
    # iteration, says so. (One command line may size several stages: stress then reads --submissions
    # and leaks --iterations, each its own.)
    planned: Callable[[StageContext], int] = iterations
    # (ctx, fed so far, seconds so far) -> stop feeding? Default: the planned number fed, and the
    # sizes' minimum duration past (both, as the plan asks of the stress stage).
    enough: Callable[[StageContext, int, float], bool] | None = None
    # The names of the stage's cases, recorded in stage_start: a check counts against the list the run
    # had, so re-checking an old history gives the same answer after the list changed.
    cases: tuple[str, ...] = ()
    boxes_plan: str = ONE_BOX_EACH
    # ctx -> a context manager around the runs giving a Fixture; it plants host resources (files, a
    # listener, a victim process) and journals what became of them on exit.
    host_fixture: Callable[[StageContext], AbstractContextManager[Fixture]] | None = None
    # (ctx, submission) -> a context manager around that one execution (init to cleanup), for a fault
    # that must hold while it runs; it may yield another target to run it on, or None.
    around: Callable[[StageContext, Submission], AbstractContextManager[Target | None]] | None = None

    def sizes_for(self, profile: str, overrides: dict | None = None) -> Sizes:
        return sizes_for(self.name, self.sizes, profile, overrides)

    def boxes(self, concurrency: int, box_base: int) -> list[int]:
        """The box of each worker (see boxes_plan)."""
        if self.boxes_plan == ONE_WORKER:
            return [box_base]
        if self.boxes_plan == ALL_ON_ONE_BOX:
            return [box_base] * concurrency
        return [box_base + i for i in range(concurrency)]

    def total(self, ctx: StageContext) -> int | None:
        return self.planned(ctx) or None

    def done_feeding(self, ctx: StageContext, fed: int, elapsed: float) -> bool:
        if self.enough is not None:
            return self.enough(ctx, fed, elapsed)
        return fed >= self.planned(ctx) and elapsed >= ctx.sizes.duration_s

    def check(self, history: History) -> list[CheckResult]:
        """Every check's results. A check that raises is a failed result naming the exception (as
        Jepsen's check-safe): a bug in one check never hides the others or passes the stage."""
        results: list[CheckResult] = []
        for check in self.checks:
            try:
                results.extend(check(history))
            except Exception as e:
                where = traceback.format_exc().splitlines()[-6:]
                results.append(
                    failed(f"{check.__module__}.{check.__name__}", f"the check raised {e!r}", where)
                )
        return results
