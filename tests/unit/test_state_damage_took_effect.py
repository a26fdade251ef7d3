"""A state file damage is confirmed by reading the file back; one that did not take is a skip with the fact."""

from __future__ import annotations

import pytest
from synthetic_history import HistoryBuilder

from reliability.checks import state
from reliability.nemesis import corrupt_state

DOC = b'{"version": 1, "status": "idle", "box": 7}'


@pytest.mark.parametrize("case", corrupt_state.CASES)
def test_every_damage_written_is_read_back(tmp_path, case):
    path = tmp_path / "state.json"
    path.write_bytes(DOC)
    data, _ = corrupt_state.damage(case, DOC)
    assert corrupt_state.write(str(path), data)["took_effect"] is True


def test_a_damage_that_did_not_take_skips_the_case_with_the_fact(tmp_path):
    b = HistoryBuilder(tmp_path, stage="state")
    fact = "/st/7/state.json read back without the damage: {'exists': True, 'bytes': 43}"
    written = {
        "removed": False,
        "bytes": 40,
        "sha256": "ab",
        "preview": "{x",
        "took_effect": False,
        "fact": fact,
    }
    b.journal.append(
        "evidence",
        label=state.LABEL,
        evidence={"index": 0, "box": 7, "case": "corrupt_json", "written": written},
    )
    results = state.check(b.read())
    assert {r.status for r in results} == {"skipped"}
    assert results[0].message == f"the damage did not take effect: {fact}"
