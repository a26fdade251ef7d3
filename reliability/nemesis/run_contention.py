"""Run-level contention: a box initialised once, then many workers `run` in it at the same time.

Judges init a box once and run in it many times (compile, then each test), so a sandbox must keep two
runs out of one initialised box, not only two inits (isolate 1.x refuses a second --init, but two
--run in one box both go ahead). This records raw facts only; checks/locks.py judges them: each run's
window, verdict, marker output and how often it was refused before it got its turn.
"""

from __future__ import annotations

import threading
import time

from reliability.runner import Prepared
from reliability.targets.base import Limits, Target, TargetError

LABEL = "runs in one initialised box"
WORKERS = 4
RUNS_EACH = 2
WAIT_S = 60.0  # a refused run is tried again until this (its turn may come after every other run)
RETRY_S = 0.1
LIMITS = Limits(cpu_s=2.0, wall_s=10.0, mem_mb=128, processes=8, output_kb=64)  # as the stage's runs


def run_contention(target: Target, box: int, prepared: Prepared, limits: Limits = LIMITS) -> dict:
    """Init `box` once, then WORKERS threads run the marker RUNS_EACH times each, all at once."""
    try:
        target.init(box)
    except TargetError as e:
        return {"skipped": f"init of box {box} failed, so nothing could run in it: {e}"}
    runs: list[dict] = []
    lock = threading.Lock()
    start = threading.Barrier(WORKERS)
    stop = threading.Event()  # the pipeline was interrupted: no contender starts another run

    def worker(w: int) -> None:
        start.wait()
        for n in range(RUNS_EACH):
            refusals, deadline = [], time.monotonic() + WAIT_S
            while True:
                if stop.is_set():
                    return
                began = time.time()
                result = target.run(box, prepared.command, limits, prepared.files)
                ended = time.time()
                if result.verdict != "IE" or time.monotonic() > deadline:
                    break
                refusals.append(result.message[:200])
                stop.wait(RETRY_S)
            with lock:
                runs.append(
                    {
                        "worker": w,
                        "run": n,
                        "started": began,
                        "ended": ended,
                        "verdict": result.verdict,
                        "message": result.message[:300],
                        "stdout": result.stdout[:300],
                        "wall_s": result.wall_s,
                        "refusals": len(refusals),
                        "refused_because": sorted(set(refusals))[:3],
                    }
                )

    # Daemons, stopped on an interrupt: a second Ctrl-C must not leave the process waiting for them, nor
    # let them run in a box the abort has just recovered.
    threads = [
        threading.Thread(target=worker, args=(w,), name=f"run-contender-{w}", daemon=True)
        for w in range(WORKERS)
    ]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
    except BaseException:
        stop.set()
        raise
    outcome = target.cleanup(box)
    return {
        "box": box,
        "workers": WORKERS,
        "runs": sorted(runs, key=lambda r: r["started"]),
        "cleanup": outcome.to_dict(),
    }
