"""One environment variable set for a block, then as before: what subprocesses and forks pass on.
A leaf (no import of the package): the refbox uses it too (pyproject's import contracts)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def setenv(name: str, value: str) -> Iterator[None]:
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved
