"""The bounds of every number an operator can give, and the one check that enforces them.

A number outside its bound is bad input (one line, exit code 2) before anything runs: NaN or infinity
would never end a run, a huge count would run for years, and a concurrency the host cannot hold dies
half-way through starting its threads.
"""

from __future__ import annotations

import math
import resource

from reliability.errors import UsageError

MAX_DURATION_S = 31 * 24 * 3600  # a month: the plan's longest run (soak) is 7 days
MAX_SUBMISSIONS = 10_000_000  # the soak is 168,000
MAX_ITERATIONS = 1_000_000  # release leaks: 1000
MAX_CONCURRENCY = 1000  # one thread and one box per worker; the built-in sandbox has 1000 boxes
MAX_BOX_NUMBER = 1_000_000  # any target; its own last box is checked once it is loaded
MAX_SEED = 2**63 - 1
MAX_PORT = 65535


def check(flag: str, value, low, high):
    """`value`, if it is a finite number from `low` to `high`; else a UsageError naming the bound."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UsageError(f"{flag} must be a finite number from {_show(low)} to {_show(high)}, got {value}")
    if not low <= value <= high:
        raise UsageError(f"{flag} must be from {_show(low)} to {_show(high)}, got {_show(value)}")
    return value


def _show(number) -> str:
    return str(number) if isinstance(number, int) else f"{number:g}"


def max_concurrency() -> int:
    """Worker threads this process may start: MAX_CONCURRENCY, or fewer if RLIMIT_NPROC says so
    (threads count against it; leave room for the fork server, supervisors and programs)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONCURRENCY
    return max(1, min(MAX_CONCURRENCY, soft // 2))
