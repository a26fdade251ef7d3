"""Build the C supervisor and init (boxsup.c, which includes boxinit.c), and the client of the resident
server (boxclient.c), on first use and cache the binaries, like the workload build cache
(workload/build.py).

Compiled with the C compiler the C++ workload already needs, into the build cache's directory, keyed by
source, compiler (its file) and flags; built in a temporary file and renamed into place, so a reader sees
a whole binary or none. It runs as root, so an entry not owned by us or writable by others is never
used (it is built again). Without a compiler, or if the build fails, `path()` is None and the refbox
runs the Python supervisor and init: the same jail, slower (tests run both).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from reliability.build_cache import cache_dir_default

SOURCE = Path(__file__).with_name("boxsup.c")
SOURCES = (SOURCE, SOURCE.with_name("boxinit.c"))  # what the binary is built from, all of it hashed
CLIENT_SOURCE = SOURCE.with_name("boxclient.c")
CFLAGS = ("-O2", "-Wall")
# Static where the C library's archive is installed (libc6-dev, which gcc pulls in): no dynamic loader
# at each spawn, measured at 0.5 ms less CPU per run; else linked as usual.
STATIC = "-static"
_FORMAT = "2"  # bump when the command-line protocol changes without a source change
_COMPILE_TIMEOUT_S = 120


@functools.cache
def path() -> str | None:
    """The cached boxinit binary, built now if needed; None when it cannot be built here."""
    return _cached(SOURCES, "boxinit")


@functools.cache
def client_path() -> str | None:
    """The cached boxclient binary (refbox/server.py), built now if needed; None when it cannot be."""
    return _cached((CLIENT_SOURCE,), "boxclient")


def _cached(files: tuple[Path, ...], name: str) -> str | None:
    try:
        return str(_build(cache_dir_default() / "boxinit", files, name))
    except (OSError, subprocess.SubprocessError):
        return None


def _compiler() -> str:
    for name in ("gcc", "cc"):
        found = shutil.which(name)
        if found:
            return found
    raise FileNotFoundError("no C compiler (gcc) on PATH")


def _build(cache: Path, files: tuple[Path, ...] = SOURCES, name: str = "boxinit") -> Path:
    """The binary built from `files` (the first is compiled; it includes the others) as `name`."""
    compiler = _compiler()
    sources = [p.read_bytes() for p in files]
    # The compiler's identity by its file, not by running `gcc --version`: every `reliability box run`
    # is a new process that looks the binary up, and a subprocess there cost more than the lookup.
    real = os.path.realpath(compiler)
    st = os.stat(real)
    version = f"{real} {st.st_size} {st.st_mtime_ns}"
    digest = hashlib.sha256()
    for part in (_FORMAT, version, " ".join((*CFLAGS, STATIC))):
        digest.update(part.encode() + b"\0")
    for source in sources:
        digest.update(source + b"\0")
    entry = cache / f"{name}-{digest.hexdigest()[:32]}"
    if _trusted(entry):
        return entry
    cache.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", dir=cache)
    os.close(fd)
    try:
        for flags in ((*CFLAGS, STATIC), CFLAGS):
            done = subprocess.run(
                [compiler, *flags, "-o", tmp, str(files[0])], capture_output=True, timeout=_COMPILE_TIMEOUT_S
            )
            if done.returncode == 0:
                break
        done.check_returncode()
        os.chmod(tmp, 0o755)
        os.rename(tmp, entry)  # a reader sees the whole binary or none
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if not _trusted(entry):
        raise PermissionError(f"{entry} is not ours alone")
    return entry


def _trusted(entry: Path) -> bool:
    """Owned by us, in a directory owned by us, neither writable by anyone else: safe to run as root."""
    try:
        for st in (os.stat(entry.parent), os.lstat(entry)):
            if st.st_uid != os.geteuid() or st.st_mode & 0o022:
                return False
    except FileNotFoundError:
        return False
    return True
