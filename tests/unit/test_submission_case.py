"""The case travels in the submission: written and read back, accepted by the history schema, taken from
the old made-up program ids of histories recorded before the field, and checked by replay."""

from __future__ import annotations

import pytest
from synthetic_history import LIMITS, HistoryBuilder

from reliability.errors import UsageError
from reliability.replay import check_same_case
from reliability.workload.submission import Submission


def test_the_case_is_written_and_read_back_through_the_history(tmp_path):
    b = HistoryBuilder(tmp_path, stage="faults")
    b.submit(0, "python/ok_sum", "python", case="close fds")
    b.submit(1, "cpp/ok", "cpp")
    b.end()
    subs = b.read().submissions  # the real reader, which validates every record against the schema
    assert (subs[0].program, subs[0].case) == ("python/ok_sum", "close fds")
    assert subs[1].case == "" and "case" not in subs[1].to_dict()
    assert (subs[0].label, subs[1].label) == (
        "python/ok_sum case close fds",
        "cpp/ok",
    )  # as reports name them


@pytest.mark.parametrize(
    "program,case",
    [
        ("crash/setup", "setup"),
        ("faults/close_fds", "close_fds"),
        ("hostile/kill", "kill"),
        ("cpp/ok_sum", ""),
    ],
)
def test_a_history_from_before_the_field_has_its_case_from_the_program_id(program, case):
    old = {"index": 3, "program": program, "language": "python", "expected": "IE", "ending": "normal"}
    assert Submission.from_dict({**old, "limits": LIMITS.to_dict()}).case == case


def test_replay_refuses_an_index_that_is_another_case_now(tmp_path):
    recorded = Submission(4, "python/tle_sleep", "python", "IE", "normal", LIMITS, case="execute")
    check_same_case(recorded, recorded, tmp_path)  # the same: goes ahead
    with pytest.raises(
        UsageError, match="index 4 was python/tle_sleep case execute, but .* gives python/ok_sum"
    ):
        check_same_case(
            recorded, Submission(4, "python/ok_sum", "python", "IE", "normal", LIMITS, case="setup"), tmp_path
        )
    with pytest.raises(UsageError, match="gives nothing there"):
        check_same_case(recorded, None, tmp_path)
