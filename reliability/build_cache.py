"""Where compiled things are cached (the workload's programs, the refbox's C init): one directory for
both, set by RELIABILITY_BUILD_CACHE. A leaf: the refbox may import it (pyproject's import contracts)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

CACHE_ENV = "RELIABILITY_BUILD_CACHE"
DEFAULT_CACHE_DIR = Path("~/.cache/reliability/build")


def cache_dir_default() -> Path:
    """RELIABILITY_BUILD_CACHE if set (an operator's choice: used as it is, its errors reported);
    else under $XDG_CACHE_HOME or ~/.cache; else, when that cannot be written (a service user whose
    home is not its own, or is read-only), a directory of this user's own under the temp dir, so a
    run that cannot cache in the home still builds instead of skipping every compiled program."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    home = Path(xdg) / "reliability" / "build" if xdg else DEFAULT_CACHE_DIR.expanduser()
    if _can_create(home):
        return home
    own = Path(tempfile.gettempdir()) / f"reliability-build-{os.getuid()}"
    try:
        own.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        return home
    st = own.lstat()
    # Someone else's directory (or a link) under a shared /tmp must not receive our binaries.
    return own if st.st_uid == os.getuid() and not own.is_symlink() else home


def _can_create(path: Path) -> bool:
    """`path` exists and is writable, or its nearest existing ancestor is."""
    for p in (path, *path.parents):
        if os.path.exists(p):  # False, not an error, under a directory we may not search
            return os.path.isdir(p) and os.access(p, os.W_OK | os.X_OK)
    return False
