"""The degradation check's boundaries: a slowdown only in the last quarter, the soak profile's 1%, and the
32 runs a group needs before it is compared."""

from __future__ import annotations

import pytest
from test_degradation import N, _history

from reliability.checks import degradation


def test_a_slowdown_only_in_the_last_quarter_fails(tmp_path):
    result = degradation.check(_history(tmp_path, lambda i: 0.060 if i >= 3 * N // 4 else 0.050))[0]
    assert result.status == "failed", result
    assert "+20.0%" in result.evidence[0]


def test_the_soak_profile_judges_by_one_percent(tmp_path):
    history = _history(tmp_path, lambda i: 0.0515 if i >= N // 2 else 0.050)  # +3%
    assert degradation.check(history)[0].status == "passed"
    history.stage_start["profile"] = "soak"
    result = degradation.check(history)[0]
    assert result.status == "failed" and "more than 1%" in result.message


@pytest.mark.parametrize("runs,compared", [(32, True), (31, False)])
def test_a_group_is_compared_from_eight_runs_per_window(tmp_path, runs, compared, monkeypatch):
    monkeypatch.setattr("test_degradation.N", runs)
    result = degradation.check(_history(tmp_path, lambda i: 0.050))[0]
    assert result.status == ("passed" if compared else "skipped"), result
