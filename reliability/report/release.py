"""`reliability report --release REPORTS_DIR`: one self-contained page for a whole release candidate.

In the order a judge team asks: is anything broken (the gate's verdict, its host x stage table, every
failed check with its evidence and the command that replays it), is anything worse than the release
shipped today (the regression suite `reliability compare` writes), then each stage's own page.
The JUnit files are read once, by the gate (reliability/gate.py); this page renders its result and the
analyses of the runs the suites name. It computes no verdict of its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from reliability.gate import GateCase, GateResult, GateRow, host_of, host_stage_cells
from reliability.report import html as stage_html
from reliability.report import plots, series, style
from reliability.report.analysis import Analysis
from reliability.report.html import esc

# The suites `reliability compare` writes: "regression vs <baseline>", or, with no baseline yet, one
# whose comparison is skipped with the reason.
REGRESSION_SUITES = ("regression vs ", "regression (no baseline)")
REGRESSION_FILE = "regression.xml"
RERUN = "run the stage again: "  # how a failed check's evidence ends (reliability/analyze.py)
ITEM_REPLAY = "replay: reliability replay "  # how a wrong verdict names its replay (checks/verdicts.py)
REPLAYS_SHOWN = 2  # and the stage's own rerun; the evidence lists every one
HISTORY = "history.jsonl"
DEFAULT_NAME = "release.html"


@dataclass(frozen=True)
class StageReport:
    """One stage suite of the gate and, if its run was found and read, the run's analysis."""

    row: GateRow
    host: str
    analysis: Analysis | None
    why_not: str  # why there is no analysis ("" when there is one)


def is_regression(suite: str) -> bool:
    return suite.startswith(REGRESSION_SUITES)


def host_label(result: GateResult, row: GateRow) -> str:
    """A fleet's host is its reports/<host>/ folder; a single host's reports name it in their properties."""
    host = host_of(row)
    return host if host != "-" else result.properties.get((row.file, row.suite), {}).get("host", "this host")


def find_run_dir(result: GateResult, reports_dir: Path, row: GateRow) -> Path | None:
    """The run a suite names (its run_dir property), where it is on this machine: at that path, or, for a
    fleet whose hosts' runs were brought back, under the report's host folder by the run's name."""
    named = _named_run(result, row)
    if not named:
        return None
    path = Path(named)
    if not path.is_absolute():
        path = Path.cwd() / path
    if (path / HISTORY).is_file():
        return path
    host = host_of(row)
    search = Path(reports_dir) / host if host != "-" else Path(reports_dir)
    return next((p.parent for p in search.rglob(f"{path.name}/{HISTORY}")), None)


def _named_run(result: GateResult, row: GateRow) -> str:
    return result.properties.get((row.file, row.suite), {}).get("run_dir", "")


def why_no_run(result: GateResult, row: GateRow) -> str:
    """Why find_run_dir found nothing: a suite of no run (a fleet host's), or a run elsewhere."""
    named = _named_run(result, row)
    return f"its run ({named}) is not on this machine" if named else "its report names no run"


def split_replays(text: str) -> tuple[list[str], list[str]]:
    """(evidence lines, replay commands) of a failure's text: the commands are shown apart, to copy."""
    evidence, commands, items = [], [], []
    for line in text.splitlines():
        if line.startswith(RERUN):
            commands.append(line[len(RERUN) :])
            continue
        evidence.append(line)
        if ITEM_REPLAY in line:
            items.append("reliability replay " + line.split(ITEM_REPLAY, 1)[1])
    return evidence, items[:REPLAYS_SHOWN] + commands


