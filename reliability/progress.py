"""Progress on long runs: a live line on a terminal, plain periodic lines otherwise (CI logs)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

from reliability.runner import Runner

PLAIN_EVERY_S = 10.0


def describe(runner: Runner, total: int | None) -> str:
    s = runner.stats
    done = f"{s.done}/{total}" if total else f"{s.done}"
    verdicts = " ".join(f"{v}={n}" for v, n in sorted(s.verdicts.items()))
    parts = [
        f"done {done}",
        f"{s.rate_per_min():.0f}/min",
        *_time_left(s.done, total, s.rate_per_min()),
        f"in flight {s.in_flight}",
        f"queue {runner.queue_depth()}",
        verdicts or "no verdicts yet",
    ]
    if s.skipped:
        parts.append(f"skipped {s.skipped}")
    if s.wrong:
        parts.append(f"WRONG {s.wrong}")
    if s.cleanup_failures:
        parts.append(f"CLEANUP FAILED {s.cleanup_failures}")
    return " | ".join(parts)


def _time_left(done: int, total: int | None, rate_per_min: float) -> list[str]:
    """ "about N s/min/h left" once there is a rate to go by (a long run's main question)."""
    if not total or rate_per_min <= 0 or done >= total:
        return []
    left_s = 60.0 * (total - done) / rate_per_min
    for unit, size in (("h", 3600), ("min", 60)):
        if left_s >= 2 * size:
            return [f"about {left_s / size:.0f} {unit} left"]
    return [f"about {left_s:.0f} s left"]


class Progress:
    """Reports a runner's progress from a background thread until stopped."""

    def __init__(self, runner: Runner, label: str, total: int | None, stream=None):
        self.runner = runner
        self.label = label
        self.total = total
        self.stream = stream or sys.stderr
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Progress:
        live = self.stream.isatty()
        loop: Callable[[], None] = self._live if live else self._plain
        self._thread = threading.Thread(target=loop, name="progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        if self._thread:
            self._thread.join()

    def _plain(self) -> None:
        while not self._done.wait(PLAIN_EVERY_S):
            print(f"{self.label}: {describe(self.runner, self.total)}", file=self.stream, flush=True)

    def _live(self) -> None:
        from rich.console import Console
        from rich.live import Live

        console = Console(file=self.stream)
        with Live(console=console, refresh_per_second=4, transient=True) as live:
            while not self._done.wait(0.25):
                live.update(f"[bold]{self.label}[/]: {describe(self.runner, self.total)}")
        started = self.runner.stats.started_at
        print(
            f"{self.label}: {describe(self.runner, self.total)} in {time.monotonic() - started:.1f} s",
            file=self.stream,
            flush=True,
        )
