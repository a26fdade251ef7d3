"""The fd limit: RLIMIT_NOFILE lowered on the processes we start, and a helper holding many fds.

`lowered_nofile` lowers this process's soft limit while inside, so every process started meanwhile
(the refbox supervisor is forked from us; a CLI target is spawned by us) inherits it. Only the soft limit
changes, with headroom over what we hold, so the pipeline itself keeps working; it is restored on exit.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from contextlib import contextmanager

from reliability.nemesis import _proc

HOLD_MANY = """
import os, signal, sys
fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(int(sys.argv[1]))]
print("ready", flush=True)
signal.pause()
"""


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@contextmanager
def lowered_nofile(headroom: int) -> Iterator[int]:
    """Soft RLIMIT_NOFILE = fds open now + `headroom`; yields the limit set."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = min(open_fds() + headroom, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    try:
        yield limit
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@contextmanager
def many_fds(count: int) -> Iterator[int]:
    """A helper process holding `count` open fds; yields its pid."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = count + 16

    def raise_limit() -> None:  # in the child only: the helper needs more than a default soft limit
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))

    proc = _proc.start_python(HOLD_MANY, str(min(count, hard - 16)), preexec_fn=raise_limit)
    try:
        yield proc.pid
    finally:
        _proc.stop(proc)
