"""The HTML report from synthetic histories: verdict and failures on top, the sections, the escaping, the
path without matplotlib, the CLI, and the JUnit properties written beside it."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from report_histories import HOSTILE, degrading_run, failing_analysis, failing_run, timed_run
from synthetic_history import HistoryBuilder, clean_runs

from reliability import cli
from reliability.analyze import analyze, write_reports
from reliability.checks import degradation
from reliability.report import html, plots, series, style

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

needs_matplotlib = pytest.mark.skipif(
    "matplotlib" not in sys.modules and not __import__("importlib").util.find_spec("matplotlib"),
    reason="matplotlib (the `report` extra) is not installed",
)


@pytest.fixture
def no_matplotlib(monkeypatch):
    """Hide matplotlib as if the `report` extra were not installed: importing it raises ImportError."""
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


@pytest.fixture(scope="module")
def plotted_page(tmp_path_factory) -> tuple[str, object]:
    """The failing run rendered once with plots (matplotlib is the slow part)."""
    tmp = tmp_path_factory.mktemp("plotted")
    return html.render_html(failing_analysis(tmp)), tmp


@pytest.fixture(scope="module")
def failing_dir(tmp_path_factory):
    """One failing run for the tests that only read it (a host snapshot is slow on a busy host)."""
    tmp = tmp_path_factory.mktemp("failing")
    return failing_run(tmp), tmp


def _sections(page: str) -> list[str]:
    return re.findall(r"<section id=['\"]([\w-]+)['\"]", page)


@needs_matplotlib
def test_failed_run_puts_the_verdict_and_every_failure_with_evidence_first(plotted_page):
    page, tmp_path = plotted_page
    assert _sections(page) == [
        "verdict",
        "rate",
        "overhead",
        "verdict-mix",
        "resources",
        "queue",
        "wrong-verdicts",
        "checks",
    ]
    top = page[: page.index("<section id='rate'>")]
    assert '<h1 class="FAILED">stress: FAILED</h1>' in top
    assert "all verdicts correct: 1 of 31 verdicts wrong (seed 4242)" in top
    assert "no leaked mounts: 1 leaked mounts" in top
    assert f"mount tmpfs on {tmp_path / 'boxes' / '3'}" in top
    assert "reliability run stress --profile smoke --seed 4242" in top
    # Header fields by the words a person reads, not the property names.
    assert "<b>seed</b> <code>4242</code>" in top and "<b>host</b> <code>testhost</code>" in top
    assert "<b>target version</b>" in top and "<b>pipeline version</b>" in top and "target_version" not in top


@needs_matplotlib
def test_every_plot_is_an_embedded_png_and_nothing_is_fetched(plotted_page):
    page, _ = plotted_page
    sources = re.findall(r'<img class="plot" alt="[^"]*" src="([^"]*)"', page)
    assert len(sources) == 5  # rate, overhead, verdict mix, resources, queue
    for src in sources:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix) :]).startswith(PNG_MAGIC)
    assert not re.search(r"(src|href)=['\"](https?:|//)", page)  # self-contained: no network at all
    assert 'id="no-plots"' not in page


def test_without_matplotlib_the_tables_stay_and_the_page_says_why(failing_dir, no_matplotlib):
    page = html.render_html(analyze(failing_dir[0]))
    assert "<img" not in page
    assert 'id="no-plots"' in page and "plots need the `report` extra" in page
    assert "<details open><summary>data</summary>" in page  # the tables are the content now
    assert _sections(page)[0] == "verdict"
    mix = page[page.index("<section id='verdict-mix'>") :]
    assert '<tr><td>MLE</td><td class="num">1</td><td class="num">0</td></tr>' in mix


def test_target_output_is_escaped_not_interpreted(failing_dir, no_matplotlib):
    page = html.render_html(analyze(failing_dir[0]))
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;/table&gt;" in page
    assert page.count("<script") == 0


def test_wrong_verdicts_table_has_a_replay_command_per_row(failing_dir, no_matplotlib):
    analysis = analyze(failing_dir[0])
    wrong = series.wrong_verdicts(analysis.history)
    assert [(w.index, w.expected, w.got) for w in wrong] == [(30, "MLE", "OK")]
    assert wrong[0].replay == f"reliability replay {analysis.history.run_dir} 30"
    section = html.render_html(analysis).split("<section id='wrong-verdicts'>")[1]
    assert f"<td>reliability replay {analysis.history.run_dir} 30</td>" in section


def test_queue_section_says_so_when_the_history_has_no_samples(tmp_path, no_matplotlib):
    page = html.render_html(failing_analysis(tmp_path, samples=False))
    queue = page.split("<section id='queue'>")[1].split("</section>")[0]
    assert "No queue samples in this history" in queue and "<table>" not in queue


def test_a_clean_run_passes_and_has_no_failure_block(tmp_path, no_matplotlib):
    b = clean_runs(HistoryBuilder(tmp_path))
    b.end()
    b.journal.close()
    page = html.render_html(analyze(b.run_dir))
    # No snapshots: the leak checks are skipped, never passed, and the page says they were not measured.
    assert '<h1 class="PASSED">stress: PASSED</h1>' in page
    assert "Failed checks" not in page and "leaks: not measured" in page
    assert "No snapshots in this history" in page
    assert "None: every result has its expected verdict." in page


def test_series_percentiles_and_windows_follow_the_history(failing_dir):
    history = analyze(failing_dir[0]).history
    by_language = series.overhead_by_language(history)
    assert sorted(by_language) == ["cpp", "java", "python"]
    assert series.window_width_s(92.0) == 5 and series.window_width_s(30.0) == 1
    assert sum(p.samples for points in by_language.values() for p in points) == 31
    first_cpp = by_language["cpp"][0]  # index 0 alone in its window: wall 0.05 - cpu 0.02
    assert first_cpp.samples == 1 and first_cpp.p50 == pytest.approx(0.03)
    assert series.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert series.percentile([5.0], 99) == 5.0
    rates = series.executions_per_minute(history)
    assert sum(rate * w.width_s / 60 for w, rate in rates) == pytest.approx(31)
    labels = [p.label for p in series.resources(history)]
    assert labels == ["before", "after"]
    before, after = series.resources(history)
    assert after.counts["mounts"] == before.counts["mounts"] + 1


def test_report_command_writes_the_html_and_exits_1_on_a_failed_run(
    failing_dir, tmp_path, capsys, no_matplotlib
):
    run_dir = failing_dir[0]
    out = tmp_path / "out" / "page.html"
    assert cli.main(["report", str(run_dir), "--reports", str(tmp_path / "reports"), "--html", str(out)]) == 1
    assert "stress: FAILED" in out.read_text()
    assert f"HTML report: {out}" in capsys.readouterr().out
    # --html alone: beside the JUnit report; no temp files left behind.
    assert cli.main(["report", str(run_dir), "--reports", str(tmp_path / "reports"), "--html"]) == 1
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["stress.html", "stress.xml"]


def test_report_command_bad_input_is_one_line_and_exit_2(failing_dir, tmp_path, capsys):
    assert cli.main(["report", str(tmp_path / "nope"), "--html"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such run directory" in err
    run_dir = failing_dir[0]
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = cli.main(
        ["report", str(run_dir), "--reports", str(tmp_path / "r"), "--html", str(blocker / "x.html")]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot write the HTML report" in err


def test_junit_has_the_run_properties_and_failures_with_evidence_and_replay(failing_dir, tmp_path):
    analysis = analyze(failing_dir[0])
    suite = ET.parse(write_reports(analysis, tmp_path / "reports")).getroot().find("testsuite")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    for key in (
        "target",
        "target_version",
        "host",
        "profile",
        "seed",
        "pipeline_version",
        "started",
        "ended",
    ):
        assert props.get(key), key
    assert (props["seed"], props["host"], props["profile"]) == ("4242", "testhost", "smoke")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", props["ended"])
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    verdicts = cases["all verdicts correct"].find("failure")
    assert verdicts.get("message") == "1 of 31 verdicts wrong (seed 4242)"
    assert f"replay: reliability replay {analysis.history.run_dir} 30" in verdicts.text
    mounts = cases["no leaked mounts"].find("failure")
    assert mounts.text.splitlines() == [
        f"mount tmpfs on {failing_dir[1] / 'boxes' / '3'}",
        "run the stage again: reliability run stress --profile smoke --seed 4242 --submissions 3",
    ]
    assert cases["no leaked fds"].find("failure") is None


def test_a_degradation_is_on_top_and_its_groups_are_a_table_with_the_windows_it_compared(tmp_path):
    analysis = analyze(degrading_run(tmp_path))
    check = next(c for c in analysis.checks if c.name == "no performance degradation")
    assert check.status == "failed"
    page = html.render_html(analysis)  # with matplotlib when installed: the shaded plot must draw too
    top = page[: page.index("<section id='rate'>")]
    assert f"no performance degradation: {check.message}" in top
    overhead = page.split("<section id='overhead'>")[1].split("</section>")[0]
    assert 'Degradation check: <span class="mark o-failed">FAIL</span>' in overhead
    # The check compares the first and last quarter (10 runs each) of the 40, started 2 s apart; the
    # table's row is the check's own group, in red, with the windows the plot shades.
    (group,) = [
        g for g in degradation.compare(analysis.history, degradation.THRESHOLD)[0] if g.metric == "overhead"
    ]
    t0 = series.start_time(analysis.history)
    assert (group.language, group.verdict, group.runs_per_window) == ("cpp", "OK", 10)
    assert group.early_s[1] - group.early_s[0] == pytest.approx(18.0, abs=0.5)
    assert group.late_s[0] > group.early_s[1]
    row = overhead.split("<td>cpp OK overhead</td>")[1].split("</tr>")[0]
    assert f"<td>{group.late_s[0] - t0:.1f}-{group.late_s[1] - t0:.1f}</td>" in row
    assert '<td class="mark o-failed">slower</td>' in row
    assert overhead.count('<tr class="o-failed">') == 1  # the cycle group did not slow down
    # Every evidence line of the check is one row: the table is the check's own comparison.
    assert group.line() in check.evidence


@needs_matplotlib
def test_the_overhead_plot_shades_exactly_the_windows_compared(tmp_path):
    history = analyze(degrading_run(tmp_path)).history
    groups, _ = degradation.compare(history, degradation.THRESHOLD)
    t0 = series.start_time(history)
    fig = _drawn(plots.overhead_figure, series.overhead_by_language(history), groups, t0)
    spans = []
    for patch in fig.axes[0].patches:  # the shaded spans, in seconds since the stage started
        xs = patch.get_patch_transform().transform(patch.get_path().vertices)[:, 0]
        spans.append((min(xs), max(xs)))
    (group,) = [g for g in groups if g.metric == "overhead"]  # the cycle group is not this plot's
    early, late = (group.early_s[0] - t0, group.early_s[1] - t0), (group.late_s[0] - t0, group.late_s[1] - t0)
    assert spans == [pytest.approx(early), pytest.approx(late)]
    from matplotlib.colors import to_rgb

    assert all(p.get_edgecolor()[:3] == to_rgb(style.FAILED_SHADE) for p in fig.axes[0].patches)  # it slowed


def test_checks_are_coloured_by_outcome_and_a_skipped_degradation_is_a_table(failing_dir, no_matplotlib):
    analysis = analyze(failing_dir[0])
    page = html.render_html(analysis)
    checks = page.split("<section id='checks'>")[1].split("</section>")[0]
    rows = re.findall(r'<tr class="(o-\w+)"><td class="mark o-\w+">(\w+)</td><td>([^<]*)</td>', checks)
    assert len(rows) == len(analysis.checks)
    assert {(cls, mark) for cls, mark, _ in rows} <= {
        ("o-passed", "PASS"),
        ("o-failed", "FAIL"),
        ("o-skipped", "SKIP"),
    }
    assert ("o-failed", "FAIL", "no leaked mounts") in rows
    # Ten or eleven runs per language: too few to compare. The reason per group is a row, not one run-on line.
    overhead = page.split("<section id='overhead'>")[1].split("</section>")[0]
    assert (
        '<span class="mark o-skipped">SKIP</span> too few runs to compare early and late windows</h3>'
        in overhead
    )
    assert '<tr class="o-skipped"><td>cpp OK overhead</td><td>11 runs, need 32</td></tr>' in overhead
    assert "need 32" not in checks  # the table of every check says why in one clause, not per group
    assert "<td>too few runs to compare early and late windows</td>" in checks


def test_host_resources_come_from_the_samples_over_the_run(failing_dir, no_matplotlib):
    history = analyze(failing_dir[0]).history
    sampled = {s.label: s for s in series.sampled_resources(history)}
    assert list(sampled) == ["pipeline fds", "pipeline memory (MiB)"]  # no host counts in these samples
    fds = sampled["pipeline fds"]
    assert fds.counts and len(fds.at_s) == 6 and fds.values == [7] * 6  # a sample every fifth run
    assert sampled["pipeline memory (MiB)"].values[0] == pytest.approx(40000 / 1024)
    assert not sampled["pipeline memory (MiB)"].counts
    section = html.render_html(analyze(failing_dir[0])).split("<section id='resources'>")[1]
    assert (
        "<th>pipeline fds</th>" in section and "<h3>Snapshots (what the leak checks compare)</h3>" in section
    )


def test_the_overhead_series_leaves_out_tle_runs(tmp_path):
    # A TLE run's wall minus CPU is its sleep or the limit's slack, not the sandbox: 5 s here would
    # swamp every percentile of the window it falls in.
    b = HistoryBuilder(tmp_path)
    timed_run(b, 0, "python/ok", "python", "OK", "OK", at_s=1.0, wall_s=0.05, cpu_s=0.02)
    timed_run(b, 1, "python/tle_sleep", "python", "TLE", "TLE", at_s=1.5, wall_s=5.0, cpu_s=0.0)
    b.end(executions=2)
    b.journal.close()
    (point,) = series.overhead_by_language(analyze(b.run_dir).history)["python"]
    assert point.samples == 1 and point.p99 == pytest.approx(0.03)


def test_report_into_a_closed_pipe_exits_quietly(failing_dir, tmp_path):
    # `reliability report RUN | head`: the reader leaves early; no traceback, the shell's SIGPIPE code.
    proc = subprocess.Popen(
        [sys.executable, "-m", "reliability", "report", str(failing_dir[0]), "--reports", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2])),
    )
    proc.stdout.close()  # before the child writes a byte
    err = proc.stderr.read().decode()
    assert proc.wait() == 141 and err == ""


def _drawn(figure, *args, **kwargs):
    """A plot's figure, laid out in the report's style, as the page's PNG would be."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    with matplotlib.rc_context(style.PLOT_RC):
        fig = figure(*args, **kwargs)
        FigureCanvasAgg(fig).draw()
    return fig


