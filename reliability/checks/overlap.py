"""Executions that overlap in one box, from the spans the history gives them (both the concurrency and the
locks checks ask it; each decides what a span is)."""

from __future__ import annotations

from collections.abc import Iterable


def overlapping(spans: Iterable[tuple[int, float, float, int]]) -> list[str]:
    """One line per execution that began before an earlier one in the same box had ended.

    `spans` are (box, start, end, index). Each span is compared with the latest end seen so far in its
    box, not only with its neighbour, so a short run inside a long one is caught too."""
    by_box: dict[int, list[tuple[float, float, int]]] = {}
    for box, start, end, index in spans:
        by_box.setdefault(box, []).append((start, end, index))
    lines = []
    for box, runs in sorted(by_box.items()):
        runs.sort()
        _, latest_end, latest = runs[0]
        for start, end, index in runs[1:]:
            if start < latest_end:
                lines.append(
                    f"box {box}: index {index} ran from {start:.3f} while index {latest} ran until {latest_end:.3f}"
                )
            if end > latest_end:
                latest_end, latest = end, index
    return lines
