"""rustbox's JSON results and state files through the shipped profile (samples in tests/data/rustbox/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reliability import schemas
from reliability.targets.described import PROFILE_DIR, description_for
from reliability.targets.results import ResultError, parse

DATA = Path(__file__).resolve().parents[1] / "data" / "rustbox"
SPEC = description_for(PROFILE_DIR / "rustbox.yml").doc["result"]


def result_of(name: str):
    return parse(SPEC, 0, (DATA / name).read_text())


@pytest.mark.parametrize(
    "name, verdict",
    [
        ("ok.json", "OK"),
        ("tle.json", "TLE"),
        ("mle.json", "MLE"),
        ("re.json", "RE"),
        ("sig.json", "RE"),
        ("sv.json", "RE"),
        ("abuse.json", "RE"),
        ("ple.json", "RE"),
        ("fse.json", "OLE"),
        ("ie.json", "IE"),
    ],
)
def test_every_rustbox_status_maps_to_a_verdict(name, verdict):
    result = result_of(name)
    assert result.verdict == verdict
    assert result.raw["status"] == json.loads((DATA / name).read_text())["status"]


def test_fields_and_units():
    ok = result_of("ok.json")
    assert (ok.cpu_s, ok.wall_s, ok.exit_code, ok.signal, ok.stdout) == (0.012, 0.034, 0, None, "3\n")
    assert ok.peak_mem_kb == 3407872 // 1024  # memory_peak is in bytes
    sig = result_of("sig.json")
    assert (sig.exit_code, sig.signal) == (None, 11)


@pytest.mark.parametrize(
    "name, words",
    [
        ("not_json.txt", "not a JSON object"),
        ("unknown_status.json", "'WAT'"),
        ("bad_type.json", "wants a number"),
    ],
)
def test_unreadable_results_raise_with_the_reason(name, words):
    with pytest.raises(ResultError, match=words):
        result_of(name)


def test_lock_and_instances_schemas_accept_samples_and_reject_bad_ones():
    assert schemas.errors("rustbox/lock", json.loads((DATA / "lock_held.json").read_text())) == []
    assert schemas.errors("rustbox/instances", json.loads((DATA / "instances.json").read_text())) == []
    bad = schemas.errors("rustbox/lock", json.loads((DATA / "lock_bad.json").read_text()))
    assert any(e.startswith("pid:") for e in bad) and any("created_at" in e for e in bad)
    assert schemas.errors("rustbox/instances", {"x": {"box_id": 1}})  # keys are box ids
