"""The HTML report's plots as PNG data URIs, drawn with matplotlib (the optional `report` extra).

Each function takes what reliability.report.series computed and returns "data:image/png;base64,...", so
the report stays one self-contained file. Call unavailable() first: without matplotlib there are no plots.
"""

from __future__ import annotations

import base64
import io

from reliability.report.series import ComparedWindows, OverheadPoint, QueuePoint, ResourcePoint, Window

INSTALL_HINT = "plots need the `report` extra: pip install 'reliability[report]' (matplotlib)"


def unavailable() -> str | None:
    """None when plots can be drawn, else why not."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return INSTALL_HINT
    return None


def _figure(rows: int = 1, height: float = 3.0):
    from matplotlib.figure import Figure

    # A bare Figure, not pyplot: no display backend, no global state, no figures kept alive. Fixed margins
    # instead of a layout engine, which costs more than the drawing itself.
    total = height * rows
    fig = Figure(figsize=(9, total), dpi=90)
    fig.subplots_adjust(left=0.09, right=0.98, top=1 - 0.35 / total, bottom=0.55 / total, hspace=0.6)
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    return fig, list(axes)


def _data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _mid(w: Window) -> float:
    return w.start_s + w.width_s / 2


def rate_plot(points: list[tuple[Window, float]]) -> str:
    fig, (ax,) = _figure()
    ax.bar([w.start_s for w, _ in points], [r for _, r in points], width=points[0][0].width_s, align="edge")
    ax.set_xlabel("seconds since the stage started")
    ax.set_ylabel("executions / minute")
    ax.set_title(f"Executions per minute ({points[0][0].width_s:g} s windows)")
    return _data_uri(fig)


def overhead_plot(
    by_language: dict[str, list[OverheadPoint]], compared: list[ComparedWindows], degraded: bool
) -> str:
    """Percentiles per language; shaded: the windows the degradation check compared (red if it failed)."""
    fig, axes = _figure(rows=len(by_language), height=2.6)
    shade = "tab:red" if degraded else "0.6"
    for ax, (language, points) in zip(axes, by_language.items()):
        for c in (c for c in compared if c.language == language):
            for span in (c.early, c.late):
                ax.axvspan(*span, color=shade, alpha=0.15, linewidth=0)
        xs = [_mid(p.window) for p in points]
        for q, style in (("p50", "-o"), ("p95", "--s"), ("p99", ":^")):
            ax.plot(xs, [1000 * getattr(p, q) for p in points], style, label=q, markersize=4)
        ax.set_title(f"{language}: sandbox overhead (wall - cpu)")
        ax.set_ylabel("ms")
        ax.legend(loc="upper left", fontsize="small")
    axes[-1].set_xlabel("seconds since the stage started")
    return _data_uri(fig)


def verdict_mix_plot(mix: list[tuple[str, int, int]]) -> str:
    fig, (ax,) = _figure()
    xs = range(len(mix))
    ax.bar([x - 0.2 for x in xs], [e for _, e, _ in mix], width=0.4, label="expected")
    ax.bar([x + 0.2 for x in xs], [o for _, _, o in mix], width=0.4, label="observed")
    ax.set_xticks(list(xs), [v for v, _, _ in mix])
    ax.set_ylabel("executions")
    ax.set_title("Verdict mix: expected vs observed")
    ax.legend()
    return _data_uri(fig)


def resources_plot(points: list[ResourcePoint]) -> str:
    kinds = [k for k in dict.fromkeys(k for p in points for k in p.counts)]
    fig, axes = _figure(rows=len(kinds), height=1.8)
    for ax, kind in zip(axes, kinds):
        have = [p for p in points if kind in p.counts]
        ax.plot([p.at_s for p in have], [p.counts[kind] for p in have], "-o", markersize=4)
        for p in have:
            ax.annotate(p.label, (p.at_s, p.counts[kind]), fontsize="x-small", xytext=(3, 3),
                        textcoords="offset points")  # fmt: skip
        ax.set_ylabel(kind)
    axes[0].set_title("Host resources per snapshot")
    axes[-1].set_xlabel("seconds since the stage started")
    return _data_uri(fig)


def queue_plot(points: list[QueuePoint]) -> str:
    fig, (ax,) = _figure()
    xs = [p.at_s for p in points]
    ax.step(xs, [p.depth for p in points], where="post", label="queue depth")
    ax.step(xs, [p.in_flight for p in points], where="post", label="in flight")
    ax.plot(xs, [p.capacity for p in points], "k:", label="queue capacity")
    ax.set_xlabel("seconds since the stage started")
    ax.set_ylabel("submissions")
    ax.set_title("Queue depth and executions in flight")
    ax.legend(loc="upper left")
    return _data_uri(fig)
