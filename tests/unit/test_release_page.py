"""The release page and its Markdown summary, from the gate's reading of a real reports directory: the
stages' JUnit written by the pipeline's own writer, a regression suite by the comparison's own writer,
and the runs the suites name. Headless Chromium checks the layout (tests/integration)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from report_histories import failing_run
from synthetic_history import HistoryBuilder, clean_runs

from reliability import cli
from reliability.analyze import analyze, write_reports
from reliability.checks.base import failed, passed
from reliability.compare import output
from reliability.compare.findings import Finding
from reliability.report import release, summary

REGRESSION = output.suite_name("0.0.9")
SLOWER = "stress cpp OK overhead p50"


def _regression_xml(reports: Path) -> None:
    """Through the comparison's own writer: one regression with its evidence, one comparison that held."""
    slow = failed(
        SLOWER, "+31.0% (95% CI +22.1% .. +40.3%), over 10%", ["baseline 12.0 ms", "candidate 15.7 ms"]
    )
    held = passed("stress: wrong-verdict rate not higher than the baseline", "0/31 -> 0/31")
    findings = [Finding("stress", "slowdown", slow), Finding("stress", "verdicts", held)]
    output.write(reports, REGRESSION, findings, {}, [])


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    """A fleet of two hosts: h1's stress failed (a wrong verdict, a leaked mount), h2's passed, and h2
    has a leaks stage h1 lacks; plus the comparison with the baseline."""
    tmp = tmp_path_factory.mktemp("release")
    out = tmp / "reports"
    for d in ("h1-run", "h2-stress", "h2-leaks"):
        (tmp / d).mkdir()
    write_reports(analyze(failing_run(tmp / "h1-run")), out / "h1")
    for stage in ("stress", "leaks"):
        b = clean_runs(HistoryBuilder(tmp / f"h2-{stage}", stage=stage))
        b.end()
        b.journal.close()
        write_reports(analyze(b.run_dir), out / "h2")
    _regression_xml(out)
    return out


def _page(reports: Path) -> str:
    from reliability.gate import gate

    result = gate(reports)
    stages = []
    for row in release.stage_rows(result):
        run = release.find_run_dir(result, reports, row)
        stages.append(release.StageReport(row, release.host_label(result, row), analyze(run), ""))
    return release.render_release(result, reports, stages)


def test_the_verdict_then_the_failures_then_the_regressions_then_each_stage(reports, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)  # tables only: fast, same order
    page = _page(reports)
    order = [
        page.index(mark) for mark in ('id="verdict"', 'id="failures"', 'id="regressions"', 'id="stages"')
    ]
    assert order == sorted(order)
    verdict = page[order[0] : order[1]]
    assert '<h1 class="FAILED">release candidate: FAILED</h1>' in verdict
    # host x stage, each cell coloured by its verdict; h1 has no leaks stage: missing, not absent.
    table = verdict.split('<table id="gate-table">')[1].split("</table>")[0]
    assert "<th>host</th><th>leaks</th><th>stress</th>" in table
    assert (
        '<tr><th>h1</th><td class="mark o-missing">missing</td><td class="mark o-failed">FAIL</td></tr>'
        in table
    )
    assert '<td class="mark o-passed">pass</td>' in table
    assert REGRESSION not in table  # the comparison has a section of its own
    failures = page[order[1] : order[2]]
    assert "<h2>Failed checks (2)</h2>" in failures
    assert "h1 · stress: all verdicts correct" in failures and "1 leaked mounts" in failures
    run = analyze(release.find_run_dir(*_gate_and_row(reports, "h1"))).history.run_dir
    assert f'replay: <code class="replay">reliability replay {run} 30</code>' in failures
    assert "reliability run stress --profile smoke --seed 4242" in failures
    regressions = page[order[2] : order[3]]
    assert f"{REGRESSION}: 1 regression(s) in 2 comparison(s)" in regressions
    assert SLOWER in regressions and "candidate 15.7 ms" in regressions
    stages = page[order[3] :]
    assert re.findall(r'<section class="stage" id="([^"]+)">', stages) == [
        "stage-h1-stress",
        "stage-h2-leaks",
        "stage-h2-stress",
    ]
    ids = re.findall(r"id=['\"]([^'\"]+)['\"]", page)
    assert len(ids) == len(set(ids)), "stages share the page: every id must be its own"
    assert "Failed checks" not in stages  # they are on top, once


def _gate_and_row(reports: Path, host: str):
    from reliability.gate import gate

    result = gate(reports)
    row = next(r for r in release.stage_rows(result) if r.file.startswith(f"{host}/") and r.suite == "stress")
    return result, reports, row


