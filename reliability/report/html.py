"""`reliability report RUN_DIR --html`: one self-contained HTML page per run, plots embedded as PNG.

The verdict and every failed check with its evidence come first: that is what a person opens it for.
Below: executions per minute, sandbox overhead percentiles per language, verdict mix, host resources per
snapshot, queue depth and in-flight executions, and the wrong verdicts with a replay command each.
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
from reliability.errors import UsageError
from reliability.report import plots, series
from reliability.report.analysis import Analysis, properties
from reliability.report.summary import MARK, facts, leaks_text, verdicts_text

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1000px;padding:1em;color:#222}
h1{margin:.2em 0}.PASSED{color:#186a1e}.FAILED{color:#b00020}
#verdict{border:3px solid;padding:.6em 1em;border-radius:6px}
#verdict.PASSED{border-color:#186a1e;background:#eef8ee}#verdict.FAILED{border-color:#b00020;background:#fdecee}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;
vertical-align:top}th{background:#f3f3f3}td.num{text-align:right}
.evidence{font:12px monospace;white-space:pre-wrap;background:#f7f7f7;padding:.4em;margin:.2em 0 .8em}
.note{background:#fff7d6;padding:.4em .8em;border-left:4px solid #e0b000}
img.plot{max-width:100%;display:block;margin:.5em 0}code{font-size:12px}
"""

# The JUnit properties shown under the verdict: enough to tell runs apart and to run one again.
HEADLINE_PROPERTIES = (
    "seed",
    "profile",
    "target",
    "target_version",
    "host",
    "pipeline_version",
    "started",
    "ended",
)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{_e(v)}</td>' if i in numeric else f"<td>{_e(v)}</td>"
            for i, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _plot(draw: Callable[..., str], data: object, alt: str, why_not: str | None) -> str:
    if why_not:
        return ""  # the page says once, at the top, that plots need the extra
    return f'<img class="plot" alt="{_e(alt)}" src="{draw(data)}">'


def _data(table: str, open_: bool) -> str:
    """Tables under the plots fold away; without plots they are the content, so they stay open."""
    return f"<details{' open' if open_ else ''}><summary>data</summary>{table}</details>"


def _verdict_section(analysis: Analysis) -> str:
    f = facts(analysis)
    props = properties(analysis)
    meta = ", ".join(f"{k} <code>{_e(props[k])}</code>" for k in HEADLINE_PROPERTIES)
    failed = [c for c in analysis.checks if c.status == "failed"]
    parts = [
        f'<section id="verdict" class="{f.verdict}">',
        f'<h1 class="{f.verdict}">{_e(f.stage)}: {f.verdict}</h1>',
        f"<p>{meta}</p>",
        f"<p>executions {f.executions} in {f.duration_s:.1f} s ({f.rate_per_min:.0f}/min); verdicts "
        f"{_e(verdicts_text(f))}; checks {f.checks['passed']} passed, {f.checks['failed']} failed, "
        f"{f.checks['skipped']} skipped; leaks: {_e(leaks_text(f))}</p>",
    ]
    parts += [f'<p class="note">{_e(n)}</p>' for n in f.notes]
    if failed:
        parts.append('<div id="failed-checks"><h2>Failed checks</h2>')
        for c in failed:
            evidence = "\n".join(c.evidence) or "(no evidence recorded)"
            parts.append(f'<h3>{_e(c.name)}: {_e(c.message)}</h3><div class="evidence">{_e(evidence)}</div>')
        rerun = series.rerun_command(analysis.history)
        parts.append(f"<p>run the stage again: <code>{_e(rerun)}</code></p></div>")
    parts.append("</section>")
    return "\n".join(parts)


def _checks_section(analysis: Analysis) -> str:
    rows = [(MARK[c.status], c.name, c.message) for c in analysis.checks]
    return "<h2>All checks</h2>" + _table(("status", "check", "result"), rows)


def _rate_section(history, why_not: str | None) -> str:
    points = series.executions_per_minute(history)
    out = "<section id='rate'><h2>Executions per minute</h2>"
    if not points:
        return out + "<p>No executions in this history.</p></section>"
    rows = [(f"{w.start_s:g}-{w.start_s + w.width_s:g}", f"{rate:.1f}") for w, rate in points]
    out += _plot(plots.rate_plot, points, "executions per minute over time", why_not)
    return (
        out
        + _data(_table(("window (s)", "executions/min"), rows, numeric=(1,)), bool(why_not))
        + "</section>"
    )


