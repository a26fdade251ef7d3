"""A stage is a short declaration: its workload, when it has done enough, and the checks over its history."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from reliability.checks.base import CheckResult
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

    def check(self, history: History) -> list[CheckResult]:
        results: list[CheckResult] = []
        for check in self.checks:
            results.extend(check(history))
        return results
