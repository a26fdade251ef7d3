"""state.json: every corrupt case is detected, set aside with an audit record, the box quarantined while
the other boxes keep working; recover returns the box to idle."""

# ruff: noqa: F811 - the fixtures are imported from refbox_fixtures and named as test arguments
from __future__ import annotations

import json
import os

import pytest
from refbox_fixtures import BOX_A, BOX_B, LIMITS, refbox  # noqa: F401 - fixtures

from reliability import schemas
from reliability.refbox import audit, state
from reliability.targets.base import TargetError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts tmpfs, creates cgroups: needs root")


def used_box(refbox, number: int) -> str:
    """Init and clean up `number` once, so it has a real lock and state file; return the state path."""
    refbox.init(number)
    assert refbox.cleanup(number).ok
    return state.state_path(refbox.state_dir, number)


def test_a_used_box_has_a_schema_valid_idle_state_with_its_cleanup_steps(refbox):
    path = used_box(refbox, BOX_A)
    with open(path) as f:
        doc = json.load(f)
    assert schemas.errors("box-state", doc) == []
    assert (doc["status"], doc["owner"], doc["box"]) == ("idle", None, BOX_A)
    assert [s["ok"] for s in doc["cleanup_steps"]] == [True] * 6
    assert not [n for n in os.listdir(os.path.dirname(path)) if ".tmp." in n]  # no temp file left


CASES = {
    "corrupt-json": (b"{not json at all", "not JSON"),
    "partial-write": (None, "not JSON"),
    "empty": (b"", "empty"),
    "schema-invalid": (b'{"version": 1, "box": 0, "status": "dancing"}', "schema-invalid"),
    "missing": ("missing", "missing"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_corrupt_state_file_is_set_aside_and_quarantines_only_its_box(refbox, case):
    path = used_box(refbox, BOX_A)
    with open(path, "rb") as f:
        good = f.read()
    data, why = CASES[case]
    audit_before = len(audit.read(refbox.state_dir))
    if data == "missing":
        os.unlink(path)
    else:
        with open(path, "wb") as f:
            f.write(good[: len(good) // 2] if data is None else data)
    try:
        with pytest.raises(TargetError, match=f"box {BOX_A} is quarantined .*{why}"):
            refbox.init(BOX_A)
        [record] = audit.read(refbox.state_dir)[audit_before:]
        assert (record["event"], record["box"]) == ("corrupt_state", BOX_A) and why in record["detail"]
        if data != "missing":  # the bad file is kept, byte for byte, in the quarantine folder
            with open(record["moved_to"], "rb") as f:
                assert f.read() == (good[: len(good) // 2] if data is None else data)
        status = refbox.status(BOX_A)
        assert status["status"] == "quarantined" and why in status["quarantine_reason"]
        assert refbox.run(BOX_A, ["/bin/true"], LIMITS).verdict == "IE"
        refbox.init(BOX_B)  # another box is unaffected
        assert refbox.run(BOX_B, ["/bin/true"], LIMITS).verdict == "OK"
        assert refbox.cleanup(BOX_B).ok
    finally:
        removed = refbox.recover(BOX_A)
    assert any(why in item for item in removed), removed
    assert refbox.status(BOX_A)["status"] == "idle"
    refbox.init(BOX_A)  # healthy again
    assert refbox.cleanup(BOX_A).ok


def test_a_bad_state_is_never_written(refbox):
    doc = state.idle(BOX_A)
    doc["status"] = "dancing"
    with pytest.raises(ValueError, match="invalid box state"):
        state.write(refbox.state_dir, doc)
