"""The pipeline's RSS over many executions (issue 5, goal: growth < 10 MB over 10,000 executions).

Drives the real runner, journal and refbox (in process, like `reliability run`) with a trivial C++
program, and reads this process's RSS every --every executions. Growth is measured from the first
sample after warm-up (imports, thread stacks, caches) to the last. Prints a table and writes
benchmarks/results/rss.json.

    python3 benchmarks/bench_rss.py [--executions 10000] [--concurrency 4] [--every 500] [--box-base 700]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reliability.history import Journal  # noqa: E402
from reliability.probes.own import own_fds, own_rss_kb  # noqa: E402
from reliability.runner import Runner  # noqa: E402
from reliability.targets.base import Limits  # noqa: E402
from reliability.targets.builtin import BuiltinTarget  # noqa: E402
from reliability.workload.prepare import prepare_programs  # noqa: E402
from reliability.workload.submission import Submission  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "rss.json"
PROGRAM = "cpp/ok_sum"
GOAL_MB = 10.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--executions", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--every", type=int, default=500, help="sample RSS every this many executions")
    ap.add_argument("--box-base", type=int, default=700)
    args = ap.parse_args()
    if (
        args.executions < 2 * args.every
        or args.every < 1
        or not 0 <= args.box_base <= 1000 - args.concurrency
    ):
        print(
            "bench_rss: error: need --executions >= 2 * --every >= 2 and boxes within 0-999", file=sys.stderr
        )
        return 2
    prepared = prepare_programs([PROGRAM])
    if isinstance(prepared[PROGRAM], str):
        print(f"bench_rss: error: {PROGRAM} cannot run: {prepared[PROGRAM]}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix=f"bench-rss-{os.getpid()}-"))
    target = BuiltinTarget(box_root=str(work / "boxes"), cgroup_name=f"bench-rss-{os.getpid()}")
    limits = Limits(cpu_s=2.0, wall_s=10.0, mem_mb=96, processes=32, output_kb=64)
    rows: list[dict] = []
    try:
        journal = Journal(work / "history.jsonl")
        runner = Runner(target, journal, [args.box_base + i for i in range(args.concurrency)], prepared)

        subs = (Submission(i, PROGRAM, "cpp", "OK", "normal", limits) for i in range(args.executions))
        started = time.monotonic()

        def keep_going(fed: int) -> bool:
            if fed % args.every == 0:
                rows.append({"fed": fed, "done": runner.stats.done, "rss_kb": own_rss_kb(), "fds": own_fds()})
            return fed < args.executions

        runner.run(subs, keep_going)
        rows.append(
            {"fed": args.executions, "done": runner.stats.done, "rss_kb": own_rss_kb(), "fds": own_fds()}
        )
        elapsed = time.monotonic() - started
        journal.close()
    finally:
        target.recover()
        for d in target.refbox.cgroup_roots():
            if os.path.isdir(d):
                os.rmdir(d)
        shutil.rmtree(work, ignore_errors=True)
    warm = rows[1]  # after the first --every executions: imports and caches are in
    growth_mb = (rows[-1]["rss_kb"] - warm["rss_kb"]) / 1024
    print(f"{'executions':>10} {'RSS MB':>8} {'fds':>5}")
    for r in rows:
        print(f"{r['done']:>10} {r['rss_kb'] / 1024:>8.1f} {r['fds']:>5}")
    verdict = "met" if growth_mb < GOAL_MB else "NOT met"
    print(
        f"growth after warm-up: {growth_mb:+.1f} MB over {args.executions - warm['fed']} executions "
        f"(goal < {GOAL_MB:g} MB per 10,000: {verdict}); {elapsed:.0f} s, {60 * args.executions / elapsed:.0f}/min"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}",
        "executions": args.executions, "concurrency": args.concurrency, "seconds": round(elapsed, 1),
        "growth_mb": round(growth_mb, 2), "goal_mb": GOAL_MB, "samples": rows,
    }, indent=2) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
