"""checks/base.py one_line, which every message and evidence line goes through, and degradation's
thinning of a soak's long windows: each at its boundary."""

from __future__ import annotations

from reliability.checks import degradation
from reliability.checks.base import one_line


def test_a_line_of_exactly_the_limit_is_kept_whole_and_a_longer_one_ends_in_dots_at_the_limit():
    assert one_line("x" * 10, limit=10) == "x" * 10
    assert one_line("x" * 11, limit=10) == "x" * 7 + "..."


def test_one_line_joins_the_lines_of_a_text_with_single_spaces():
    assert one_line(" a\n\tb  c \n") == "a b c"


def test_a_window_longer_than_max_window_is_thinned_evenly_to_it():
    values = list(range(2 * degradation.MAX_WINDOW))
    assert degradation.thin(values) == values[::2]


def test_a_window_of_at_most_max_window_is_kept_as_it_is():
    values = list(range(degradation.MAX_WINDOW))
    assert degradation.thin(values) == values
