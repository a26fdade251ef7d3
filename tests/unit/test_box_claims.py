"""Box and root claims (reliability/box_claims.py), with real flocks in a claims directory of the
test's own: two pipelines on one box, or on other boxes of one box root or cgroup, are refused."""

from __future__ import annotations

import pytest

from reliability import box_claims
from reliability.errors import UsageError

ROOTS = ["/run/refbox", "/sys/fs/cgroup/pids/refbox"]


@pytest.fixture(autouse=True)
def own_claims_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(box_claims, "CLAIMS_DIR", str(tmp_path / "claims"))


def test_other_boxes_of_other_roots_run_side_by_side():
    with box_claims.claimed("builtin", [0, 1], "runs/a", ROOTS):
        with box_claims.claimed("builtin", [2, 3], "runs/b", ["/run/other", "/sys/fs/cgroup/pids/other"]):
            pass


def test_other_boxes_of_the_same_box_root_are_refused_naming_the_holder():
    with box_claims.claimed("builtin", [0, 1], "runs/a", ROOTS):
        with pytest.raises(UsageError) as refused:
            with box_claims.claimed("builtin", [2, 3], "runs/b", ["/run/refbox/", "/sys/fs/cgroup/pids/x"]):
                pass
    message = str(refused.value)
    assert message.startswith("/run/refbox (a root of target builtin) is in use by another pipeline (pid ")
    assert "runs/a" in message and "--target-option" in message


def test_the_same_box_is_refused_before_the_roots_and_every_claim_is_released():
    with box_claims.claimed("builtin", [0, 1], "runs/a", ROOTS):
        with pytest.raises(UsageError, match=r"^box 1 of target builtin is in use .*--box-base$"):
            with box_claims.claimed("builtin", [1], "runs/b", ROOTS):
                pass
    with box_claims.claimed("builtin", [1], "runs/b", ROOTS):  # all released on exit
        pass
