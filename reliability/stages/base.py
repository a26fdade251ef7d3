"""A stage is a short declaration: its workload, when it has done enough, and the checks over its history."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from reliability.checks.base import CheckResult, failed
from reliability.history import History
from reliability.profiles import Sizes
from reliability.workload.submission import Submission

Check = Callable[[History], "list[CheckResult]"]


@dataclass(frozen=True)
class Stage:
    name: str
    title: str  # what it tests, with the plan's section
    workload: Callable[[int, Sizes], Iterator[Submission]]  # (seed, sizes) -> submissions, in order
    enough: Callable[[Sizes, int, float], bool]  # (sizes, fed so far, seconds so far) -> stop feeding?
    checks: tuple[Check, ...]
    # (journal) -> a context manager around the runs with `.prepared` programs to add; it plants host
    # resources (files, a listener, a victim process) and journals an "evidence" event on exit.
    host_fixture: Callable | None = None
    # (concurrency, box_base) -> the box of each worker; default: worker i gets box box_base + i. The
    # locks stage maps several workers to one box.
    boxes_for: Callable[[int, int], list[int]] | None = None
    # (journal, target, submission, sizes) -> a context manager around that one execution (init to cleanup),
    # for a fault that must hold while it runs; it may yield another target to run it on, or None.
    around: Callable | None = None
    # (sizes) -> how many submissions a full run feeds, for progress and time left; default: the
    # iterations or the submissions of the sizes. A stage with several cases per iteration says so.
    planned: Callable[[Sizes], int] | None = None

    def total(self, sizes: Sizes) -> int | None:
        if self.planned:
            return self.planned(sizes)
        return sizes.iterations or sizes.submissions or None

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
