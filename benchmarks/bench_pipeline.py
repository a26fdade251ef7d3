"""Pipeline speed: executions per minute and the pipeline's own CPU per execution.

Two mixes through the real runner, journal and built-in sandbox: the smoke profile's stress mix
(70/20/5/5, where TLE programs dominate the time) and an OK-only mix (where the harness is what is
measured). The pipeline's own CPU is RUSAGE_SELF of this process (every pipeline thread); supervisors and
programs are separate processes and are not counted in it. Run as root:
`python3 benchmarks/bench_pipeline.py [--submissions 200] [--concurrency 2]`.
Writes benchmarks/results/pipeline.json.
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
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reliability.history import Journal  # noqa: E402
from reliability.runner import Runner  # noqa: E402
from reliability.targets.base import Target  # noqa: E402
from reliability.targets.builtin import BuiltinTarget  # noqa: E402
from reliability.workload import generator  # noqa: E402
from reliability.workload.prepare import prepare_programs  # noqa: E402


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _measure(
    name: str, mix: dict, n: int, concurrency: int, work: Path, prepared, target: Target | None = None
) -> dict:
    """The runner over `n` submissions of `mix` on `target` (default: a built-in sandbox of its own)."""
    if target is None:
        boxes = work / f"boxes-{name}"
        boxes.mkdir(mode=0o755)
        target = BuiltinTarget(box_root=str(boxes), cgroup_name=f"refbox-benchp-{os.getpid()}")
    subs = generator.generate(1, n, mix=mix, ranges=generator.FAST_RANGES)
    journal = Journal(work / f"{name}.jsonl")
    journal.append(
        "stage_start",
        stage="stress",
        profile="bench",
        seed=1,
        target=target.name,
        target_version=target.version(),
        host=platform.node(),
        pipeline_version="bench",
        pipeline_pid=os.getpid(),
        owned=target.owned().to_dict(),
        capabilities=[],
        config={},
    )
    runner = Runner(target, journal, [900 + i for i in range(concurrency)], prepared)
    cpu0, t0 = _cpu_self(), time.monotonic()
    fed = runner.run(iter(subs), keep_going=lambda k: k < n)
    wall, cpu = time.monotonic() - t0, _cpu_self() - cpu0
    journal.close()
    target.recover()
    wrong = runner.stats.wrong
    return {
        "mix": name,
        "executions": fed,
        "per_minute": round(60 * fed / wall, 1),
        "pipeline_cpu_ms_per_execution": round(1000 * cpu / fed, 2),
        "wrong_verdicts": wrong,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_pipeline: needs root (the built-in sandbox)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    os.chmod(work, 0o755)
    try:
        prepared = prepare_programs()
        rows = [
            _measure("ok-only", {"OK": 100}, args.submissions, args.concurrency, work, prepared),
            _measure(
                "smoke-70-20-5-5", generator.DEFAULT_MIX, args.submissions, args.concurrency, work, prepared
            ),
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'mix':<18}{'executions':>11}{'per minute':>12}{'pipeline CPU/exec':>19}")
    for r in rows:
        print(
            f"{r['mix']:<18}{r['executions']:>11}{r['per_minute']:>12}"
            f"{r['pipeline_cpu_ms_per_execution']:>16} ms"
        )
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, kernel {platform.release()}",
        "concurrency": args.concurrency,
        "rows": rows,
    }
    out = Path(__file__).resolve().parent / "results" / "pipeline.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
