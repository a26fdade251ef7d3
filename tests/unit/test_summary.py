"""The stage summary: plain lines in a log, rich on a real terminal (a pty), Markdown for GitHub Actions."""

from __future__ import annotations

import io
import os
import threading

import pytest
from report_histories import failing_analysis
from synthetic_history import HistoryBuilder, clean_runs

from reliability.analyze import Analysis, analyze
from reliability.report import summary
from reliability.report.markdown import summary_markdown


@pytest.fixture(scope="module")
def failed(tmp_path_factory) -> Analysis:
    return failing_analysis(tmp_path_factory.mktemp("failed"))  # once: a host snapshot is slow on a busy host


@pytest.fixture
def no_step_summary(monkeypatch):
    monkeypatch.delenv(summary.STEP_SUMMARY_ENV, raising=False)


def _counts(analysis: Analysis) -> str:
    """The check counts line (other stages' checks come and go: count them, do not hard-code them)."""
    n = {s: sum(1 for c in analysis.checks if c.status == s) for s in ("passed", "failed", "skipped")}
    assert n["failed"] == 2  # the wrong verdict and the leaked mount, and nothing else
    return f"checks: {n['passed']} passed, 2 failed, {n['skipped']} skipped"


def test_plain_summary_has_stage_counts_leaks_seed_and_evidence(failed, no_step_summary):
    out = io.StringIO()
    summary.print_summary(failed, out)
    text = out.getvalue()
    assert text.startswith("== stress: FAILED (seed 4242, profile smoke, target builtin)\n")
    assert "executions 31 in " in text and "verdicts OK 31" in text
    assert f"{_counts(failed)}; leaks: 1 leaked mounts" in text
    assert "   [FAIL] no leaked mounts: 1 leaked mounts" in text
    assert "\x1b[" not in text  # no colour codes in a log file


def test_on_a_terminal_the_summary_is_a_rich_table(failed, no_step_summary):
    master, slave = os.openpty()
    chunks: list[bytes] = []

    def drain():  # a pty holds only a few KB: read while the summary is written
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO once the slave side is closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        with open(slave, "w", encoding="utf-8", closefd=True) as terminal:
            summary.print_summary(failed, terminal)
    finally:
        reader.join()
        os.close(master)
    text = b"".join(chunks).decode("utf-8", "replace")
    assert "\x1b[" in text  # colour: rich detected a terminal
    assert "stress: FAILED" in text and "seed 4242" in text
    assert _counts(failed) in text
    assert "no leaked mounts" in text and "mount tmpfs on" in text
    assert "[FAIL]" not in text  # the table, not the plain lines


def test_step_summary_is_appended_as_markdown_once_per_stage(failed, tmp_path, monkeypatch):
    path = tmp_path / "step-summary.md"
    path.write_text("earlier step\n")
    monkeypatch.setenv(summary.STEP_SUMMARY_ENV, str(path))
    summary.print_summary(failed, io.StringIO())
    summary.print_summary(failed, io.StringIO())
    text = path.read_text()
    assert text.startswith("earlier step\n")
    assert text.count("### :x: stress: FAILED") == 2
    assert "| FAIL | no leaked mounts | 1 leaked mounts |" in text
    assert "<details><summary>all verdicts correct: evidence</summary>" in text
    assert "seed `4242`, profile `smoke`" in text


def test_step_summary_not_written_without_the_variable(failed, tmp_path, monkeypatch, no_step_summary):
    monkeypatch.chdir(tmp_path)
    summary.print_summary(failed, io.StringIO())
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_step_summary_is_one_line_on_stderr_not_a_crash(failed, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(summary.STEP_SUMMARY_ENV, str(tmp_path / "no-such-dir" / "summary.md"))
    out = io.StringIO()
    summary.print_summary(failed, out)
    assert "== stress: FAILED" in out.getvalue()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot append to $GITHUB_STEP_SUMMARY" in err


def test_markdown_cells_cannot_break_the_table(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path))
    b.result(0, "OK", message="a | b")  # a second result for index 0: a target's message with a pipe
    b.end()
    b.journal.close()
    md = summary_markdown(analyze(b.run_dir))
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert all(line.count(" | ") - line.count("\\|") == 2 for line in rows)


def test_no_checks_at_all_is_failed_like_the_gate_fails_an_empty_suite(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path))
    b.end()
    history = b.read()
    empty = Analysis(stage="stress", history=history, checks=[])
    assert summary.verdict(empty) == "FAILED"
    assert "no checks ran" in "\n".join(summary.summary_lines(empty))
    assert summary.verdict(analyze(b.run_dir)) == "PASSED"
