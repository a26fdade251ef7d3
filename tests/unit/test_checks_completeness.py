from __future__ import annotations

from synthetic_history import HistoryBuilder, clean_runs

from reliability.checks import completeness


def _by_name(history):
    results = completeness.check(history)
    assert [r.name for r in results] == ["all executions completed", "run finished", "languages covered"]
    return {r.name: r for r in results}


def test_a_clean_finished_run_passes_all(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path))
    b.end()
    checks = _by_name(b.read())
    assert {r.status for r in checks.values()} == {"passed"}, checks
    assert checks["languages covered"].message == "ran cpp, java, python"


def test_a_submission_without_result_is_named(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path))
    b.submit(3, "java/re_exception", "java", "RE")
    b.end()
    result = _by_name(b.read())["all executions completed"]
    assert result.status == "failed"
    assert result.evidence == ["index 3 (java/re_exception, java): no result"]


def test_a_doubled_result_and_a_result_plus_skip_are_named(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path))
    b.result(1, "TLE")
    b.skip(2, "python")
    b.result(9, "OK")  # never submitted
    b.end()
    result = _by_name(b.read())["all executions completed"]
    assert result.status == "failed"
    assert result.evidence == [
        "index 1 (java/tle_spin, java): 2 results, 0 skips",
        "index 2 (python/re_exception, python): 1 results, 1 skips",
        "index 9: 1 result(s) for a submission never recorded",
    ]


def test_a_skip_accounts_for_its_submission(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path))
    b.skip(3, "java")
    b.end()
    assert _by_name(b.read())["all executions completed"].status == "passed"


def test_no_submissions_at_all_is_a_failure_not_a_pass(tmp_path):
    b = HistoryBuilder(tmp_path)
    b.end(executions=0)
    checks = _by_name(b.read())
    assert checks["all executions completed"].status == "failed"
    assert checks["languages covered"].status == "failed"


def test_a_run_without_stage_end_or_interrupted_was_cut_short(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path / "a"))
    result = _by_name(b.read())["run finished"]
    assert result.status == "failed" and "cut short" in result.message and "no stage_end" in result.message

    b = clean_runs(HistoryBuilder(tmp_path / "b"))
    b.end(interrupted=True)
    result = _by_name(b.read())["run finished"]
    assert result.status == "failed" and "interrupted after 3 executions" in result.message


def test_a_history_cut_mid_line_says_so(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path))
    b.journal.close()
    path = b.run_dir / "history.jsonl"
    path.write_bytes(path.read_bytes() + b'{"seq":10,"t":1,"type":"stage_e')
    from reliability.history import read

    result = _by_name(read(path))["run finished"]
    assert result.status == "failed"
    assert result.evidence == ["the history's last line was cut mid-write and dropped"]


def test_a_skipped_language_is_skipped_with_its_reason_never_passed(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path))
    b.skip(3, "java", "javac not found on PATH")
    b.skip(4, "java", "javac not found on PATH")
    b.end()
    result = _by_name(b.read())["languages covered"]
    assert result.status == "skipped"
    assert "java: 2 skipped: javac not found on PATH" in result.message
    assert result.evidence == ["java: 2 skipped: javac not found on PATH"]


def test_every_submission_skipped_means_nothing_was_measured(tmp_path):
    b = HistoryBuilder(tmp_path)
    b.skip(0, "java", "no JDK")
    b.skip(1, "cpp", "no g++")
    b.end(executions=0)
    result = _by_name(b.read())["languages covered"]
    assert result.status == "failed" and "nothing was measured" in result.message
    assert result.evidence == ["cpp: 1 skipped: no g++", "java: 1 skipped: no JDK"]
