"""How long reading (parsing and schema-validating) a history of 10,000 runs takes.

Writes a history as the runner records a stress run (stage_start, then per run: submission, result,
cleanup with its six steps; a stage_end), reads it back with reliability.history.read() a few times,
prints the median and writes benchmarks/results/history_read.json.

    python3 benchmarks/bench_history_read.py [--runs 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reliability.history import Journal, read  # noqa: E402
from reliability.sandbox_values import CleanupOutcome, Limits, Owned, Result  # noqa: E402
from reliability.workload.submission import Submission  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "history_read.json"
LIMITS = Limits(cpu_s=1.0, wall_s=2.0, mem_mb=128, processes=8, output_kb=1024)
STEPS = ("kill", "reap", "unmount", "remove cgroup", "close fds", "remove temp dirs")


def write_history(path: Path, runs: int) -> int:
    """A stress-like history of `runs` executions; returns its size in bytes."""
    with Journal(path) as journal:
        owned = Owned(box_root="/var/lib/reliability/boxes", cgroup_roots=["/sys/fs/cgroup/refbox"])
        journal.append(
            "stage_start",
            stage="stress",
            profile="release",
            seed=42,
            target="builtin",
            target_version="bench",
            host="bench",
            pipeline_version="0.1.0",
            pipeline_pid=os.getpid(),
            owned=owned.to_dict(),
            capabilities=["locks"],
            config={"submissions": runs},
        )
        for i in range(runs):
            box = i % 4
            sub = Submission(i, "cpp/ok_sum", "cpp", "OK", "normal", LIMITS, box=box)
            journal.append_unsynced("submission", submission=sub.to_dict())
            res = Result(verdict="OK", cpu_s=0.01, wall_s=0.02, peak_mem_kb=2048, exit_code=0, stdout="42\n")
            journal.append_unsynced(
                "result", index=i, box=box, result=res.to_dict(), started=1.0, ended=1.1, stdout_ok=True
            )
            steps = [{"name": s, "ok": True, "error": ""} for s in STEPS]
            outcome = CleanupOutcome(ok=True, steps=steps)
            journal.append_unsynced("cleanup", index=i, box=box, outcome=outcome.to_dict())
        journal.append("stage_end", executions=runs, interrupted=False, duration_s=3600.0)
    return path.stat().st_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000, help="executions in the history")
    parser.add_argument("--repeat", type=int, default=5, help="reads timed (the median is kept)")
    args = parser.parse_args()
    if args.runs < 1 or args.repeat < 1:
        parser.error("--runs and --repeat must be positive")
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        path = Path(tmp) / "history.jsonl"
        size = write_history(path, args.runs)
        times, events = [], 0
        for _ in range(args.repeat):
            start = time.perf_counter()
            events = len(read(path).events)
            times.append(time.perf_counter() - start)
    row = {
        "runs": args.runs,
        "events": events,
        "history_mb": round(size / 1e6, 1),
        "read_s": round(statistics.median(times), 3),
        "us_per_event": round(statistics.median(times) / events * 1e6, 1),
    }
    print(f"{row['runs']} runs, {row['events']} events, {row['history_mb']} MB: read in {row['read_s']} s")
    print(f"({row['us_per_event']} us per event, median of {args.repeat})")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    machine = {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()}
    RESULTS.write_text(json.dumps({"machine": machine, "repeat": args.repeat, "row": row}, indent=2) + "\n")
    print(f"written {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
