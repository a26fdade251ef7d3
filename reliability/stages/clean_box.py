"""The host fixture of the stages that fault one box (crash, faults): before the first case, the target's
cleanup of that box as the stage found it is observed once (aftermath.clean_box_cleanup), and the host
snapshot taken before it is the first case's baseline."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from reliability import aftermath
from reliability.stages.base import Fixture, StageContext
from reliability.targets.base import Target


@dataclass
class CleanBox(Fixture):
    baseline: dict | None = None  # the host before the clean-box cleanup; given to the first case only

    def take_baseline(self) -> dict | None:
        baseline, self.baseline = self.baseline, None
        return baseline


def clean_box_fixture(
    injects: Callable[[Target], bool],
) -> Callable[[StageContext], AbstractContextManager[CleanBox]]:
    """A host fixture probing the clean box once, if `injects(target)`: some case will be faulted (a
    target where every case is skipped is not probed: nothing of it would be compared)."""

    @contextmanager
    def fixture(ctx: StageContext) -> Iterator[CleanBox]:
        assert ctx.target is not None and ctx.journal is not None
        baseline = None
        if injects(ctx.target):
            baseline = aftermath.clean_box_cleanup(ctx.journal, ctx.target, ctx.box)
        yield CleanBox(baseline=baseline)

    return fixture


def first_baseline(ctx: StageContext) -> dict | None:
    """The snapshot before the clean-box cleanup for the first case to ask, None after (or without it)."""
    return ctx.fixture.take_baseline() if isinstance(ctx.fixture, CleanBox) else None