def _overhead_section(analysis: Analysis, why_not: str | None) -> str:
    history = analysis.history
    by_language = series.overhead_by_language(history)
    out = "<section id='overhead'><h2>Sandbox overhead (wall - cpu) per language</h2>"
    if not by_language:
        return out + "<p>No result in this history reports both wall and cpu time.</p></section>"
    rows = [
        (lang, f"{p.window.start_s:g}-{p.window.start_s + p.window.width_s:g}", p.samples,
         f"{1000 * p.p50:.1f}", f"{1000 * p.p95:.1f}", f"{1000 * p.p99:.1f}")
        for lang, points in by_language.items() for p in points
    ]  # fmt: skip
    table = _table(
        ("language", "window (s)", "runs", "p50 ms", "p95 ms", "p99 ms"), rows, numeric=(2, 3, 4, 5)
    )
    check = next((c for c in analysis.checks if c.name == degradation.NAME), None)
    compared = series.degradation_windows(history)
    degraded = check is not None and check.status == "failed"
    draw = functools.partial(plots.overhead_plot, compared=compared, degraded=degraded)
    out += _plot(draw, by_language, "overhead percentiles per language over time", why_not)
    out += _data(table, bool(why_not))
    if check is None:
        return out + "<p>This stage has no degradation check.</p></section>"
    out += (
        f"<p>Degradation check: <b>{MARK[check.status]}</b> {_e(check.message)}. "
        "Shaded on the plots (red when it failed): the early and late windows it compared.</p>"
    )
    if compared:
        spans = [(c.language, c.verdict, f"{c.early[0]:.1f}-{c.early[1]:.1f}", f"{c.late[0]:.1f}-{c.late[1]:.1f}")
                 for c in compared]  # fmt: skip
        out += _table(("language", "verdict", "early window (s)", "late window (s)"), spans)
    return out + "</section>"


def _verdict_mix_section(history, why_not: str | None) -> str:
    mix = series.verdict_mix(history)
    out = "<section id='verdict-mix'><h2>Verdict mix: expected vs observed</h2>"
    if not mix:
        return out + "<p>No results in this history.</p></section>"
    out += _plot(plots.verdict_mix_plot, mix, "verdict mix expected vs observed", why_not)
    return out + _table(("verdict", "expected", "observed"), mix, numeric=(1, 2)) + "</section>"


def _resources_section(history, why_not: str | None) -> str:
    points = series.resources(history)
    out = "<section id='resources'><h2>Host resources per snapshot</h2>"
    if not points:
        return out + "<p>No snapshots in this history: host resources were not measured.</p></section>"
    kinds = list(dict.fromkeys(k for p in points for k in p.counts))
    rows = [(p.label, f"{p.at_s:.1f}", *(p.counts.get(k, "-") for k in kinds)) for p in points]
    out += _plot(plots.resources_plot, points, "host resources per snapshot", why_not)
    table = _table(("snapshot", "at (s)", *kinds), rows, numeric=tuple(range(1, len(kinds) + 2)))
    return out + table + "</section>"


def _queue_section(history, why_not: str | None) -> str:
    points = series.queue_samples(history)
    out = "<section id='queue'><h2>Queue depth and executions in flight</h2>"
    if not points:
        return (
            out
            + "<p>No queue samples in this history (the runner recorded no 'sample' events).</p></section>"
        )
    rows = [(f"{p.at_s:.1f}", p.depth, p.capacity, p.in_flight) for p in points]
    table = _table(("at (s)", "queue depth", "capacity", "in flight"), rows, numeric=(0, 1, 2, 3))
    out += _plot(plots.queue_plot, points, "queue depth and in-flight executions over time", why_not)
    return out + _data(table, bool(why_not)) + "</section>"


def _wrong_section(history) -> str:
    wrong = series.wrong_verdicts(history)
    out = "<section id='wrong-verdicts'><h2>Wrong verdicts</h2>"
    if not wrong:
        return out + "<p>None: every result has its expected verdict.</p></section>"
    rows = [(w.index, w.box, w.program, w.language, w.expected, w.got, w.message, w.replay) for w in wrong]
    headers = ("index", "box", "program", "language", "expected", "got", "target said", "replay")
    return out + _table(headers, rows, numeric=(0, 1)) + "</section>"


def render_html(analysis: Analysis) -> str:
    history = analysis.history
    why_not = plots.unavailable()
    f = facts(analysis)
    notice = f'<p class="note" id="no-plots">No plots: {_e(why_not)}.</p>' if why_not else ""
    body = [
        _verdict_section(analysis),
        notice,
        _rate_section(history, why_not),
        _overhead_section(analysis, why_not),
        _verdict_mix_section(history, why_not),
        _resources_section(history, why_not),
        _queue_section(history, why_not),
        _wrong_section(history),
        _checks_section(analysis),
        f"<p><small>history: <code>{_e(history.path)}</code></small></p>",
    ]
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(f.stage)}: {f.verdict} (seed {f.seed})</title><style>{STYLE}</style></head>\n"
        f"<body>\n{chr(10).join(part for part in body if part)}\n</body></html>\n"
    )


def default_path(analysis: Analysis, reports_dir: Path) -> Path:
    return Path(reports_dir) / f"{analysis.stage}.html"


def write_html(analysis: Analysis, path: str | os.PathLike) -> Path:
    """Write the page atomically: a browser or CI artifact upload never sees half a report."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page = render_html(analysis)
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


def write_html_for_cli(analysis: Analysis, given: str, reports_dir: Path) -> Path:
    """`--html` alone writes REPORTS/STAGE.html; `--html DIR` writes DIR/STAGE.html; else the file given."""
    path = Path(given) if given else default_path(analysis, reports_dir)
    if path.is_dir():
        path = default_path(analysis, path)
    try:
        return write_html(analysis, path)
    except OSError as exc:
        raise UsageError(f"cannot write the HTML report {path}: {exc.strerror or exc}") from None