def test_without_a_regression_suite_the_comparison_says_so(reports, tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    copy = tmp_path / "reports"
    shutil.copytree(reports, copy)
    (copy / "regression.xml").unlink()
    page = _page(copy)
    regressions = page.split('id="regressions"')[1].split("</section>")[0]
    assert f"no comparison: no regression.xml in {copy}" in regressions


def test_a_run_elsewhere_is_found_under_its_host_or_the_page_says_it_is_not_here(
    reports, tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    monkeypatch.delenv(summary.STEP_SUMMARY_ENV, raising=False)
    copy = tmp_path / "reports"
    shutil.copytree(reports, copy)
    # Both of h2's suites name a run on h2's disk; its stress run was brought back under reports/h2/.
    brought = copy / "h2" / "runs" / "stress-20260101-000000-7"
    shutil.copytree(release.find_run_dir(*_gate_and_row(reports, "h2")), brought)
    for xml, named in (("leaks.xml", "/nowhere/run"), ("stress.xml", f"/on/h2/runs/{brought.name}")):
        text = (copy / "h2" / xml).read_text()
        (copy / "h2" / xml).write_text(
            re.sub(r'name="run_dir" value="[^"]*"', f'name="run_dir" value="{named}"', text)
        )
    assert cli.main(["report", "--release", str(copy)]) == 1
    page = (copy / "release.html").read_text()
    section = page.split('id="stage-h2-leaks"')[1].split('<section class="stage"')[0]
    assert "no plots or run details: its run (/nowhere/run) is not on this machine" in section
    assert '<tr class="o-passed"><td class="mark o-passed">PASS</td>' in section
    found = page.split('id="stage-h2-stress"')[1].split('<section class="stage"')[0]
    assert f"history: <code>{brought / 'history.jsonl'}</code>" in found
    assert f"release page: {copy / 'release.html'}" in capsys.readouterr().out


def test_the_step_summary_has_the_same_order(reports, tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    step = tmp_path / "summary.md"
    monkeypatch.setenv(summary.STEP_SUMMARY_ENV, str(step))
    out = tmp_path / "page.html"
    assert cli.main(["report", "--release", str(reports), "--html", str(out)]) == 1
    assert out.is_file() and not (reports / "release.html").exists()
    md = step.read_text()
    heads = [
        md.index(h)
        for h in (
            "## :x: release candidate: FAILED",
            "### Failed checks (2)",
            "### Compared with the baseline",
        )
    ]
    assert heads == sorted(heads)
    assert "| h1 | missing | FAIL |" in md
    failures = md[heads[1] : heads[2]]
    assert "- **FAILURE** h1 · stress: all verdicts correct" in failures
    assert re.search(r"  - replay: `reliability replay \S+ 30`", failures)
    assert f"**{REGRESSION}**: FAIL, 1 regression(s) in 2 comparison(s)" in md[heads[2] :]


def test_release_refuses_reports_and_the_gate_flags_need_release(reports, capsys):
    assert cli.main(["report", "--release", str(reports), "--reports", "x"]) == 2
    assert "drop --reports" in capsys.readouterr().err
    assert cli.main(["report", str(reports), "--expect", "stress"]) == 2
    assert "go with --release" in capsys.readouterr().err
    assert cli.main(["report", "--release", str(reports / "nope")]) == 2
    assert "no such reports directory" in capsys.readouterr().err


def test_the_stage_summary_puts_the_failures_before_the_table(reports):
    from reliability.report.markdown import summary_markdown

    result, _, row = _gate_and_row(reports, "h1")
    md = summary_markdown(analyze(release.find_run_dir(result, reports, row)))
    assert md.index("- **FAIL** all verdicts correct") < md.index("| status | check | result |")


def test_no_baseline_yet_is_a_visible_skip_which_the_gate_may_allow(reports, tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    monkeypatch.delenv(summary.STEP_SUMMARY_ENV, raising=False)
    copy = tmp_path / "reports"
    shutil.copytree(reports / "h2", copy / "h2")  # the passing host alone
    reason = "no baseline: baseline/ holds no run (no release has published its runs yet)"
    output.write(copy, output.NO_BASELINE_SUITE, output.no_baseline(reason), {}, [])
    assert cli.main(["report", "--release", str(copy)]) == 1  # all skipped: the gate fails it, and says why
    page = (copy / "release.html").read_text()
    verdict = page.split('id="failures"')[0]
    assert (
        "release candidate: FAILED" in verdict and "all 1 testcases skipped, nothing was measured" in verdict
    )
    assert "regression (no baseline)" not in verdict.split('<table id="gate-table">')[1].split("</table>")[0]
    regressions = page.split('id="regressions"')[1].split("</section>")[0]
    assert '<td class="mark o-skipped">SKIP</td><td>compared with the baseline</td>' in regressions
    assert "no release has published its runs yet" in regressions
    assert cli.main(["report", "--release", str(copy), "--allow-skipped", "regression (no baseline)"]) == 0
    assert "release candidate: PASSED" in (copy / "release.html").read_text()


def test_past_two_cards_a_column_gets_compact_cards(reports, tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    assert "o-failed compact" not in _page(reports)  # two failed checks, one regression: full cards
    copy = tmp_path / "reports"
    shutil.copytree(reports, copy)
    worse = [
        Finding("stress", f"rule{i}", failed(f"stress: rule {i}", "worse", ["evidence"])) for i in range(3)
    ]
    output.write(copy, REGRESSION, worse, {}, [])
    regressions = _page(copy).split('id="regressions"')[1]
    assert regressions.count('<div class="failure o-failed compact">') == 3
