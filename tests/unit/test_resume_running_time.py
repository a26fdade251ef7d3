"""A resumed run's elapsed time counts the segments it ran, not the time the pipeline was down."""

from __future__ import annotations

from pathlib import Path

import pytest

from reliability.history import History
from reliability.resume import running_time


def history(*events: tuple[str, float]) -> History:
    return History(Path("run"), [{"type": kind, "t": t, "seq": i} for i, (kind, t) in enumerate(events)])


def test_one_segment_is_its_span():
    assert running_time(history(("stage_start", 100.0), ("result", 110.0), ("result", 112.5))) == 12.5


def test_the_downtime_between_segments_is_not_counted():
    h = history(
        ("stage_start", 100.0),
        ("result", 110.0),  # cut here; down for 1000 s
        ("resume", 1110.0),
        ("result", 1115.0),  # cut again
        ("resume", 5000.0),
        ("result", 5001.0),
    )
    assert running_time(h) == pytest.approx(10.0 + 5.0 + 1.0)
