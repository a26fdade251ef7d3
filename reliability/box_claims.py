"""One pipeline per box on a host: a run holds a claim on each of its boxes for as long as it runs.

Two pipelines on the same boxes would take each other's executions for their own: IEs, "box busy",
and one run's processes reported as the other's leaks. A claim is an flock on a file per target and
box number under CLAIMS_DIR, so the kernel drops it when the pipeline dies, however it dies; the file
names the holder for the refusal message. Box numbers are keyed by target name only: the built-in
sandbox's box uids (60000+N) are host-wide, whatever the box root.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

from reliability.errors import UsageError

CLAIMS_DIR = "/run/reliability/claims"


@contextmanager
def claimed(target: str, boxes: list[int], run_dir: str) -> Iterator[None]:
    """Hold every box of `boxes` for this pipeline, or raise UsageError naming the pipeline that holds
    one and the setting to change; release them all on exit."""
    directory = os.path.join(CLAIMS_DIR, _safe(target))
    os.makedirs(directory, mode=0o755, exist_ok=True)
    held: list[int] = []
    try:
        for box in sorted(set(boxes)):
            fd = os.open(os.path.join(directory, f"box-{box}"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
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
                    f"box {box} of target {target} is in use by another pipeline (pid {holder.get('pid', '?')}, "
                    f"run {holder.get('run_dir', '?')}): give this run other boxes with --box-base"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"pid": os.getpid(), "run_dir": os.path.abspath(run_dir)}).encode(), 0)
            held.append(fd)
        yield
    finally:
        for fd in held:
            os.close(fd)  # the flock goes with the last fd of the open file


def _holder(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        return {}


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "_"
