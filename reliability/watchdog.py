"""The watchdog: when no sandbox command (init, run, cleanup) returns for a configured time while work is
pending, the run is stuck. Commands, not whole executions, are its progress: a slow CLI sandbox at 100
workers on a small host may take longer than the stall time to finish its first execution, yet its
commands keep returning; a deadlock returns none.

It then journals every thread's stack (sys._current_frames), so the deadlock can be read from the
history after the fact, and asks the runner to stop; the concurrency check turns the event into a
failed "no deadlocks". It fires at most once per run: one dump says all there is to say.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback

from reliability.history import Journal
from reliability.runner import Runner

POLL_S = 0.5


def thread_stacks() -> dict[str, list[str]]:
    """Every live thread's stack, innermost frame last, keyed by "<name> (<ident>)"."""
    names = {t.ident: t.name for t in threading.enumerate()}
    return {
        f"{names.get(ident, '?')} ({ident})": [line.rstrip() for line in traceback.format_stack(frame)]
        for ident, frame in sys._current_frames().items()
    }


class Watchdog:
    def __init__(self, runner: Runner, journal: Journal, stall_s: float, poll_s: float = POLL_S):
        self.runner = runner
        self.journal = journal
        self.stall_s = stall_s
        self.poll_s = min(poll_s, stall_s / 4)
        self.fired = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="watchdog", daemon=True)

    def _pending(self) -> bool:
        return self.runner.stats.in_flight > 0 or self.runner.queue_depth() > 0

    def _progress(self) -> tuple[int, int]:
        return self.runner.stats.done, self.runner.stats.commands

    def _loop(self) -> None:
        last_done, last_change = self._progress(), time.monotonic()
        while not self._done.wait(self.poll_s):
            done, now = self._progress(), time.monotonic()
            if done != last_done or not self._pending():
                last_done, last_change = done, now
            elif now - last_change >= self.stall_s:
                self._fire(now - last_change)
                return

    def _fire(self, stalled_s: float) -> None:
        self.fired = True
        self.journal.append(
            "watchdog",
            stalled_s=round(stalled_s, 3),
            done=self.runner.stats.done,
            commands=self.runner.stats.commands,
            in_flight=self.runner.stats.in_flight,
            stacks=thread_stacks(),
        )
        print(
            f"watchdog: no sandbox command returned for {stalled_s:.0f} s: stacks dumped, stopping",
            file=sys.stderr,
        )
        self.runner.stop()

    def __enter__(self) -> Watchdog:
        if self.stall_s > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()