@needs_matplotlib
def test_no_legend_covers_the_data_and_none_is_cut_off(failing_dir):
    analysis = analyze(failing_dir[0])
    history = analysis.history
    figures = [
        _drawn(plots.queue_figure, series.queue_samples(history)),
        _drawn(plots.verdict_mix_figure, series.verdict_mix(history)),
        _drawn(plots.overhead_figure, series.overhead_by_language(history), [], 0.0),
    ]
    for fig in figures:
        for ax in fig.axes:
            legend = ax.get_legend()
            box = legend.get_window_extent()
            assert not box.overlaps(ax.get_window_extent()), "the legend sits on the plotted data"
            assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1, "the legend is cut off the image"


@needs_matplotlib
def test_counts_are_on_whole_number_axes(tmp_path):
    # The same values: a measure's axis gets 0.5 steps, a count's must not.
    few = series.SampledSeries("host mounts", True, [0.0, 1.0, 2.0], [0, 1, 1])
    memory = series.SampledSeries("pipeline memory (MiB)", False, [0.0, 1.0, 2.0], [0, 1, 1])
    counts, measure = _drawn(plots.resources_figure, [few, memory]).axes
    ticks = list(counts.get_yticks())
    assert ticks and all(t == int(t) for t in ticks), ticks
    assert any(t != int(t) for t in measure.get_yticks())  # a measure keeps its fractions
    assert counts.get_ylim()[0] == 0  # from zero: a growth shows as what it is


def test_samples_with_the_hosts_counts_are_plotted_over_the_run(tmp_path, no_matplotlib):
    b = HistoryBuilder(tmp_path)
    for i, (procs, mounts) in enumerate([(120, 30), (131, 31), (125, 30)]):
        b.journal.append("sample", queue_depth=0, queue_capacity=4, in_flight=1, done=i, fds=9,
                         rss_kb=2048, host_processes=procs, host_mounts=mounts)  # fmt: skip
    b.end(executions=0)
    b.journal.close()
    sampled = series.sampled_resources(analyze(b.run_dir).history)
    assert [(s.label, s.counts, s.values) for s in sampled] == [
        ("host processes", True, [120, 131, 125]),
        ("host mounts", True, [30, 31, 30]),
        ("pipeline fds", True, [9, 9, 9]),
        ("pipeline memory (MiB)", False, [2.0, 2.0, 2.0]),
    ]
