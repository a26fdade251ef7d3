"""The scorecard: every stage appears, each check as right, wrong or not measured with its reason, and a
stage that gave no result is a row of its own (never left out, never read as clean)."""

from __future__ import annotations

from synthetic_history import HistoryBuilder

from reliability.checks.base import failed, skipped
from reliability.report import scorecard
from reliability.report.analysis import Analysis
from reliability.stages import all_stages, expand


def analyses(tmp_path, names) -> list[Analysis]:
    """Each stage's own checks over a short history of it (nothing ran: mostly not measured)."""
    out = []
    for name in names:
        b = HistoryBuilder(tmp_path / name, stage=name)
        b.end(executions=0)
        history = b.read()
        out.append(Analysis(name, history, all_stages()[name].check(history)))
    return out


def test_all_is_every_stage_once_in_order():
    assert expand(["all"]) == list(all_stages())
    assert expand(["crash", "all"]) == ["crash", *[s for s in all_stages() if s != "crash"]]


def test_every_stage_appears_with_every_check_and_its_score(tmp_path):
    every = expand(["all"])
    ran = analyses(tmp_path, every)
    table = scorecard.rows(ran, every)
    assert list(dict.fromkeys(r.stage for r in table)) == every
    for analysis in ran:
        shown = [(r.check, r.score, r.reason) for r in table if r.stage == analysis.stage]
        assert [row[:2] for row in shown] == [(c.name, scorecard.SCORE[c.status]) for c in analysis.checks]
        assert all(row[2].startswith(c.message[:100]) for row, c in zip(shown, analysis.checks))
    text = "\n".join(scorecard.scorecard_lines(ran, every))
    markdown = scorecard.scorecard_markdown(ran, every)
    for stage in every:
        assert f"\n   {stage} " in text and f"\n| {stage} | " in markdown


def test_a_stage_that_did_not_run_is_not_measured_with_the_reason(tmp_path):
    ran = analyses(tmp_path, ["leaks"])
    table = scorecard.rows(ran, ["stress", "leaks"])
    assert table[0] == scorecard.Row("stress", "-", "not measured", "the stage did not run")
    assert {r.stage for r in table[1:]} == {"leaks"}


def test_the_tally_counts_right_wrong_and_not_measured(tmp_path):
    ran = analyses(tmp_path, ["leaks"])
    table = scorecard.rows(ran, ["leaks"])
    title = scorecard.title(ran, table)
    words = {s: sum(r.score == s for r in table) for s in scorecard.SCORE.values()}
    assert title == (
        f"scorecard, target builtin (test): {words['right']} right, {words['wrong']} wrong, "
        f"{words['not measured']} not measured"
    )


def test_the_scorecard_is_written_next_to_the_reports(tmp_path, capsys):
    ran = analyses(tmp_path, ["leaks", "state"])
    path = scorecard.report_scorecard(ran, ["leaks", "state"], tmp_path / "reports")
    assert path == tmp_path / "reports" / "scorecard.md"
    assert path.read_text() == scorecard.scorecard_markdown(ran, ["leaks", "state"])
    assert capsys.readouterr().out.startswith("== scorecard, target builtin (test):")


def test_a_wrong_check_shows_its_first_piece_of_evidence(tmp_path):
    [leaks] = analyses(tmp_path, ["leaks"])
    wrong = failed("no leaked temp dirs", "1 leaked temp dirs", ["temp dir /var/local/lib/isolate/80"])
    leaks.checks = [wrong, skipped("no zombies", "no snapshot")]
    table = scorecard.rows([leaks], ["leaks"])
    assert [(r.score, r.reason) for r in table] == [
        ("wrong", "1 leaked temp dirs; first: temp dir /var/local/lib/isolate/80"),
        ("not measured", "no snapshot"),
    ]


def test_an_unknown_stage_is_one_line_naming_all_as_a_choice(capsys):
    from reliability.cli import main

    assert main(["run", "stress", "nonsense"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown stage 'nonsense'" in err and "or all)" in err
