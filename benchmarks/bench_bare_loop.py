"""The pipeline against a bare loop: what the harness costs on top of the sandbox it drives.

The same built-in sandbox and the same submissions (the OK-only mix of bench_pipeline.py, fast limits),
with the same number of threads, one box each, run two ways:

  bare      each thread loops init -> run -> cleanup on its box, and nothing else;
  pipeline  the real runner: bounded queue, workers, the journal (fsync'd history), stats.

Both use the refbox's fork server (the runner starts it; the bare loop starts it too, so the sandbox is
the same). Throughput ratio = pipeline / bare (goal >= 0.9). CPU is RUSAGE_SELF of this process: the
bare loop's is the sandbox's own in-process work (locks, state, mounts, cgroups); the difference is
the harness's. Run as root: `python3 benchmarks/bench_bare_loop.py [--submissions 150] [--concurrency 2 8]`.
Writes benchmarks/results/bare_loop.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_pipeline import _measure  # noqa: E402

from reliability.refbox import forkserver  # noqa: E402
from reliability.targets.builtin import BuiltinTarget  # noqa: E402
from reliability.workload import generator  # noqa: E402
from reliability.workload.prepare import prepare_programs  # noqa: E402

MIX = {"OK": 100}


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _bare(n: int, concurrency: int, work: Path, prepared) -> dict:
    boxes = work / "boxes-bare"
    boxes.mkdir(mode=0o755)
    target = BuiltinTarget(box_root=str(boxes), cgroup_name=f"refbox-bencha-{os.getpid()}")
    subs = generator.generate(1, n, mix=MIX, ranges=generator.FAST_RANGES)
    wrong = []
    next_sub = iter(subs)
    take = threading.Lock()

    def loop(box: int) -> None:
        while True:
            with take:
                sub = next(next_sub, None)
            if sub is None:
                return
            prep = prepared[sub.program]
            target.init(box)
            result = target.run(box, prep.command, sub.limits, prep.files)
            target.cleanup(box)
            if result.verdict != sub.expected:
                wrong.append(sub.index)

    forkserver.start()
    try:
        threads = [threading.Thread(target=loop, args=(950 + i,)) for i in range(concurrency)]
        cpu0, t0 = _cpu_self(), time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall, cpu = time.monotonic() - t0, _cpu_self() - cpu0
    finally:
        forkserver.stop()
        target.recover()
        target.close()
    return {
        "executions": n,
        "per_minute": round(60 * n / wall, 1),
        "cpu_ms_per_execution": round(1000 * cpu / n, 2),
        "wrong_verdicts": len(wrong),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--submissions", type=int, default=150)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[2, 8])
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_bare_loop: needs root (the built-in sandbox)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-bare-"))
    os.chmod(work, 0o755)
    rows = []
    try:
        prepared = prepare_programs()
        for c in args.concurrency:
            bare_dir, piped_dir = work / f"bare-{c}", work / f"pipeline-{c}"
            bare_dir.mkdir(mode=0o755)
            piped_dir.mkdir(mode=0o755)
            bare = _bare(args.submissions, c, bare_dir, prepared)
            piped = _measure("ok-only", MIX, args.submissions, c, piped_dir, prepared)
            rows.append(
                {
                    "concurrency": c,
                    "bare": bare,
                    "pipeline": {
                        "executions": piped["executions"],
                        "per_minute": piped["per_minute"],
                        "cpu_ms_per_execution": piped["pipeline_cpu_ms_per_execution"],
                        "wrong_verdicts": piped["wrong_verdicts"],
                    },
                    "throughput_ratio": round(piped["per_minute"] / bare["per_minute"], 3),
                    "harness_cpu_ms_per_execution": round(
                        piped["pipeline_cpu_ms_per_execution"] - bare["cpu_ms_per_execution"], 2
                    ),
                }
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"{'threads':>7}{'bare/min':>10}{'pipeline/min':>14}{'ratio':>7}{'bare CPU':>11}{'pipeline CPU':>14}{'harness':>10}"
    )
    for r in rows:
        print(
            f"{r['concurrency']:>7}{r['bare']['per_minute']:>10}{r['pipeline']['per_minute']:>14}"
            f"{r['throughput_ratio']:>7}{r['bare']['cpu_ms_per_execution']:>8} ms"
            f"{r['pipeline']['cpu_ms_per_execution']:>11} ms{r['harness_cpu_ms_per_execution']:>7} ms"
        )
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, kernel {platform.release()}",
        "submissions": args.submissions,
        "mix": "ok-only, fast limits",
        "rows": rows,
    }
    out = Path(__file__).resolve().parent / "results" / "bare_loop.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
