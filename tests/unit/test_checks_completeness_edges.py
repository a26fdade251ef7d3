"""Completeness edges: an index known only by its skip events is named by the skip's program."""

from __future__ import annotations

from synthetic_history import HistoryBuilder, clean_runs

from reliability.checks import completeness


def test_an_index_skipped_twice_is_named_by_its_skip(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path))
    b.skip(5, "java", "no JDK")
    b.skip(5, "java", "no JDK")
    b.end()
    result = {c.name: c for c in completeness.check(b.read())}[completeness.COMPLETED]
    assert result.status == "failed" and result.message == "1 of 4 submissions not completed exactly once"
    assert result.evidence == ["index 5 (java/ok, java): 0 results, 2 skips"]


def test_an_index_skipped_and_run_without_a_submission_is_named_by_its_skip(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path))
    b.skip(6, "python", "no python3")
    b.result(6, "OK")
    b.end()
    result = {c.name: c for c in completeness.check(b.read())}[completeness.COMPLETED]
    assert result.evidence == ["index 6 (python/ok, python): 1 results, 1 skips"]
