from __future__ import annotations

from synthetic_history import HistoryBuilder, clean_runs

from reliability.checks import faults, verdicts
from reliability.targets.base import Result


def _only(results):
    assert len(results) == 1 and results[0].name == "all verdicts correct"
    return results[0]


def test_passes_when_every_verdict_is_the_expected_one(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path))
    b.end()
    result = _only(verdicts.check(b.read()))
    assert result.status == "passed", result
    assert "3 verdicts correct" in result.message


def test_a_wrong_verdict_fails_and_names_everything_needed_to_replay_it(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path, seed=1234))
    b.submit(3, "java/mle_alloc", "java", "MLE", box=2)
    b.result(3, "RE", box=2, message="exit code 1 (OutOfMemoryError)")
    b.cleanup(3, box=2)
    b.end(executions=4)
    history = b.read()
    result = _only(verdicts.check(history))
    assert result.status == "failed"
    assert result.message.startswith("1 of 4 verdicts wrong")
    (line,) = result.evidence
    for part in (
        "seed 1234",
        "index 3",
        "box 2",
        "java/mle_alloc (java)",
        "cpu 1.0s wall 2.0s mem 128MB processes 8 output 1024KB",
        "expected MLE, got RE",
        "exit code 1 (OutOfMemoryError)",
        f"reliability replay {history.run_dir} 3",
    ):
        assert part in line, (part, line)


def test_right_verdict_with_wrong_output_is_wrong(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path))
    b.submit(3, "python/ok", "python", "OK")
    b.result(3, "OK", stdout_ok=False)
    b.cleanup(3)
    result = _only(verdicts.check(b.read()))
    assert result.status == "failed"
    assert "expected OK, got OK with wrong output" in result.evidence[0]


def test_no_expected_output_is_not_a_wrong_output(tmp_path):
    b = HistoryBuilder(tmp_path)
    b.submit(0, "cpp/tle_spin", "cpp", "TLE")
    b.result(0, "TLE", stdout_ok=None)
    assert _only(verdicts.check(b.read())).status == "passed"


def test_skipped_not_passed_when_nothing_ran(tmp_path):
    b = HistoryBuilder(tmp_path)
    b.skip(0)
    result = _only(verdicts.check(b.read()))
    assert result.status == "skipped" and "nothing ran" in result.message


def test_thousands_of_wrong_verdicts_keep_a_readable_report(tmp_path):
    b = HistoryBuilder(tmp_path)
    for i in range(250):
        b.submit(i, "cpp/ok", "cpp", "OK")
        b.result(i, "IE")
    result = _only(verdicts.check(b.read()))
    assert result.message.startswith("250 of 250 verdicts wrong")
    assert len(result.evidence) == 201 and result.evidence[-1].startswith("... and 50 more")


def _cleanup_failed_run(b, index: int, program_verdict: str = "OK", injected: bool = True) -> None:
    """A run the runner made IE because its cleanup failed for good (the program's verdict in raw)."""
    b.submit(index, "python/ok", "python", "OK")
    res = Result(
        verdict="IE",
        message="cleanup failed at unmount: EBUSY (after 3 attempts); box 1 quarantined",
        raw={"program_verdict": program_verdict, "program_message": "", "cleanup_error": "unmount: EBUSY"},
    )
    b.journal.append(
        "result", index=index, box=1, result=res.to_dict(), started=1.0, ended=2.0, stdout_ok=None
    )
    b.cleanup(index, failing_step="unmount")
    if injected:
        b.journal.append("evidence", label=faults.LABEL, evidence={"index": index, "step": "unmount"})


def test_ie_from_an_injected_cleanup_failure_is_judged_by_the_programs_own_verdict(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path, stage="faults"))
    _cleanup_failed_run(b, 3)
    result = _only(verdicts.check(b.read()))
    assert result.status == "passed", result
    assert "1 IE from an injected cleanup failure" in result.message


def test_ie_from_an_injected_cleanup_failure_with_a_wrong_program_verdict_is_wrong(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path, stage="faults"))
    _cleanup_failed_run(b, 3, program_verdict="RE")
    result = _only(verdicts.check(b.read()))
    assert result.status == "failed" and "expected OK, got IE" in result.evidence[0], result


def test_ie_from_a_cleanup_failure_nobody_injected_is_wrong(tmp_path):
    b = clean_runs(HistoryBuilder(tmp_path))
    _cleanup_failed_run(b, 3, injected=False)
    result = _only(verdicts.check(b.read()))
    assert result.status == "failed", result
    assert "cleanup failed at unmount" in result.evidence[0]
