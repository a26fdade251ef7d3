"""The progress line's total is what a full run feeds: done 25/25 at the end, never 25/5."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

from reliability.stages import all_stages
from reliability.stages.base import StageContext

REPO = Path(__file__).resolve().parents[2]


def fed_until_enough(stage, ctx: StageContext) -> int:
    fed = 0
    for _ in itertools.islice(stage.workload(ctx), 100_000):
        if stage.done_feeding(ctx, fed, 0.0):  # the smoke sizes have no minimum duration
            break
        fed += 1
    return fed


@pytest.mark.parametrize("name", sorted(all_stages()))
def test_the_planned_total_is_where_feeding_stops(name):
    stage = all_stages()[name]
    ctx = StageContext(11, stage.sizes_for("smoke"))
    assert stage.total(ctx) == fed_until_enough(stage, ctx)


@pytest.mark.parametrize("name", sorted(all_stages()))
def test_each_stage_reads_its_own_size_when_one_command_line_sizes_several(name):
    # `reliability run stress leaks --submissions 6 --iterations 4`: stress feeds 6 and leaks 4 (a stage
    # with several cases an iteration: 4 rounds of them).
    stage = all_stages()[name]
    ctx = StageContext(11, stage.sizes_for("smoke", {"submissions": 6, "iterations": 4}))
    fed = fed_until_enough(stage, ctx)
    assert fed == stage.total(ctx)
    assert fed == 6 if name in ("stress", "concurrent") else (fed >= 4 and fed % 4 == 0)


@pytest.mark.parametrize("name", sorted(all_stages()))
def test_a_stage_with_cases_gives_each_submission_one_of_them(name):
    """The case travels in the submission (replay re-enters its fault from there), and the list the
    stage records in stage_start names every case its workload gives."""
    stage = all_stages()[name]
    ctx = StageContext(11, stage.sizes_for("smoke"))
    given = {s.case for s in itertools.islice(stage.workload(ctx), stage.total(ctx) or 0)} - {""}
    assert given == set(stage.cases)


def test_the_nox_sessions_are_the_stage_registry():
    nox_stages = ast.literal_eval(
        next(
            node.value
            for node in ast.parse((REPO / "noxfile.py").read_text()).body
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "STAGES"
        )
    )
    assert sorted(nox_stages) == sorted(all_stages())


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
