"""The host fixture of the stages that fault one box (crash, faults): the target's cleanup of that box as
the stage found it is observed once (aftermath.clean_box_cleanup), when the first case begins, and the
host snapshot taken before it is that case's baseline.

When the first case begins, not when the fixture is entered: by then the runner has started what the
target runs beside its boxes (the built-in sandbox's fork server), which is no leftover of a case."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from reliability import aftermath
from reliability.stages.base import Fixture, StageContext
from reliability.targets.base import Target


@dataclass
class CleanBox(Fixture):
    injects: Callable[[Target], bool] = lambda target: True
    probed: bool = False

    def first_baseline(self, ctx: StageContext, box: int) -> dict | None:
        """Once, if some case will be faulted on `target` (a target where every case is skipped is not
        probed: nothing of it would be compared): the clean-box cleanup, and the snapshot before it."""
        if self.probed:
            return None
        self.probed = True
        assert ctx.journal is not None and ctx.target is not None
        if not self.injects(ctx.target):
            return None
        return aftermath.clean_box_cleanup(ctx.journal, ctx.target, box)


def clean_box_fixture(
    injects: Callable[[Target], bool],
) -> Callable[[StageContext], AbstractContextManager[CleanBox]]:
    @contextmanager
    def fixture(ctx: StageContext) -> Iterator[CleanBox]:
        yield CleanBox(injects=injects)

    return fixture


def first_baseline(ctx: StageContext, box: int) -> dict | None:
    """The snapshot before the clean-box cleanup for the first case, None after (or without the fixture)."""
    return ctx.fixture.first_baseline(ctx, box) if isinstance(ctx.fixture, CleanBox) else None
