"""The pipeline against a bare loop: what the harness costs on top of the sandbox it drives.

The same sandbox and the same submissions (the OK-only mix of bench_pipeline.py, fast limits), with the
same number of threads, one box each, run two ways:

  bare      each thread loops init -> run -> cleanup on its box, and nothing else;
  pipeline  the real runner: bounded queue, workers, the journal (fsync'd history), stats.

Two sandboxes: the built-in one, and a described one driven through its command line (targets/command.py):
IOI isolate where it is on PATH, else the built-in sandbox behind a shell script (benchmarks/targets/,
the worked example of docs/targets.md). The described one measures the harness on a real external
sandbox, where every call is a process. Both loops start and stop the target as the runner does.
Throughput ratio = pipeline / bare (goal >= 0.9). CPU is RUSAGE_SELF of this process: the bare loop's is
the sandbox's own in-process work (locks, state, mounts, cgroups; for a described target, starting its
commands and reading their output); the difference is the harness's. Run as root:
`python3 benchmarks/bench_bare_loop.py [--submissions 150] [--concurrency 2 8] [--target auto|builtin|isolate|FILE.yml]`.
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
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_pipeline import _measure  # noqa: E402

from reliability.targets import load  # noqa: E402
from reliability.targets.base import Target  # noqa: E402
from reliability.targets.builtin import BuiltinTarget  # noqa: E402
from reliability.targets.capabilities import HasLifecycle, capability  # noqa: E402
from reliability.workload import generator  # noqa: E402
from reliability.workload.prepare import prepare_programs  # noqa: E402

MIX = {"OK": 100}
FIRST_BOX = 920  # the bare loop's boxes; the runner's start at 900 (bench_pipeline.py)
REPO = Path(__file__).resolve().parent.parent
SCRIPT_DIR = REPO / "benchmarks" / "targets"


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _bare(n: int, concurrency: int, target: Target, prepared) -> dict:
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

    life = capability(target, HasLifecycle)  # as the runner does (the fork server, where one is used)
    if life:
        life.start()
    try:
        threads = [threading.Thread(target=loop, args=(FIRST_BOX + i,)) for i in range(concurrency)]
        cpu0, t0 = _cpu_self(), time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall, cpu = time.monotonic() - t0, _cpu_self() - cpu0
    finally:
        if life:
            life.stop()
        target.recover()
        target.close()
    return {
        "executions": n,
        "per_minute": round(60 * n / wall, 1),
        "cpu_ms_per_execution": round(1000 * cpu / n, 2),
        "wrong_verdicts": len(wrong),
    }


def _targets(choice: str, work: Path) -> dict[str, Callable[[], Target]]:
    """name -> a maker of a fresh target of that name, for the bare loop and the pipeline each."""
    pid = os.getpid()

    def builtin() -> Target:
        boxes = Path(tempfile.mkdtemp(prefix="boxes-", dir=work))
        os.chmod(boxes, 0o755)
        return BuiltinTarget(box_root=str(boxes), cgroup_name=f"refbox-bencha-{pid}")

    def script() -> Target:
        boxes = Path(tempfile.mkdtemp(prefix="boxes-script-", dir=work))
        os.chmod(boxes, 0o755)
        options = {
            "root": str(boxes),
            "cgroup_name": f"refbox-script-{pid}",
            "script": str(SCRIPT_DIR / "box.sh"),
        }
        return load(str(SCRIPT_DIR / "refbox-script.yml"), options)

    if choice == "auto":
        choice = "isolate" if shutil.which("isolate") else "refbox-script"
    described = {"isolate": lambda: load("isolate"), "refbox-script": script}.get(choice)
    if choice == "builtin":
        return {"builtin": builtin}
    return {"builtin": builtin, choice: described or (lambda: load(choice))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--submissions", type=int, default=150)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[2, 8])
    parser.add_argument("--target", default="auto", help="the described target: auto (isolate if on PATH)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_bare_loop: needs root (the built-in sandbox)", file=sys.stderr)
        return 2
    # The script target runs `python -m reliability` from this checkout.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    os.environ.setdefault("PYTHON", sys.executable)
    work = Path(tempfile.mkdtemp(prefix="bench-bare-"))
    os.chmod(work, 0o755)
    rows = []
    try:
        prepared = prepare_programs()
        for name, make in _targets(args.target, work).items():
            for c in args.concurrency:
                bare = _bare(args.submissions, c, make(), prepared)
                piped_dir = Path(tempfile.mkdtemp(prefix="pipeline-", dir=work))
                piped = _measure("ok-only", MIX, args.submissions, c, piped_dir, prepared, make())
                rows.append(
                    {
                        "target": name,
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
        f"{'target':<15}{'threads':>7}{'bare/min':>10}{'pipeline/min':>14}{'ratio':>7}{'bare CPU':>11}{'pipeline CPU':>14}{'harness':>10}"
    )
    for r in rows:
        print(
            f"{r['target']:<15}{r['concurrency']:>7}{r['bare']['per_minute']:>10}{r['pipeline']['per_minute']:>14}"
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
