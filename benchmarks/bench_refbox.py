"""Refbox speed: a full init+run+cleanup cycle, and a run alone, for a trivial C++ binary.

Direction (not a test): IOI isolate 1.10.1 on a 2-core machine takes about 6-7 ms a run and 13-17 ms a full
cycle. Supervisors come from the fork server, as in the pipeline (refbox/forkserver.py); --no-fork-server
forks them from this process instead, as `reliability box run` does.
Run as root: `python3 benchmarks/bench_refbox.py [--runs 200] [--no-fork-server]`. Writes benchmarks/results/refbox.json.
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

from reliability.refbox import forkserver  # noqa: E402
from reliability.refbox.box import Refbox  # noqa: E402
from reliability.targets.base import Limits  # noqa: E402

LIMITS = Limits(cpu_s=1.0, wall_s=2.0, mem_mb=64, processes=8, output_kb=64)


def _trivial_binary(work: Path) -> str:
    src = work / "true.cpp"
    src.write_text("int main() { return 0; }\n")
    exe = work / "true"
    subprocess.run(["g++", "-O2", "-o", str(exe), str(src)], check=True)
    return str(exe)


def _ms(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "median_ms": round(1000 * statistics.median(ordered), 2),
        "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 2),
        "min_ms": round(1000 * ordered[0], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--box", type=int, default=990)
    parser.add_argument("--no-fork-server", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_refbox: needs root (tmpfs mounts, cgroups)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-refbox-") as work:
        os.chmod(work, 0o755)
        exe = _trivial_binary(Path(work))
        box_root = Path(work) / "boxes"
        box_root.mkdir(mode=0o755)
        refbox = Refbox(box_root=str(box_root), cgroup_name=f"refbox-bench-{os.getpid()}")
        files = {exe: "true"}
        cycles, runs = [], []
        if not args.no_fork_server:
            forkserver.start()
        try:
            for _ in range(args.runs):
                t0 = time.perf_counter()
                refbox.init(args.box)
                result = refbox.run(args.box, ["./true"], LIMITS, files)
                outcome = refbox.cleanup(args.box)
                cycles.append(time.perf_counter() - t0)
                assert result.verdict == "OK" and outcome.ok, (result, outcome)
            refbox.init(args.box)
            for _ in range(args.runs):
                t0 = time.perf_counter()
                result = refbox.run(args.box, ["./true"], LIMITS, files)
                runs.append(time.perf_counter() - t0)
                assert result.verdict == "OK", result
        finally:
            forkserver.stop()
            refbox.cleanup(args.box)
            refbox.recover()  # every box, and the parent cgroups: the benchmark leaves nothing
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, kernel {platform.release()}",
        "runs": args.runs,
        "fork_server": not args.no_fork_server,
        "cycle": _ms(cycles),
        "run_only": _ms(runs),
        "isolate_reference": "isolate 1.10.1, 2 cores: run 6-7 ms, cycle 13-17 ms",
    }
    print(f"{'':<22}{'median':>10}{'p95':>10}{'min':>10}")
    for name in ("cycle", "run_only"):
        r = report[name]
        print(f"{name:<22}{r['median_ms']:>8.2f}ms{r['p95_ms']:>8.2f}ms{r['min_ms']:>8.2f}ms")
    out = Path(__file__).resolve().parent / "results" / "refbox.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
