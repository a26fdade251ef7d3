"""A bug in the pipeline around an execution is journalled with where it happened, and the worker goes
on with the next submission (no sandbox is touched: the stage's `around` raises before init)."""

from __future__ import annotations

import json
from contextlib import contextmanager

from reliability.history import Journal
from reliability.runner import Runner
from reliability.targets.base import Limits
from reliability.workload.submission import Submission

LIMITS = Limits(cpu_s=1.0, wall_s=2.0, mem_mb=64, processes=4, output_kb=64)


class UntouchedTarget:
    """A stand-in target the runner must never call: every execution fails in `around` first."""

    name = "untouched"
    capabilities = frozenset()


@contextmanager
def broken_around(sub: Submission):
    raise KeyError(f"no fixture for {sub.index}")
    yield  # a generator, for contextmanager


def test_a_pipeline_error_is_a_note_with_its_traceback(tmp_path):
    journal = Journal(tmp_path / "history.jsonl")
    runner = Runner(UntouchedTarget(), journal, [7], {}, around=broken_around)
    subs = [Submission(i, "p", "c", "OK", "normal", LIMITS) for i in (1, 2)]
    assert runner.run(iter(subs), lambda fed: True) == 2
    journal.close()
    notes = [e for e in map(json.loads, (tmp_path / "history.jsonl").open()) if e["type"] == "note"]
    assert [n["message"] for n in notes] == [
        f"pipeline error on submission {i}: KeyError('no fixture for {i}')" for i in (1, 2)
    ]
    assert any("broken_around" in line for line in notes[0]["traceback"]), notes[0]["traceback"]
