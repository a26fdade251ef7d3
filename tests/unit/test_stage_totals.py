"""The progress line's total is what a full run feeds: done 25/25 at the end, never 25/5."""

from __future__ import annotations

import itertools

import pytest

from reliability.profiles import sizes_for
from reliability.stages import all_stages


@pytest.mark.parametrize("name", sorted(all_stages()))
def test_the_planned_total_is_where_feeding_stops(name):
    stage = all_stages()[name]
    sizes = sizes_for(name, "smoke")
    fed = 0
    for _ in itertools.islice(stage.workload(11, sizes), 100_000):
        if stage.enough(sizes, fed, 0.0):  # the smoke sizes have no minimum duration
            break
        fed += 1
    assert stage.total(sizes) == fed


def test_a_check_that_raises_is_a_failed_result_and_the_others_still_run(tmp_path):
    import dataclasses

    from synthetic_history import HistoryBuilder

    from reliability.checks.base import passed
    from reliability.stages import get

    def broken(history):
        raise KeyError("verdict")

    def fine(history):
        return [passed("fine", "ok")]

    stage = dataclasses.replace(get("stress"), checks=(broken, fine))
    results = stage.check(HistoryBuilder(tmp_path).read())
    assert [(r.name.rsplit(".", 1)[-1], r.status) for r in results] == [
        ("broken", "failed"),
        ("fine", "passed"),
    ]
    assert "the check raised KeyError('verdict')" in results[0].message
