"""Every catalog program, in every language, gets its expected verdict in the real built-in sandbox.

Limits are the extremes of the fast ranges (the smoke profile's): the outcome must hold for any of them.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from reliability.runner import Prepared
from reliability.targets.base import Limits
from reliability.targets.builtin import BuiltinTarget
from reliability.workload import catalog, generator
from reliability.workload.prepare import prepare_programs

RANGES = generator.FAST_RANGES
PROGRAMS = [p for p in catalog.PROGRAMS if p.ending != "kill"]  # the sleeper needs the runner to kill it


def _limits(cpu: int, wall: int, mem: int, processes: int, output: int) -> Limits:
    """Limits at the ends of the fast ranges: 0 picks the low end, 1 the high end."""
    return Limits(
        cpu_s=RANGES.cpu_s[cpu],
        wall_s=RANGES.wall_s[wall],
        mem_mb=RANGES.mem_mb[mem],
        processes=RANGES.processes[processes],
        output_kb=RANGES.output_kb[output],
    )


EXTREMES = {
    "all-low": _limits(0, 0, 0, 0, 0),
    "least-cpu-most-memory": _limits(0, 0, 1, 0, 0),  # the hardest case for MLE before TLE
}


@pytest.fixture(scope="module")
def prepared():
    return prepare_programs([p.id for p in PROGRAMS])


@pytest.fixture(scope="module")
def target():
    root = tempfile.mkdtemp(prefix=f"wl-refbox-{os.getpid()}-")
    os.chmod(root, 0o755)
    t = BuiltinTarget(box_root=root, cgroup_name=f"refbox-wl-{os.getpid()}")
    try:
        yield t
    finally:
        t.recover()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("extreme", EXTREMES)
@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.id)
def test_program_gets_its_verdict(program, extreme, prepared, target):
    prep = prepared[program.id]
    if isinstance(prep, str):
        pytest.skip(prep)
    assert isinstance(prep, Prepared)
    box = 200 + os.getpid() % 100
    target.init(box)
    try:
        result = target.run(box, prep.command, EXTREMES[extreme], prep.files)
    finally:
        outcome = target.cleanup(box)
    assert result.verdict == program.expected, result
    if program.expected_stdout is not None:
        assert result.stdout == program.expected_stdout
    if program.expected == "MLE":
        assert "oom_kill" in result.message
    assert outcome.ok, outcome
