"""Where compiled things are cached (the workload's programs, the refbox's C init): one directory for
both, set by RELIABILITY_BUILD_CACHE. A leaf: the refbox may import it (pyproject's import contracts)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "RELIABILITY_BUILD_CACHE"
DEFAULT_CACHE_DIR = Path("~/.cache/reliability/build")


def cache_dir_default() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR).expanduser()
