"""Failpoints from REFBOX_FAILPOINTS, e.g. "cleanup.reap=error,phase.cleanup=pause,defect.leak_fd".

Only for failures that cannot be caused from outside the refbox: a reap or an fd close that fails, a
supervisor held at a phase so a test can kill it there, a supervisor slower by a fixed delay at a phase
(`phase.setup=delay:200`, milliseconds: a slowdown the comparison with a baseline must catch, which load
from outside would blur). Everything else is caused for real by the tests.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

from reliability.environ import setenv

ENV = "REFBOX_FAILPOINTS"
ACTIONS = ("error", "pause")
DELAY = "delay:"  # delay:MS, a whole number of milliseconds up to MAX_DELAY_MS
MAX_DELAY_MS = 60_000
# The "defective" mode (refbox/defects.py): a bare defect.<name> switches a deliberate bug on, so the
# defect matrix can show each check failing on the bug it is for (docs/defect-matrix.md).
DEFECTS = (
    "leak_process",
    "leave_mount",
    "leave_cgroup",
    "leak_fd",
    "leave_tempdir",
    "leave_zombie",
    "wrong_verdict",
    "skip_lock",
    "ignore_stale_lock",
    "corrupt_state",
    "claim_cleanup_success",
    "trust_state",
    "keep_orphans",
    "allow_namespaces",
)


class FailpointError(Exception):
    """Raised where a failpoint set to "error" is hit."""


def parse(text: str) -> dict[str, str]:
    """{"cleanup.reap": "error", ...}; raises ValueError naming a malformed entry."""
    points: dict[str, str] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        name, sep, action = entry.partition("=")
        if not sep and name.removeprefix("defect.") in DEFECTS:
            points[name] = "on"
            continue
        if not sep or not name or (action not in ACTIONS and _delay_ms(action) is None):
            raise ValueError(
                f"{ENV}: bad entry {entry!r} (want NAME=error, NAME=pause, NAME=delay:MS"
                f" with MS from 0 to {MAX_DELAY_MS}, or defect.NAME)"
            )
        points[name] = action
    return points


# (env text, parsed): parsed once per value of the variable, not on every call (defect() alone is asked
# a dozen times per execution). Keyed by the text, so a test that changes os.environ is seen at once.
# One tuple swapped whole: threads read it without a lock. A malformed value is not cached (it raises).
_parsed: tuple[str, dict[str, str]] = ("", {})


def active() -> dict[str, str]:
    """The failpoints set now: the variable is read on each call, parsed only when its text changed.

    The dict is shared between callers: read it, never change it."""
    text = os.environ.get(ENV, "")
    cached = _parsed
    if cached[0] == text:
        return cached[1]
    return _parse_and_cache(text)


def _parse_and_cache(text: str) -> dict[str, str]:
    global _parsed
    points = parse(text)
    _parsed = (text, points)
    return points


def _delay_ms(action: str) -> int | None:
    digits = action.removeprefix(DELAY)
    if action == digits or not digits.isdigit() or int(digits) > MAX_DELAY_MS:
        return None
    return int(digits)


def hit(name: str, points: dict[str, str] | None = None) -> None:
    """Act on failpoint `name` if set: raise for "error", wait until killed for "pause", sleep for
    "delay:MS".

    Safe after fork: no locks, only signal.pause() and time.sleep()."""
    action = (active() if points is None else points).get(name)
    if action is None:
        return
    if action == "error":
        raise FailpointError(f"failpoint {name}")
    if action == "pause":
        while True:
            signal.pause()
    delay = _delay_ms(action)
    if delay is not None:
        time.sleep(delay / 1000)


def defect(name: str) -> bool:
    """True when defect.<name> is switched on (never in normal use)."""
    return f"defect.{name}" in active()


@contextmanager
def added(point: str) -> Iterator[None]:
    """`point` (e.g. "cleanup.reap=error") active in this process for the block, then as before.

    The environment is the process's: only for stages that run one worker at a time.
    """
    with setenv(ENV, ",".join(filter(None, [os.environ.get(ENV), point]))):
        yield
