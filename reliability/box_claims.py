"""One pipeline per box on a host: a run holds a claim on each of its boxes for as long as it runs.

Two pipelines on the same boxes would take each other's executions for their own: IEs, "box busy",
and one run's processes reported as the other's leaks. A claim is an flock on a file per target and
box number under CLAIMS_DIR, so the kernel drops it when the pipeline dies, however it dies; the file
names the holder for the refusal message. Box numbers are keyed by target name only: the built-in
sandbox's box uids (60000+N) are host-wide, whatever the box root.

The target's roots (its box root and cgroup roots) are claimed too: two pipelines on other boxes of
one box root or cgroup would see each other's box directories and cgroups appear and vanish, and take
them for their own leaks. So a second pipeline needs roots of its own, or must wait.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

from reliability.errors import UsageError

CLAIMS_DIR = "/run/reliability/claims"


@contextmanager
def claimed(target: str, boxes: list[int], run_dir: str, roots: list[str] = ()) -> Iterator[None]:
    """Hold every box of `boxes` and every root of `roots` for this pipeline, or raise UsageError
    naming the pipeline that holds one and the setting to change; release them all on exit."""
    directory = os.path.join(CLAIMS_DIR, _safe(target))
    os.makedirs(directory, mode=0o755, exist_ok=True)
    held: list[int] = []
    try:
        for box in sorted(set(boxes)):
            held.append(
                _claim(
                    os.path.join(directory, f"box-{box}"),
                    run_dir,
                    f"box {box} of target {target}",
                    "give this run other boxes with --box-base",
                )
            )
        for root in sorted(set(r.rstrip("/") for r in roots if r)):
            key = hashlib.sha256(root.encode()).hexdigest()[:16]
            held.append(
                _claim(
                    os.path.join(directory, f"root-{key}"),
                    run_dir,
                    f"{root} (a root of target {target})",
                    "its boxes would show as this run's leaks: give this run a box root and cgroup of its "
                    "own (--target-option), or wait for it",
                )
            )
        yield
    finally:
        for fd in held:
            os.close(fd)  # the flock goes with the last fd of the open file


def _claim(path: str, run_dir: str, what: str, remedy: str) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        if holder.get("run_dir") == os.path.abspath(run_dir):
            raise UsageError(
                f"run {run_dir} is still going (pipeline pid {holder.get('pid')}): stop it first"
            ) from None
        raise UsageError(
            f"{what} is in use by another pipeline (pid {holder.get('pid', '?')}, "
            f"run {holder.get('run_dir', '?')}): {remedy}"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "run_dir": os.path.abspath(run_dir)}).encode(), 0)
    return fd


def _holder(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        return {}


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "_"
