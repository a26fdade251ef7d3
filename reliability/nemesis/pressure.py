"""Host pressure with stress-ng: memory (--vm) and CPU (--cpu), bounded in time and size.

The timeout bounds it even if we die; the memory is capped at a share of what is available. Absent
stress-ng, `missing()` says why, and the sub-case is skipped with that reason.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from reliability.nemesis import _proc

MAX_VM_MB = 512
KINDS = ("vm", "cpu")


def missing() -> str:
    return "" if shutil.which("stress-ng") else "stress-ng is not installed (apt-get install stress-ng)"


def available_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    return 0


def command(kind: str, seconds: int, workers: int = 2) -> list[str]:
    if kind not in KINDS:
        raise ValueError(f"pressure kind must be one of {KINDS}, got {kind!r}")
    bounded = ["--timeout", f"{max(1, seconds)}s", "--quiet"]
    if kind == "cpu":
        return ["stress-ng", "--cpu", str(workers), *bounded]
    vm_mb = max(16, min(MAX_VM_MB, available_mb() // 4))
    return ["stress-ng", "--vm", "1", "--vm-bytes", f"{vm_mb}M", *bounded]


@contextmanager
def pressure(kind: str, seconds: int) -> Iterator[tuple[int, list[str]]]:
    """Run stress-ng `kind` for at most `seconds` while inside; yields (pid, argv); its group is killed on exit."""
    why = missing()
    if why:
        raise FileNotFoundError(why)
    argv = command(kind, seconds)
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield proc.pid, argv
    finally:
        _proc.stop(proc, group=True)
