from __future__ import annotations

from synthetic_history import HistoryBuilder, clean_runs

from reliability.checks import cleanup


def _by_name(history):
    results = cleanup.check(history)
    assert [r.name for r in results] == ["no cleanup failures", "no quarantines"]
    return {r.name: r for r in results}


def test_clean_run_passes_both(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path))
    b.end()
    checks = _by_name(b.read())
    assert [r.status for r in checks.values()] == ["passed", "passed"]


def test_a_failed_cleanup_step_names_box_index_step_and_error(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path))
    b.submit(3)
    b.result(3, "OK", box=4)
    b.cleanup(3, box=4, failing_step="unmount", error="umount /run/refbox/4: EBUSY")
    result = _by_name(b.read())["no cleanup failures"]
    assert result.status == "failed"
    assert result.evidence == ["box 4 index 3: step unmount failed: umount /run/refbox/4: EBUSY"]


def test_a_failed_cleanup_without_steps_still_fails_with_its_error(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path))
    b.journal.append("cleanup", index=0, box=1, outcome={"ok": False, "steps": [], "error": "box lock lost"})
    result = _by_name(b.read())["no cleanup failures"]
    assert result.status == "failed" and result.evidence == ["box 1 index 0: cleanup failed: box lock lost"]


def test_a_cleanup_reported_ok_despite_a_failed_step_is_a_failure(tmp_path):
    b = HistoryBuilder(tmp_path)
    b.submit(0)
    b.result(0, "OK")
    steps = [
        {"name": "kill", "ok": True, "error": ""},
        {"name": "remove cgroup", "ok": False, "error": "EBUSY"},
    ]
    b.journal.append("cleanup", index=0, box=1, outcome={"ok": True, "steps": steps, "error": ""})
    result = _by_name(b.read())["no cleanup failures"]
    assert result.status == "failed"
    assert "box 1 index 0: cleanup reported ok although a step failed" in result.evidence


def test_a_run_whose_cleanup_was_never_recorded_is_not_a_success(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path))
    b.submit(3)
    b.result(3, "OK", box=2)
    result = _by_name(b.read())["no cleanup failures"]
    assert result.status == "failed"
    assert result.evidence == ["box 2 index 3: ran, but no cleanup was recorded"]


def test_skipped_when_nothing_ran(tmp_path):
    b = HistoryBuilder(tmp_path)
    b.skip(0)
    assert _by_name(b.read())["no cleanup failures"].status == "skipped"


def test_a_quarantine_fails_naming_box_and_reason(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path))
    b.journal.append("quarantine", box=3, reason="cgroup removal failed after 3 retries")
    result = _by_name(b.read())["no quarantines"]
    assert result.status == "failed"
    assert result.evidence == ["box 3: cgroup removal failed after 3 retries"]
