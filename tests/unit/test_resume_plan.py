"""Resuming: the elapsed time counts the segments the run ran, not the time the pipeline was down; the
target is loaded again from what the run was given."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from reliability.execute import target_spec
from reliability.history import History
from reliability.resume import plan_from, running_time


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


def test_a_described_target_resumes_from_its_file_not_from_the_name_inside(tmp_path, monkeypatch):
    # The name inside a target file is what the reports show; load() needs the file again.
    path = tmp_path / "my-sandbox.yml"
    path.write_text("name: my-sandbox\n")
    monkeypatch.chdir(tmp_path)
    described = SimpleNamespace(name="my-sandbox", loaded_as=("my-sandbox.yml", {}))
    assert target_spec(described) == str(path)
    assert target_spec(SimpleNamespace(name="builtin", loaded_as=("builtin", {}))) == "builtin"
    start = {"stage": "stress", "profile": "smoke", "seed": 1, "config": {}, "box_base": 0,
             "target": "my-sandbox", "target_options": {}, "target_spec": str(path)}  # fmt: skip
    h = History(tmp_path, [{"type": "stage_start", "t": 0.0, "seq": 0, **start}])
    assert plan_from(h).target == str(path)
