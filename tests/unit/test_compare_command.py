"""`reliability compare` as an operator meets it: exit codes, one-line refusals, the suite and summary it
writes, the skipped suite without a baseline, and what the gate makes of them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from reliability.cli import main
from reliability.gate import gate
from tests.unit.synthetic_history import HistoryBuilder, clean_runs


def run_dir(path: Path, seed: int = 7, wrong: bool = False) -> Path:
    b = clean_runs(HistoryBuilder(path, seed=seed))
    if wrong:
        b.run(3, "cpp/ok_sum", "cpp", "OK", got="RE")
    b.end()
    b.read()
    return b.run_dir


def compare(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["compare", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_new_wrong_verdict_fails_with_evidence_in_the_suite_and_summary(tmp_path: Path, capsys) -> None:
    base, cand = run_dir(tmp_path / "a"), run_dir(tmp_path / "b", wrong=True)
    code, out, _ = compare(
        capsys, str(base), str(cand), "--reports", str(tmp_path / "r"), "--baseline-name", "v1.2.0"
    )
    assert code == 1, out
    suite = ET.parse(tmp_path / "r" / "regression.xml").getroot().find("testsuite")
    assert suite.get("name") == "regression vs v1.2.0"
    failures = {
        c.get("name"): c.find("failure").get("message") for c in suite if c.find("failure") is not None
    }
    assert "stress: wrong-verdict rate not higher than the baseline" in failures
    new = failures["stress: no check fails that did not fail in the baseline"]
    assert new.endswith("all verdicts correct (1 of 4 verdicts wrong (seed 7))")  # the evidence, in one line
    summary = json.loads((tmp_path / "r" / "regression.json").read_text())
    assert summary["suite"] == "regression vs v1.2.0" and summary["status"] == "failed"
    verdicts = next(c for c in summary["cases"] if c["rule"] == "verdicts")
    assert verdicts["data"]["candidate"] == {
        "judged": 4,
        "wrong": 1,
        "rate": 0.25,
        "mix": {"OK": 1, "RE": 2, "TLE": 1},
    }
    assert not gate(tmp_path / "r").ok  # the gate reads the suite like a stage's


def test_the_same_runs_pass(tmp_path: Path, capsys) -> None:
    base = run_dir(tmp_path / "a")
    code, out, _ = compare(capsys, str(base), str(run_dir(tmp_path / "b")), "--reports", str(tmp_path / "r"))
    assert code == 0, out
    assert "compare: PASSED (regression vs 0.1.0)" in out
    assert gate(tmp_path / "r").ok


def test_another_workload_seed_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    base, cand = run_dir(tmp_path / "a", seed=7), run_dir(tmp_path / "b", seed=8)
    code, _, err = compare(capsys, str(base), str(cand), "--reports", str(tmp_path / "r"))
    assert code == 2 and err.count("\n") == 1
    assert "stress: workload seed 7 in the baseline, 8 in the candidate" in err and "--allow-mismatch" in err
    assert not (tmp_path / "r").exists()
    code, _, _ = compare(capsys, str(base), str(cand), "--reports", str(tmp_path / "r"), "--allow-mismatch")
    assert code == 0
    notes = json.loads((tmp_path / "r" / "regression.json").read_text())["notes"]
    assert notes == ["compared although: stress: workload seed 7 in the baseline, 8 in the candidate"]


def test_without_a_baseline_the_suite_is_skipped_with_the_reason_never_passed(tmp_path: Path, capsys) -> None:
    cand = run_dir(tmp_path / "b")
    code, _, err = compare(capsys, str(tmp_path / "none"), str(cand), "--reports", str(tmp_path / "r"))
    assert code == 2 and "baseline" in err and err.count("\n") == 1  # not asked to skip: bad input
    code, out, _ = compare(
        capsys, str(tmp_path / "none"), str(cand), "--reports", str(tmp_path / "r"), "--skip-without-baseline"
    )
    assert code == 0 and "SKIPPED" in out
    suite = ET.parse(tmp_path / "r" / "regression.xml").getroot().find("testsuite")
    assert suite.get("name") == "regression (no baseline)"
    (case,) = suite.findall("testcase")
    assert "no baseline" in case.find("skipped").get("message")
    assert json.loads((tmp_path / "r" / "regression.json").read_text())["status"] == "skipped"
    assert not gate(tmp_path / "r").ok  # all skipped: the gate passes it only when told
    assert gate(tmp_path / "r", allow_skipped={"regression (no baseline)"}).ok


def test_the_newest_run_of_a_stage_is_compared_and_the_older_named(tmp_path: Path, capsys) -> None:
    older = run_dir(tmp_path / "runs" / "1", wrong=True)
    run_dir(tmp_path / "runs" / "2")
    code, out, _ = compare(
        capsys, str(run_dir(tmp_path / "a")), str(tmp_path / "runs"), "--reports", str(tmp_path / "r")
    )
    assert code == 0, out  # the older run's wrong verdict is not the candidate's
    assert f"note: left out: stress: {older} (an older run of the stage)" in out


def test_a_stage_the_candidate_lacks_fails(tmp_path: Path, capsys) -> None:
    run_dir(tmp_path / "base" / "1")
    HistoryBuilder(tmp_path / "base" / "2", stage="leaks").read()
    code, out, _ = compare(
        capsys, str(tmp_path / "base"), str(run_dir(tmp_path / "b")), "--reports", str(tmp_path / "r")
    )
    assert code == 1
    assert "[FAILED ] leaks: run in the candidate as in the baseline" in out


@pytest.mark.parametrize("damage", ["empty", "corrupt", "not a directory"])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys, damage: str) -> None:
    base = run_dir(tmp_path / "a")
    if damage == "empty":
        cand = tmp_path / "empty"
        cand.mkdir()
    elif damage == "corrupt":
        cand = run_dir(tmp_path / "b")
        (cand / "history.jsonl").write_text("{not json\n")
    else:
        cand = tmp_path / "file"
        cand.write_text("")
    code, _, err = compare(capsys, str(base), str(cand), "--reports", str(tmp_path / "r"))
    assert code == 2 and err.count("\n") == 1 and err.startswith("reliability: error: ")