def _verdict(result: GateResult, stages: list[StageReport]) -> str:
    word = "PASSED" if result.ok else "FAILED"
    props = list(result.properties.values())

    def values(key: str) -> str:
        return ", ".join(sorted({p[key] for p in props if p.get(key)})) or "-"

    meta = stage_html.meta_line(
        {
            "profile": values("profile"),
            "target": values("target"),
            "target_version": values("target_version"),
            "pipeline_version": values("pipeline_version"),
            "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        {"profile": "profile", "target": "target", "target_version": "target version",
         "pipeline_version": "pipeline version", "written": "page written"},
    )  # fmt: skip
    failed = [c for c in result.failures() if not is_regression(c.suite)]
    regressed = [c for c in result.failures() if is_regression(c.suite)]
    passed = sum(1 for s in stages if style.OUTCOME_OF.get(s.row.verdict) == "passed")
    counts = (
        f"{len(stages)} stage report(s), {passed} passed; {len(failed)} failed check(s); "
        f"{len(regressed)} regression(s) against the baseline; {len(result.reasons)} reason(s) to fail the gate"
    )
    # What fails the gate besides a failed case (listed below it): a missing, empty, unreadable or
    # all-skipped report.
    gate_only = [r for r in result.reasons if ": failure in " not in r and ": error in " not in r]
    parts = [
        f'<section id="verdict" class="box {style.outcome_class(word)} {word}">',
        f'<h1 class="{word}">release candidate: {word}</h1>',
        meta,
        f"<p>{esc(counts)}</p>",
        _gate_table(result),
    ]
    if gate_only:
        parts.append("<ul>" + "".join(f"<li>{esc(r)}</li>" for r in gate_only) + "</ul>")
    parts += [f'<p class="note">{esc(n)}</p>' for n in result.notes]
    return "\n".join(parts) + "</section>"


def stage_table(result: GateResult) -> tuple[list[str], list[list[str]]]:
    """The gate's host x stage table without the comparison: (stages, [host, verdict per stage] rows)."""
    rows = [r for r in result.rows if not is_regression(r.suite)]
    hosts, stages, cells = host_stage_cells(rows)
    labels = {host_of(r): host_label(result, r) for r in rows}
    return stages, [[labels.get(h, h), *(cells.get((h, s), "missing") for s in stages)] for h in hosts]


def _gate_table(result: GateResult) -> str:
    stages, rows = stage_table(result)
    head = "".join(f"<th>{esc(s)}</th>" for s in ["host", *stages])
    body = [
        f"<tr><th>{esc(host)}</th>"
        + "".join(f'<td class="mark {style.outcome_class(v)}">{esc(v)}</td>' for v in verdicts)
        + "</tr>"
        for host, *verdicts in rows
    ]
    return f'<table id="gate-table"><tr>{head}</tr>{"".join(body)}</table>'


def _compact(cards: int) -> str:
    """The cards' class in a column of `cards`: past two, shorter messages and evidence, so that the
    verdict and every card of up to four stay above the fold of a 1400 x 900 window."""
    return " compact" if cards > 2 else ""


def _failure(case: GateCase, where: str, rerun: str | None, compact: str = "") -> str:
    """A failed case as a card: where, what (at most three lines; the whole in its title), its evidence
    (scrolls past a few lines), and for a stage's check (rerun not None) its replay commands. A
    regression's replays are its stage's: on that stage's card, once."""
    evidence, commands = split_replays(case.text)
    if rerun is None:
        evidence, commands = case.text.splitlines(), []
    commands = commands or ([rerun] if rerun else [])
    replay = "".join(f'<div>replay: <code class="replay">{esc(c)}</code></div>' for c in commands)
    shown = "\n".join(evidence) or "(no evidence recorded)"
    return (
        f'<div class="failure o-failed{compact}"><h3><span class="mark o-failed">{esc(case.outcome.upper())}</span> '
        f'{esc(where)}{esc(case.name)}</h3><p class="said" title="{esc(case.message)}">{esc(case.message)}</p>'
        f'<div class="evidence">{esc(shown)}</div>{replay}</div>'
    )


