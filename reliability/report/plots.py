"""The HTML report's plots as PNG data URIs, drawn with matplotlib (the optional `report` extra).

Each function takes what reliability.report.series (or the degradation check) computed and returns
"data:image/png;base64,...", so the report stays one self-contained file. Every plot is drawn inside
the one style of reliability.report.style. Call unavailable() first: without matplotlib there are no plots.
"""

from __future__ import annotations

import base64
import functools
import io

from reliability.checks.degradation import Group
from reliability.report import style
from reliability.report.series import OverheadPoint, QueuePoint, SampledSeries, Window

INSTALL_HINT = "plots need the `report` extra: pip install 'reliability[report]' (matplotlib)"
TIME_AXIS = "seconds since the stage started"


def unavailable() -> str | None:
    """None when plots can be drawn, else why not."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return INSTALL_HINT
    return None


def png(figure):
    """The plot of a *_figure function as a data URI, drawn and saved inside our rcParams: the settings
    apply to this figure only, never to a caller's. Tests read the figure itself (legend and ticks)."""

    @functools.wraps(figure)
    def draw(*args, **kwargs) -> str:
        import matplotlib

        with matplotlib.rc_context(style.PLOT_RC):
            return _data_uri(figure(*args, **kwargs))

    return draw


def _figure(rows: int = 1, height: float = 2.8):
    from matplotlib.figure import Figure

    # A bare Figure, not pyplot: no display backend, no global state, no figures kept alive. Fixed margins
    # instead of a layout engine, which costs more than the drawing itself.
    total = height * rows
    fig = Figure(figsize=(10, total))
    fig.subplots_adjust(left=0.08, right=0.98, top=1 - 0.4 / total, bottom=0.55 / total, hspace=0.75)
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    return fig, list(axes)


def _whole_numbers(ax) -> None:
    """A count has no 2.5: ticks on integers only."""
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))


def _data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _mid(w: Window) -> float:
    return w.start_s + w.width_s / 2


def rate_figure(points: list[tuple[Window, float]]):
    fig, (ax,) = _figure()
    width = points[0][0].width_s
    ax.bar(
        [w.start_s for w, _ in points],
        [r for _, r in points],
        width=width,
        align="edge",
        color=style.SERIES[0],
    )
    ax.set_xlabel(TIME_AXIS)
    ax.set_ylabel("executions / minute")
    ax.set_title(f"Executions per minute ({width:g} s windows)")
    return fig


def overhead_figure(by_language: dict[str, list[OverheadPoint]], compared: list[Group], t0: float):
    """Percentiles per language; shaded: the early and late windows the degradation check compared for
    that language (by the runs' start times), edged in red where it found that group slower."""
    from matplotlib.colors import to_rgba

    fig, axes = _figure(rows=len(by_language), height=2.5)
    for ax, (language, points) in zip(axes, by_language.items()):
        groups = [g for g in compared if g.language == language and g.metric == "overhead"]
        for g in groups:
            slow = g.ratio.slower
            for (start, end), colour, name in (
                (g.early_s, style.EARLY_SHADE, "early"),
                (g.late_s, style.LATE_SHADE, "late"),
            ):
                ax.axvspan(start - t0, end - t0, facecolor=to_rgba(colour, 0.15), linewidth=2 if slow else 0,
                           edgecolor=style.FAILED_SHADE if slow else "none")  # fmt: skip
                ax.text((start + end) / 2 - t0, 1.0, f"{name} ({g.verdict})", transform=ax.get_xaxis_transform(),
                        ha="center", va="bottom", fontsize=8, color=colour)  # fmt: skip
        xs = [_mid(p.window) for p in points]
        for q, marker, colour in (
            ("p50", "-o", style.SERIES[0]),
            ("p95", "--s", style.SERIES[1]),
            ("p99", ":^", style.SERIES[2]),
        ):
            ax.plot(xs, [1000 * getattr(p, q) for p in points], marker, label=q, color=colour)
        ax.set_title(f"{language}: sandbox overhead (wall - cpu)", pad=14 if groups else 6)
        ax.set_ylabel("ms")
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the axes, never over a point
    axes[-1].set_xlabel(TIME_AXIS)
    fig.subplots_adjust(right=0.9)
    return fig


def verdict_mix_figure(mix: list[tuple[str, int, int]]):
    fig, (ax,) = _figure()
    xs = range(len(mix))
    ax.bar([x - 0.2 for x in xs], [e for _, e, _ in mix], width=0.4, label="expected", color=style.SERIES[0])
    ax.bar([x + 0.2 for x in xs], [o for _, _, o in mix], width=0.4, label="observed", color=style.SERIES[1])
    ax.set_xticks(list(xs), [v for v, _, _ in mix])
    ax.set_ylabel("executions")
    _whole_numbers(ax)
    ax.set_title("Verdict mix: expected vs observed")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.subplots_adjust(right=0.88)
    return fig


def resources_figure(sampled: list[SampledSeries]):
    """One small plot per series the sampler recorded, over the whole run."""
    fig, axes = _figure(rows=len(sampled), height=1.9)
    for ax, s, colour in zip(axes, sampled, style.SERIES * 2):
        ax.plot(s.at_s, s.values, "-", color=colour, drawstyle="steps-post" if s.counts else "default")
        ax.set_title(s.label, fontsize=10)
        ax.set_ylim(bottom=0, top=max(s.values) * 1.15 or 1)  # from zero: growth shows as what it is
        if s.counts:
            _whole_numbers(ax)
    axes[-1].set_xlabel(TIME_AXIS)
    return fig


def queue_figure(points: list[QueuePoint]):
    fig, (ax,) = _figure(height=3.0)
    xs = [p.at_s for p in points]
    ax.step(xs, [p.depth for p in points], where="post", label="queue depth", color=style.SERIES[0])
    ax.step(xs, [p.in_flight for p in points], where="post", label="in flight", color=style.SERIES[1])
    # On top of the depth steps: a full queue sits exactly on its capacity.
    ax.plot(
        xs,
        [p.capacity for p in points],
        ":",
        color="#1f2328",
        linewidth=1.4,
        zorder=3,
        label="queue capacity",
    )
    ax.set_xlabel(TIME_AXIS)
    ax.set_ylabel("submissions")
    _whole_numbers(ax)
    ax.set_ylim(bottom=0, top=max([p.capacity for p in points] + [p.in_flight for p in points] + [1]) * 1.08)
    ax.set_title("Queue depth and executions in flight")
    # Beside the axes: inside, the legend covered the steps it names (capacity and in-flight sit at the top).
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.subplots_adjust(right=0.83)
    return fig


rate_plot = png(rate_figure)
overhead_plot = png(overhead_figure)
verdict_mix_plot = png(verdict_mix_figure)
resources_plot = png(resources_figure)
queue_plot = png(queue_figure)
