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