def _failures(result: GateResult, stages: list[StageReport]) -> str:
    reruns = {
        (s.row.file, s.row.suite): series.rerun_command(s.analysis.history)
        for s in stages
        if s.analysis is not None
    }
    hosts = {(s.row.file, s.row.suite): s.host for s in stages}
    failed = [c for c in result.failures() if not is_regression(c.suite)]
    out = [f'<section id="failures"><h2>Failed checks ({len(failed)})</h2>']
    if not failed:
        out.append("<p>None: every check of every stage passed or was skipped with a reason.</p>")
    for case in failed:
        key = (case.file, case.suite)
        where = f"{hosts.get(key, '-')} · {case.suite}: "
        out.append(_failure(case, where, reruns.get(key, ""), _compact(len(failed))))
    return "\n".join(out) + "</section>"


def _regressions(result: GateResult, reports_dir: Path) -> str:
    rows = [r for r in result.rows if is_regression(r.suite)]
    out = ['<section id="regressions"><h2>Compared with the baseline</h2>']
    if not rows:
        out.append(f'<p class="note">no comparison: no {REGRESSION_FILE} in {esc(reports_dir)}</p>')
    for row in rows:
        cases = [c for c in result.cases if (c.file, c.suite) == (row.file, row.suite)]
        bad = [c for c in cases if c.outcome in ("failure", "error")]
        out.append(
            f'<h3><span class="mark {style.outcome_class(row.verdict)}">{esc(row.verdict)}</span> '
            f"{esc(row.suite)}: {len(bad)} regression(s) in {row.tests} comparison(s)</h3>"
        )
        out += [_failure(c, "", None, _compact(len(bad))) for c in bad]
        table = _cases_table(("status", "comparison", "result"), cases)
        out.append(f"<details{'' if bad else ' open'}><summary>every comparison</summary>{table}</details>")
    return "\n".join(out) + "</section>"


def _stage(s: StageReport, result: GateResult, why_not: str | None) -> str:
    ids = f"{s.host}-{s.row.suite}-".replace(" ", "_")
    out = [f'<section class="stage" id="stage-{esc(ids[:-1])}">']
    if s.analysis is None:
        cases = [c for c in result.cases if (c.file, c.suite) == (s.row.file, s.row.suite)]
        out.append(f"<h2>{esc(s.host)} &middot; {esc(s.row.suite)}: {esc(s.row.verdict)}</h2>")
        out.append(f'<p class="note">no plots or run details: {esc(s.why_not)}</p>')
        out.append(_cases_table(("status", "check", "result"), cases))
    else:
        out.append(stage_html.verdict_section(s.analysis, ids=ids, failures=False))
        out += stage_html.stage_sections(s.analysis, why_not, ids=ids)
    return "\n".join(out) + "</section>"


MARK_OF = {"passed": "PASS", "failure": "FAIL", "error": "ERROR", "skipped": "SKIP"}  # a GateCase's outcome


def _cases_table(headers: tuple[str, str, str], cases: list[GateCase]) -> str:
    """JUnit testcases as read by the gate, one row each, coloured by outcome."""
    return stage_html.table(
        headers,
        [(MARK_OF[c.outcome], c.name, c.message or c.text) for c in cases],
        row_classes=[style.outcome_class(c.outcome) for c in cases],
        marks=(0,),
    )


def render_release(result: GateResult, reports_dir: Path, stages: list[StageReport]) -> str:
    why_not = plots.unavailable()
    body = [
        _verdict(result, stages),
        '<div class="top">',
        _failures(result, stages),
        _regressions(result, reports_dir),
        "</div>",
        stage_html.no_plots_note(why_not),
        '<section id="stages"><h2>Stages</h2>',
        *(_stage(s, result, why_not) for s in stages),
        "</section>",
    ]
    return stage_html.document(f"release candidate: {'PASSED' if result.ok else 'FAILED'}", body)


def stage_rows(result: GateResult) -> list[GateRow]:
    """The suites that are stages (not the comparison), in the host x stage table's order."""
    rows = [r for r in result.rows if not is_regression(r.suite) and r.suite != "-"]
    return sorted(rows, key=lambda r: (host_of(r), r.suite))


def write_release(page: str, reports_dir: Path, given: str | None) -> Path:
    path = Path(given) if given else Path(reports_dir) / DEFAULT_NAME
    if path.is_dir():
        path = path / DEFAULT_NAME
    return stage_html.write_page(page, path)
