"""recovery_problems and probe_problems, shared by the crash, faults and state checks: each part of the
evidence that can show a problem does."""

from __future__ import annotations

import pytest
from aftermath_events import OK_PROBE, recovered

from reliability.checks.aftermath import probe_problems, recovery_problems


def test_a_clean_recover_and_a_good_probe_have_no_problems():
    assert recovery_problems("at", recovered()) == []
    assert probe_problems("at", dict(OK_PROBE)) == []


def test_recover_error_new_and_gone_items_are_each_a_problem():
    rec = recovered(recover_error="EBUSY", new={"mounts": ["m1"]}, gone={"cgroups": ["c1", "c2"]})
    assert recovery_problems("box 3", rec) == [
        "box 3: recover failed: EBUSY",
        "box 3: new mounts: m1",
        "box 3: gone cgroups: c1",
        "box 3: gone cgroups: c2",
    ]


def test_a_skipped_probe_is_a_problem_with_its_reason():
    assert probe_problems("box 3", {"skipped": "no python3"}) == ["box 3: probe not run: no python3"]


@pytest.mark.parametrize(
    "change,shown",
    [
        (
            {"verdict": "IE", "message": "init failed"},
            "probe got IE (stdout ok True, cleanup ok True) init failed",
        ),
        ({"stdout_ok": False}, "probe got OK (stdout ok False, cleanup ok True)"),
        (
            {"cleanup_ok": False, "cleanup_error": "EBUSY"},
            "probe got OK (stdout ok True, cleanup ok False) EBUSY",
        ),
    ],
)
def test_a_wrong_verdict_wrong_output_or_failed_cleanup_of_the_probe_is_a_problem(change, shown):
    assert probe_problems("box 3", {**OK_PROBE, **change}) == [f"box 3: {shown}"]


def test_a_probe_without_a_cleanup_error_field_still_reads():
    probe = {k: v for k, v in OK_PROBE.items() if k != "cleanup_error"}
    assert probe_problems("at", {**probe, "cleanup_ok": False}) == [
        "at: probe got OK (stdout ok True, cleanup ok False)"
    ]
