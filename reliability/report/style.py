"""How every page and plot looks, in one place: the outcome colours, the pages' CSS, the plots' rcParams.

The same green, red and amber mark an outcome in a table cell, a verdict box and a plot, so a reader
learns them once. Nothing here imports matplotlib: the tables-only path needs none of it.
"""

from __future__ import annotations

# outcome -> (text / border colour, background tint)
OUTCOME = {
    "passed": ("#1a7f37", "#e6f4ea"),
    "failed": ("#b00020", "#fdecee"),
    "skipped": ("#8a6100", "#fff4d6"),
    "missing": ("#57606a", "#eceff1"),
}

# A gate verdict (reliability/gate.py) or a check status -> its outcome colour.
OUTCOME_OF = {
    "pass": "passed",
    "passed": "passed",
    "PASSED": "passed",
    "skipped (allowed)": "skipped",
    "SKIPPED": "skipped",
    "skipped": "skipped",
    "EMPTY": "failed",
    "FAIL": "failed",
    "FAILED": "failed",
    "failed": "failed",
    "failure": "failed",
    "ERROR": "failed",
    "error": "failed",
    "UNREADABLE": "failed",
    "missing": "missing",
}


def outcome_class(verdict: str) -> str:
    """The CSS class of a verdict or status; anything unknown is shown as a failure (fail closed)."""
    return "o-" + OUTCOME_OF.get(verdict, "failed")


def _outcome_css() -> str:
    rules = []
    for name, (fg, bg) in OUTCOME.items():
        rules.append(f".o-{name}{{background:{bg}}}.mark.o-{name}{{color:{fg};font-weight:600}}")
        rules.append(f".box.o-{name}{{border-color:{fg}}}.box.o-{name} h1{{color:{fg}}}")
    return "\n".join(rules)


CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1360px;
padding:12px 20px;color:#1f2328}
h1{margin:.1em 0;font-size:24px}h2{margin:1.1em 0 .4em;font-size:19px;border-bottom:1px solid #d0d7de}
h3{margin:.6em 0 .2em;font-size:15px}
.box{border:3px solid;padding:.4em 1em;border-radius:6px}.box p{margin:.4em 0}.box h2{margin-top:.2em}
table{border-collapse:collapse;margin:.4em 0}
td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.meta{display:flex;flex-wrap:wrap;gap:.2em 1.4em;margin:.4em 0}.meta span{white-space:nowrap}
.meta b{font-weight:600;color:#57606a}
.evidence{font:12px/1.35 ui-monospace,monospace;white-space:pre-wrap;background:#f6f8fa;padding:.4em .6em;
margin:.2em 0 .4em;max-height:7.2em;overflow:auto;border:1px solid #d0d7de;border-radius:4px}
.replay{font:12px ui-monospace,monospace;background:#eef2ff;padding:.15em .4em;border-radius:3px;
overflow-wrap:anywhere}
.note{background:#fff8c5;padding:.4em .8em;border-left:4px solid #d4a72c}
img.plot{max-width:100%;display:block;margin:.5em 0}code{font-size:12px}
details>summary{cursor:pointer;color:#57606a}
.top{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:0 24px;align-items:start}
@media (max-width:1000px){.top{display:block}}
.failure{border-left:4px solid #b00020;padding:.1em .7em .5em;margin:.5em 0;border-radius:3px}
.failure h3{margin:.3em 0 .1em}.failure p{margin:.1em 0 .3em}
.said{display:-webkit-box;-webkit-line-clamp:3;-webkit-box-orient:vertical;overflow:hidden}
.compact .said{-webkit-line-clamp:1}.compact .evidence{max-height:3.2em}
section.stage{margin-top:1.6em;padding-top:.4em;border-top:4px solid #d0d7de}
""" + _outcome_css()

# The plots' look (matplotlib rcParams), applied around each drawing so no global state is touched.
# Large enough text for a page read at 100 %, a light grid to read values off, no chart junk.
PLOT_RC = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.facecolor": "white",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#d0d7de",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "legend.frameon": False,
    "legend.fontsize": 9,
    "lines.linewidth": 1.6,
    "lines.markersize": 4,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
}

# Plot colours by meaning (matplotlib's tab10, whose first colour is the default line colour).
SERIES = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b")
EARLY_SHADE, LATE_SHADE = "#1f77b4", "#ff7f0e"
FAILED_SHADE = OUTCOME["failed"][0]
