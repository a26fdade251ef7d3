"""`reliability report RUN_DIR --html`: one self-contained HTML page per run, plots embedded as PNG.

The verdict and every failed check with its evidence come first: that is what a person opens it for.
Below: executions per minute, sandbox overhead percentiles per language with the degradation check's
groups as a table, verdict mix, host resources sampled over the run, queue depth and in-flight
executions, the wrong verdicts with a replay command each, and every check coloured by its outcome.
The release page (release.py) puts these sections of every stage on one page.
Everything comes from the history and the checks computed over it; without matplotlib the page keeps its
tables and says that plots need the `report` extra.
"""

from __future__ import annotations

import functools
import html
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from reliability.checks import degradation
from reliability.checks.base import CheckResult
from reliability.errors import UsageError
from reliability.report import plots, series, style
from reliability.report.analysis import Analysis, properties
from reliability.report.summary import MARK, executions_text, facts, leaks_text, verdicts_text

# The JUnit properties shown under the verdict, with the words a person reads them by: enough to tell
# runs apart and to run one again.
HEADLINE_PROPERTIES = {
    "seed": "seed",
    "profile": "profile",
    "target": "target",
    "target_version": "target version",
    "host": "host",
    "pipeline_version": "pipeline version",
    "started": "started",
    "ended": "ended",
}


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def meta_line(props: dict[str, object], keys: dict[str, str] = HEADLINE_PROPERTIES) -> str:
    """Labelled fields in one wrapping line; a field the run lacks is left out."""
    cells = [
        f"<span><b>{esc(label)}</b> <code>{esc(props[k])}</code></span>"
        for k, label in keys.items()
        if k in props
    ]
    return f'<div class="meta">{"".join(cells)}</div>'


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    numeric: Sequence[int] = (),
    row_classes: Iterable[str] = (),
    marks: Sequence[int] = (),
) -> str:
    """numeric: right-aligned columns; row_classes: a CSS class per row (its outcome colour); marks: the
    columns that name the outcome, drawn in its colour."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    classes = iter(row_classes)
    body = []
    for row in rows:
        cls = next(classes, "")
        kind = {**{i: f' class="mark {cls}"' for i in marks}, **{i: ' class="num"' for i in numeric}}
        cells = "".join(f"<td{kind.get(i, '')}>{esc(v)}</td>" for i, v in enumerate(row))
        body.append(f'<tr class="{cls}">{cells}</tr>' if cls else f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _plot(draw: Callable[..., str], data: object, alt: str, why_not: str | None) -> str:
    if why_not:
        return ""  # the page says once, at the top, that plots need the extra
    return f'<img class="plot" alt="{esc(alt)}" src="{draw(data)}">'


def _data(content: str, open_: bool) -> str:
    """Tables under the plots fold away; without plots they are the content, so they stay open."""
    return f"<details{' open' if open_ else ''}><summary>data</summary>{content}</details>"


def _section(ids: str, name: str, title: str, content: str) -> str:
    return f"<section id='{ids}{name}'><h2>{esc(title)}</h2>{content}</section>"


def verdict_section(analysis: Analysis, ids: str = "", failures: bool = True) -> str:
    """The stage's verdict, its run, and (failures=True) every failed check with its evidence."""
    f = facts(analysis)
    tag = "h1" if not ids else "h2"
    failed = [c for c in analysis.checks if c.status == "failed"]
    parts = [
        f'<section id="{ids}verdict" class="box {style.outcome_class(f.verdict)} {f.verdict}">',
        f'<{tag} class="{f.verdict}">{esc(f.stage)}: {f.verdict}</{tag}>',
        meta_line(properties(analysis)),
        f"<p>{esc(executions_text(f))}; verdicts {esc(verdicts_text(f))}; checks {f.checks['passed']} passed, "
        f"{f.checks['failed']} failed, {f.checks['skipped']} skipped; leaks: {esc(leaks_text(f))}</p>",
    ]
    parts += [f'<p class="note">{esc(n)}</p>' for n in f.notes]
    if failed and failures:
        parts.append(f'<div id="{ids}failed-checks"><h2>Failed checks</h2>')
        for c in failed:
            evidence = "\n".join(c.evidence) or "(no evidence recorded)"
            parts.append(
                f'<h3>{esc(c.name)}: {esc(c.message)}</h3><div class="evidence">{esc(evidence)}</div>'
            )
        parts.append("</div>")
    if failed:
        rerun = series.rerun_command(analysis.history)
        parts.append(f'<p>run the stage again: <code class="replay">{esc(rerun)}</code></p>')
    parts.append("</section>")
    return "\n".join(parts)


def _said(check: CheckResult) -> str:
    """A check's message; the degradation check's skip lists every group left out, which its table in
    the overhead section shows one row each, so the message is cut to its first clause."""
    if check.name == degradation.NAME and check.status == "skipped":
        return check.message.split(": ", 1)[0]
    return check.message


