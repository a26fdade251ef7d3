"""A box with no disk quota is named as such: how much was written, where, that no quota applied, and
the option that would fix it for the target. It stays a failure; a run stopped by its quota passes."""

from __future__ import annotations

import os

import pytest

from reliability.checks import exhaustion
from reliability.history import Journal, read
from reliability.stages.exhaustion import LIMITS
from reliability.targets.base import Owned, Result
from reliability.workload.submission import Submission

WROTE = "no quota: wrote 536870912 bytes to /box without ENOSPC\n"


def fill_box_check(tmp_path, target: str, stdout: str, box_dir_known: bool = True):
    journal = Journal(tmp_path / "run" / "history.jsonl")
    journal.append(
        "stage_start", stage="exhaustion", profile="smoke", seed=1, target=target, target_version="t",
        host="h", pipeline_version="0", pipeline_pid=os.getpid(), owned=Owned(box_root="/b").to_dict(),
        capabilities=[], config={"iterations": 1},
    )  # fmt: skip
    box_dir = "/var/local/lib/isolate/80"
    if box_dir_known:
        journal.append(
            "evidence", label=exhaustion.FILL_BOX_LABEL, evidence={"index": 0, "box": 80, "box_dir": box_dir}
        )
    sub = Submission(0, "exhaustion/fill_box", "python", "OK", "normal", LIMITS, box=80, case="fill_box")
    journal.append("submission", submission=sub.to_dict())
    res = Result(verdict="OK", stdout=stdout)
    journal.append(
        "result", index=0, box=80, result=res.to_dict(), started=1.0, ended=2.0, stdout_ok=stdout == "full\n"
    )
    journal.close()
    return {c.name: c for c in exhaustion.check(read(tmp_path / "run"))}[exhaustion.CASES["fill_box"]]


def test_no_quota_on_isolate_says_how_much_where_and_which_option(tmp_path):
    result = fill_box_check(tmp_path, "isolate", WROTE)
    assert result.status == "failed"
    assert result.message.startswith(
        "no disk quota applied: the program wrote 512 MiB to /box (box 80, /var/local/lib/isolate/80 on the "
        "host) and nothing stopped it, so one submission can fill the host's disk; to fix it: isolate's "
        "--quota=BLOCKS,INODES limits the box"
    )
    assert "--fsize limits one file, not the box" in result.message
    assert "neither right nor a clear error" not in result.message


@pytest.mark.parametrize(
    "target, fix", [("builtin", "quota_mb"), ("my-sandbox", "give each box a disk quota")]
)
def test_the_fix_named_is_the_target_s_own(tmp_path, target, fix):
    result = fill_box_check(tmp_path, target, WROTE)
    assert result.status == "failed" and "to fix it: " in result.message and fix in result.message


def test_a_run_stopped_by_its_quota_passes(tmp_path):
    assert fill_box_check(tmp_path, "isolate", "full\n").status == "passed"


def test_an_unreadable_size_a_path_with_to_in_it_and_an_unknown_box_dir_are_shown_as_they_are(tmp_path):
    said = "no quota: wrote lots to /box/up to date without ENOSPC\n"
    result = fill_box_check(tmp_path, "isolate", said, box_dir_known=False)
    assert result.evidence == ["index 0: wrote ? to /box/up to date (box 80, its box directory on the host)"]


def test_the_evidence_names_the_run_and_what_it_wrote(tmp_path):
    result = fill_box_check(tmp_path, "isolate", WROTE)
    assert result.evidence == [
        "index 0: wrote 512 MiB to /box (box 80, /var/local/lib/isolate/80 on the host)"
    ]
