"""`report RUN` re-derives a run's verdict without touching the gate's reports/; the summary's counts
agree with the stage_end's; no evidence line is shown twice; a stop does not count what never ran."""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager

from report_histories import degrading_run
from synthetic_history import HistoryBuilder, clean_runs

from reliability import cli
from reliability.analyze import analyze
from reliability.history import Journal
from reliability.report.summary import summary_lines
from reliability.runner import Runner
from reliability.targets.base import Limits
from reliability.workload.submission import Submission


def finished_run(tmp_path, name: str):
    b = clean_runs(HistoryBuilder(tmp_path / name))
    b.end()
    b.journal.close()
    return b.run_dir


def test_report_without_reports_writes_next_to_the_run_and_leaves_reports_alone(tmp_path, monkeypatch):
    run_dir = finished_run(tmp_path, "a")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "stress.xml").write_text("the gate's report of another run")
    assert cli.main(["report", str(run_dir)]) == 0
    assert (run_dir / "stress.xml").is_file()
    assert (tmp_path / "reports" / "stress.xml").read_text() == "the gate's report of another run"


def test_report_refuses_to_replace_a_newer_runs_report(tmp_path, capsys):
    older, newer = finished_run(tmp_path, "old"), finished_run(tmp_path, "new")
    stamp = time.time() - 3600
    lines = (older / "history.jsonl").read_text().splitlines()  # the older run started an hour earlier
    lines[0] = lines[0].replace('"t":', f'"t":{stamp},"was_t":', 1)
    (older / "history.jsonl").write_text("\n".join(lines) + "\n")
    reports = tmp_path / "reports"
    assert cli.main(["report", str(newer), "--reports", str(reports)]) == 0
    before = (reports / "stress.xml").read_bytes()
    capsys.readouterr()
    assert cli.main(["report", str(older), "--reports", str(reports)]) == 2
    err = capsys.readouterr().err
    assert "is the report of a newer run" in err and str(newer) in err and err.count("\n") == 1
    assert (reports / "stress.xml").read_bytes() == before
    assert cli.main(["report", str(newer), "--reports", str(reports)]) == 0  # its own report: replaced


def test_report_into_a_file_is_a_one_line_error(tmp_path, capsys):
    run_dir = finished_run(tmp_path, "a")
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert cli.main(["report", str(run_dir), "--reports", str(blocker)]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_the_summary_counts_skipped_submissions_beside_the_executions(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path))
    b.skip(3)
    b.skip(4)
    b.end(executions=5)
    b.journal.close()
    assert "   executions 3 (+2 skipped) in 1.5 s (120/min); verdicts OK 1, RE 1, TLE 1" in summary_lines(
        analyze(b.run_dir)
    )


def test_the_degradation_evidence_shows_each_group_once(tmp_path):
    (check,) = [c for c in analyze(degrading_run(tmp_path)).checks if c.name == "no performance degradation"]
    assert check.status == "failed" and check.evidence
    assert len(check.evidence) == len(set(check.evidence)), check.evidence


LIMITS = Limits(cpu_s=1.0, wall_s=2.0, mem_mb=64, processes=4, output_kb=64)


def test_a_stop_counts_only_what_workers_took_not_what_was_dropped_from_the_queue(tmp_path):
    """One worker, a queue of 2: the first submission stops the run once the queue is full. The queued
    ones never run; the count returned (the stage_end's executions) must not include them."""
    journal = Journal(tmp_path / "history.jsonl")
    taken: list[int] = []
    runner: Runner

    @contextmanager
    def stop_when_queue_is_full(sub):
        taken.append(sub.index)
        for _ in range(5000):  # a hang guard, not a timing assertion
            if runner.queue_depth() == runner.queue_capacity:
                break
            time.sleep(0.001)
        runner.stop()
        raise RuntimeError("no sandbox here")  # journaled as a note; nothing is executed
        yield

    runner = Runner(object(), journal, [3], {}, around=stop_when_queue_is_full)  # type: ignore[arg-type]
    subs = (Submission(i, "p", "c", "OK", "normal", LIMITS) for i in range(100))
    done = threading.Event()
    counted = []
    feeder = threading.Thread(target=lambda: (counted.append(runner.run(subs, lambda n: True)), done.set()))
    feeder.start()
    feeder.join(60)
    journal.close()
    assert done.is_set()
    assert counted == [len(taken)] and len(taken) < 3, (counted, taken)
    assert os.path.getsize(tmp_path / "history.jsonl") > 0