def checks_section(analysis: Analysis, ids: str = "") -> str:
    rows = [(MARK[c.status], c.name, _said(c)) for c in analysis.checks]  # each group: see the overhead
    outcomes = [style.outcome_class(c.status) for c in analysis.checks]
    return _section(
        ids,
        "checks",
        "All checks",
        table(("status", "check", "result"), rows, row_classes=outcomes, marks=(0,)),
    )


def _rate_section(history, ids: str, why_not: str | None) -> str:
    points = series.executions_per_minute(history)
    if not points:
        return _section(ids, "rate", "Executions per minute", "<p>No executions in this history.</p>")
    rows = [(f"{w.start_s:g}-{w.start_s + w.width_s:g}", f"{rate:.1f}") for w, rate in points]
    out = _plot(plots.rate_plot, points, "executions per minute over time", why_not)
    out += _data(table(("window (s)", "executions/min"), rows, numeric=(1,)), bool(why_not))
    return _section(ids, "rate", "Executions per minute", out)


def _overhead_section(analysis: Analysis, ids: str, why_not: str | None) -> str:
    history = analysis.history
    title = "Sandbox overhead (wall - cpu) per language"
    by_language = series.overhead_by_language(history)
    if not by_language:
        return _section(
            ids, "overhead", title, "<p>No result in this history reports both wall and cpu time.</p>"
        )
    rows = [
        (lang, f"{p.window.start_s:g}-{p.window.start_s + p.window.width_s:g}", p.samples,
         f"{1000 * p.p50:.1f}", f"{1000 * p.p95:.1f}", f"{1000 * p.p99:.1f}")
        for lang, points in by_language.items() for p in points
    ]  # fmt: skip
    data = table(("language", "window (s)", "runs", "p50 ms", "p95 ms", "p99 ms"), rows, numeric=(2, 3, 4, 5))
    check = next((c for c in analysis.checks if c.name == degradation.NAME), None)
    threshold = degradation.threshold_for(history)
    compared, too_few = degradation.compare(history, threshold) if check is not None else ([], [])
    draw = functools.partial(plots.overhead_plot, compared=compared, t0=series.start_time(history))
    out = _plot(draw, by_language, "overhead percentiles per language over time", why_not)
    out += _data(data, bool(why_not))
    if check is None:
        return _section(ids, "overhead", title, out + "<p>This stage has no degradation check.</p>")
    return _section(
        ids, "overhead", title, out + _degradation_table(check, compared, too_few, history, threshold)
    )


def _degradation_table(check, compared, too_few: list[str], history, threshold: float) -> str:
    """The check's groups, one row each: its windows, medians, change and interval, slow ones in red."""
    headline = (
        f'<h3>Degradation check: <span class="mark {style.outcome_class(check.status)}">{MARK[check.status]}</span>'
        f" {esc(_said(check))}</h3><p>A group fails when its late window is more than {threshold:.0%} slower than its"
        " early one and the whole confidence interval of that ratio lies above 1.</p>"
    )
    out = headline
    if compared:
        t0 = series.start_time(history)
        rows = [
            (g.label, g.runs_per_window, f"{g.early_s[0] - t0:.1f}-{g.early_s[1] - t0:.1f}",
             f"{g.late_s[0] - t0:.1f}-{g.late_s[1] - t0:.1f}", f"{g.ratio.before_s * 1000:.1f}",
             f"{g.ratio.after_s * 1000:.1f}", f"{g.ratio.ratio - 1:+.1%}",
             f"{g.ratio.low - 1:+.1%} .. {g.ratio.high - 1:+.1%}",
             f"{g.ratio.level:.1%}", "slower" if g.ratio.slower else "within")
            for g in compared
        ]  # fmt: skip
        headers = ("group", "runs per window", "early window (s)", "late window (s)", "early median ms",
                   "late median ms", "change", "interval", "level", "outcome")  # fmt: skip
        outcomes = ["o-failed" if g.ratio.slower else "o-passed" for g in compared]
        out += table(headers, rows, numeric=(1, 4, 5, 6), row_classes=outcomes, marks=(9,))
        out += "<p>Shaded on the plots: the early and late windows of each group compared, by start time.</p>"
    if too_few:
        reasons = [line.split(": ", 1) for line in too_few]
        summary = f"not compared: {len(too_few)} group(s)"
        out += f"<details{' open' if not compared else ''}><summary>{summary}</summary>"
        out += table(("group", "why"), reasons, row_classes=["o-skipped"] * len(reasons)) + "</details>"
    return out


def _verdict_mix_section(history, ids: str, why_not: str | None) -> str:
    title = "Verdict mix: expected vs observed"
    mix = series.verdict_mix(history)
    if not mix:
        return _section(ids, "verdict-mix", title, "<p>No results in this history.</p>")
    out = _plot(plots.verdict_mix_plot, mix, "verdict mix expected vs observed", why_not)
    return _section(
        ids, "verdict-mix", title, out + table(("verdict", "expected", "observed"), mix, numeric=(1, 2))
    )


