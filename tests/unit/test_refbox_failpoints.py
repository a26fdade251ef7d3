"""REFBOX_FAILPOINTS' delay: a phase made slower by a fixed time, and malformed delays refused by name."""

from __future__ import annotations

import time

import pytest

from reliability.refbox import failpoints


def test_a_delay_is_parsed_and_sleeps_that_long() -> None:
    points = failpoints.parse("phase.setup=delay:120,cleanup.reap=error")
    assert points == {"phase.setup": "delay:120", "cleanup.reap": "error"}
    start = time.monotonic()
    failpoints.hit("phase.setup", points)
    assert time.monotonic() - start >= 0.12
    start = time.monotonic()
    failpoints.hit("phase.execute", points)  # not set: no delay
    assert time.monotonic() - start < 0.1


@pytest.mark.parametrize("entry", ["phase.setup=delay", "phase.setup=delay:", "phase.setup=delay:1.5",
                                   "phase.setup=delay:-3", "phase.setup=delay:60001", "phase.setup=sleep:5"])  # fmt: skip
def test_a_malformed_delay_is_refused_naming_the_entry(entry: str) -> None:
    with pytest.raises(ValueError, match=f"bad entry '{entry}'.*delay:MS"):
        failpoints.parse(entry)
