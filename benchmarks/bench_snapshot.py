"""How long a host snapshot takes as the number of processes grows.

Starts N sleeping processes of its own for each size, times snapshot() (and, for comparison, a
psutil scan of the same process fields), kills its processes, prints a table and writes
benchmarks/results/snapshot.json.

    python3 benchmarks/bench_snapshot.py [--sizes 0,100,250,500,1000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402

from reliability.probes import snapshot  # noqa: E402
from reliability.targets.base import Owned  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "snapshot.json"


def psutil_scan() -> int:
    """The process part of a snapshot done with psutil, to justify reading /proc directly."""
    n = 0
    for p in psutil.process_iter(["pid", "ppid", "uids", "name", "create_time", "status"]):
        try:
            p.info["cgroups"] = Path(f"/proc/{p.pid}/cgroup").read_text().splitlines()
        except (FileNotFoundError, ProcessLookupError):
            continue
        n += 1
    return n


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,100,250,500,1000", help="extra sleeping processes per row")
    parser.add_argument("--repeat", type=int, default=20, help="snapshots per row (the median is kept)")
    args = parser.parse_args()
    try:
        sizes = sorted({int(s) for s in args.sizes.split(",")})
    except ValueError:
        parser.error(f"--sizes must be comma-separated integers, not {args.sizes!r}")

    with tempfile.TemporaryDirectory(prefix=f"bench-snapshot-{os.getpid()}-") as tmp:
        owned = Owned(box_root=tmp, temp_roots=[tmp])
        me = os.getpid()
        rows = []
        sleepers: list[subprocess.Popen] = []
        try:
            for size in sizes:
                while len(sleepers) < size:
                    sleepers.append(subprocess.Popen(["sleep", "600"]))
                snap = snapshot(owned, me)
                rows.append(
                    {
                        "extra_processes": size,
                        "processes_on_host": len(snap["processes"]),
                        "cgroups_on_host": len(snap["cgroups"]),
                        "snapshot_ms": round(median_ms(lambda: snapshot(owned, me), args.repeat), 2),
                        "psutil_processes_ms": round(median_ms(psutil_scan, args.repeat), 2),
                        "snapshot_json_kb": round(len(json.dumps(snap)) / 1024, 1),
                    }
                )
        finally:
            for p in sleepers:
                p.kill()
            for p in sleepers:
                p.wait()

    header = f"{'processes on host':>18} {'snapshot ms':>12} {'psutil (procs only) ms':>23} {'JSON KiB':>9}"
    print(header)
    for r in rows:
        print(
            f"{r['processes_on_host']:>18} {r['snapshot_ms']:>12.2f} {r['psutil_processes_ms']:>23.2f}"
            f" {r['snapshot_json_kb']:>9.1f}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    machine = {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()}
    RESULTS.write_text(json.dumps({"machine": machine, "repeat": args.repeat, "rows": rows}, indent=2) + "\n")
    print(f"written {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
