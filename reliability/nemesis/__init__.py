"""The nemesis: faults caused from outside a target, one module per kind.

Each fault is a context manager that undoes itself in a finally block, also when the stage is
interrupted (KeyboardInterrupt is a BaseException: finally still runs). `recorded` journals a fault's
start and end, so the checks can tell which executions ran under it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from reliability.history import Journal


@contextmanager
def recorded(journal: Journal | None, kind: str, detail: str) -> Iterator[dict]:
    """Journal a "fault" start event, then an end event once the body is left (however it is left).

    The yielded dict's "detail" may be updated by the body: the end event carries what was measured."""
    info = {"detail": detail}
    if journal is not None:
        journal.append("fault", kind=kind, phase="start", detail=detail)
    try:
        yield info
    finally:
        if journal is not None:
            journal.append("fault", kind=kind, phase="end", detail=info["detail"])
