"""Lock integrity (QA-REL-001 section 7): many workers contend for ONE box.

Every worker is mapped to the same box (boxes_for), so the target's locks alone stand between two
executions in it. Each run is programs/locks/marker.py, which reports another run's marker in the box.
A target without locks is not skipped: running two jobs in one box is exactly the bug, so it fails
with the overlapping runs as evidence.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

from reliability.checks import completeness, leaks, locks
from reliability.history import Journal
from reliability.runner import Prepared
from reliability.stages.base import Stage
from reliability.targets.base import Limits
from reliability.workload import toolchain
from reliability.workload.catalog import PROGRAMS_DIR
from reliability.workload.submission import Submission

MARKER = PROGRAMS_DIR / "locks" / "marker.py"
PROGRAM = "locks/marker"
LIMITS = Limits(cpu_s=2.0, wall_s=10.0, mem_mb=128, processes=8, output_kb=64)


@contextmanager
def host_fixture(journal: Journal) -> Iterator[SimpleNamespace]:
    python = toolchain.detect("python")
    if python.available:
        command = [python.tools["python3"], "-I", "-S", "marker.py", "0.3"]
        prepared: Prepared | str = Prepared(command, {str(MARKER): "marker.py"}, expected_stdout="alone\n")
    else:
        prepared = python.missing
    yield SimpleNamespace(prepared={PROGRAM: prepared})


def workload(seed: int, sizes) -> Iterator[Submission]:
    for index in range(sizes.iterations):
        yield Submission(index, PROGRAM, "python", "OK", "normal", LIMITS)


STAGE = Stage(
    name="locks",
    title="Lock integrity (QA-REL-001 section 7)",
    workload=workload,
    enough=lambda sizes, fed, elapsed: fed >= sizes.iterations,
    checks=(locks.check, completeness.check, leaks.check),
    host_fixture=host_fixture,
    boxes_for=lambda concurrency, box_base: [box_base] * concurrency,
)