def _resources_section(history, ids: str, why_not: str | None) -> str:
    title = "Host resources over the run"
    sampled = series.sampled_resources(history)
    snapshots = series.resources(history)
    out = ""
    if sampled:
        out += _plot(plots.resources_plot, sampled, "host resources over the run", why_not)
        rows = [(f"{at:.1f}", *(f"{s.values[i]:g}" for s in sampled)) for i, at in enumerate(sampled[0].at_s)]
        headers = ("at (s)", *(s.label for s in sampled))
        out += _data(table(headers, rows, numeric=tuple(range(len(headers)))), bool(why_not))
    else:
        out += "<p>No samples in this history (the runner recorded no 'sample' events).</p>"
    if snapshots:
        kinds = list(dict.fromkeys(k for p in snapshots for k in p.counts))
        rows = [(p.label, f"{p.at_s:.1f}", *(p.counts.get(k, "-") for k in kinds)) for p in snapshots]
        out += "<h3>Snapshots (what the leak checks compare)</h3>"
        out += table(("snapshot", "at (s)", *kinds), rows, numeric=tuple(range(1, len(kinds) + 2)))
    else:
        out += "<p>No snapshots in this history: host resources were not measured.</p>"
    return _section(ids, "resources", title, out)


def _queue_section(history, ids: str, why_not: str | None) -> str:
    title = "Queue depth and executions in flight"
    points = series.queue_samples(history)
    if not points:
        return _section(
            ids,
            "queue",
            title,
            "<p>No queue samples in this history (the runner recorded no 'sample' events).</p>",
        )
    rows = [(f"{p.at_s:.1f}", p.depth, p.capacity, p.in_flight) for p in points]
    data = table(("at (s)", "queue depth", "capacity", "in flight"), rows, numeric=(0, 1, 2, 3))
    out = _plot(plots.queue_plot, points, "queue depth and in-flight executions over time", why_not)
    return _section(ids, "queue", title, out + _data(data, bool(why_not)))


def _wrong_section(history, ids: str) -> str:
    wrong = series.wrong_verdicts(history)
    if not wrong:
        return _section(
            ids, "wrong-verdicts", "Wrong verdicts", "<p>None: every result has its expected verdict.</p>"
        )
    rows = [(w.index, w.box, w.program, w.language, w.expected, w.got, w.message, w.replay) for w in wrong]
    headers = ("index", "box", "program", "language", "expected", "got", "target said", "replay")
    return _section(
        ids,
        "wrong-verdicts",
        "Wrong verdicts",
        table(headers, rows, numeric=(0, 1), row_classes=["o-failed"] * len(rows)),
    )


def no_plots_note(why_not: str | None) -> str:
    return f'<p class="note" id="no-plots">No plots: {esc(why_not)}.</p>' if why_not else ""


def stage_sections(analysis: Analysis, why_not: str | None, ids: str = "") -> list[str]:
    """Everything of a stage below its verdict; `ids` prefixes the ids, so stages share a page."""
    history = analysis.history
    return [
        _rate_section(history, ids, why_not),
        _overhead_section(analysis, ids, why_not),
        _verdict_mix_section(history, ids, why_not),
        _resources_section(history, ids, why_not),
        _queue_section(history, ids, why_not),
        _wrong_section(history, ids),
        checks_section(analysis, ids),
        f"<p><small>history: <code>{esc(history.path)}</code></small></p>",
    ]


def document(title: str, body: Iterable[str]) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{style.CSS}</style></head>\n"
        f"<body>\n{chr(10).join(part for part in body if part)}\n</body></html>\n"
    )


def render_html(analysis: Analysis) -> str:
    why_not = plots.unavailable()
    f = facts(analysis)
    body = [verdict_section(analysis), no_plots_note(why_not), *stage_sections(analysis, why_not)]
    return document(f"{f.stage}: {f.verdict} (seed {f.seed})", body)


def write_page(page: str, path: str | os.PathLike) -> Path:
    """Write a page atomically: a browser or CI artifact upload never sees half a report."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(page)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a report is for everyone who can read the dir
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def default_path(analysis: Analysis, reports_dir: Path) -> Path:
    return Path(reports_dir) / f"{analysis.stage}.html"


def write_html(analysis: Analysis, path: str | os.PathLike) -> Path:
    return write_page(render_html(analysis), path)


def write_html_for_cli(analysis: Analysis, given: str, reports_dir: Path) -> Path:
    """`--html` alone writes REPORTS/STAGE.html; `--html DIR` writes DIR/STAGE.html; else the file given."""
    path = Path(given) if given else default_path(analysis, reports_dir)
    if path.is_dir():
        path = default_path(analysis, path)
    try:
        return write_html(analysis, path)
    except OSError as exc:
        raise UsageError(f"cannot write the HTML report {path}: {exc.strerror or exc}") from None
