"""Refbox speed against IOI isolate: a full init+run+cleanup cycle, and a run alone, of a trivial C++ binary.

Both sandboxes are driven the way a judge drives them, measured interleaved in one run (refbox, then
isolate, then refbox, ...), so a machine shared with other work slows both alike and the ratio holds:
  refbox   in process, supervisors from its fork server, as the pipeline drives it (refbox/forkserver.py);
           --no-fork-server forks them from this process instead, as `reliability box run` does;
  isolate  by subprocess, as the pipeline's isolate target drives it: `isolate --cg -b N --init`, the
           binary copied into the box, `--run` with the same limits and a meta file, `--cleanup`.
A run alone copies the binary in too (the refbox's run does, from its `files`), in a box initialised once.
Without isolate on PATH the recorded figure is printed with its source instead (ISOLATE_RECORDED).
Run as root: `python3 benchmarks/bench_refbox.py [--runs 200] [--box 900] [--isolate-box 901]`.
Writes benchmarks/results/refbox.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reliability.refbox import boxinit_build, forkserver  # noqa: E402
from reliability.refbox.box import Refbox  # noqa: E402
from reliability.targets.base import Limits  # noqa: E402

LIMITS = Limits(cpu_s=1.0, wall_s=2.0, mem_mb=64, processes=8, output_kb=64)
# The last interleaved measurement on this repository's machine, shown when isolate is not installed.
ISOLATE_RECORDED = {
    "cycle": {"median_ms": 13.93},
    "run_only": {"median_ms": 7.92},
    "source": "isolate 1.10.1 measured interleaved by this benchmark (200 each), 2-core x86_64 VM "
    "(load average 1.0), 2026-12-02: README, Benchmarks",
}


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


def _cpu_s() -> float:
    """CPU of this process, its reaped children (isolate's processes) and the fork server with every
    supervisor, init and program it reaped: what one refbox or isolate call costs the machine. A wall
    time on a shared machine is mostly waiting for a core; the CPU spent is not."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    server = forkserver.current()
    if server is not None:
        with open(f"/proc/{server.pid}/stat") as f:  # utime stime cutime cstime, in clock ticks
            fields = f.read().rsplit(")", 1)[1].split()
        total += sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


def _cpu_ms(samples: list[float]) -> dict:
    return {"cpu_ms_mean": round(1000 * sum(samples) / len(samples), 2)}


def _timed(action: Callable[[], None], wall: list[float], cpu: list[float]) -> None:
    c0, t0 = _cpu_s(), time.perf_counter()
    action()
    wall.append(time.perf_counter() - t0)
    cpu.append(_cpu_s() - c0)


class Isolate:
    """isolate 1.x driven by subprocess, as reliability/targets/profiles/isolate-1.yml drives it."""

    def __init__(self, box: int, exe: str, work: str):
        self.box, self.exe, self.box_dir = str(box), exe, ""
        self.meta = os.path.join(work, "isolate.meta")  # the pipeline reads isolate's verdict there

    def _isolate(self, *args: str) -> str:
        return subprocess.run(
            ["isolate", "--cg", "-b", self.box, *args], capture_output=True, text=True, check=True
        ).stdout

    def init(self) -> None:
        self.box_dir = os.path.join(self._isolate("--init").strip(), "box")

    def run(self) -> None:
        shutil.copy(self.exe, os.path.join(self.box_dir, "true"))
        self._isolate(
            "--run",
            f"--meta={self.meta}",
            f"--time={LIMITS.cpu_s:g}",
            f"--wall-time={LIMITS.wall_s:g}",
            f"--cg-mem={LIMITS.mem_mb * 1024}",
            f"--processes={LIMITS.processes}",
            f"--fsize={LIMITS.output_kb}",
            "--",
            "./true",
        )

    def cleanup(self) -> None:
        self._isolate("--cleanup")

    def cycle(self) -> None:
        self.init()
        self.run()
        self.cleanup()


class RefboxDriver:
    def __init__(self, refbox: Refbox, box: int, exe: str):
        self.refbox, self.box, self.files = refbox, box, {exe: "true"}

    def run(self) -> None:
        result = self.refbox.run(self.box, ["./true"], LIMITS, self.files)
        assert result.verdict == "OK", result

    def cycle(self) -> None:
        self.refbox.init(self.box)
        self.run()
        outcome = self.refbox.cleanup(self.box)
        assert outcome.ok, outcome


def _measure(refbox: RefboxDriver, isolate: Isolate | None, runs: int) -> dict[str, list[float]]:
    names = ("cycle", "run_only", "isolate_cycle", "isolate_run")
    samples: dict[str, list[float]] = {k: [] for k in names + tuple(f"{n}_cpu" for n in names)}
    for i in range(runs):  # alternate who goes first, so neither always follows the other
        pair = [(refbox.cycle, "cycle"), (isolate.cycle if isolate else None, "isolate_cycle")]
        for action, name in pair if i % 2 == 0 else pair[::-1]:
            if action:
                _timed(action, samples[name], samples[f"{name}_cpu"])
    refbox.refbox.init(refbox.box)
    if isolate:
        isolate.init()
    try:
        for i in range(runs):
            pair = [(refbox.run, "run_only"), (isolate.run if isolate else None, "isolate_run")]
            for action, name in pair if i % 2 == 0 else pair[::-1]:
                if action:
                    _timed(action, samples[name], samples[f"{name}_cpu"])
    finally:
        if isolate:
            isolate.cleanup()
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--box", type=int, default=900)
    parser.add_argument("--isolate-box", type=int, default=901, help="box uids are shared: not --box")
    parser.add_argument("--no-fork-server", action="store_true")
    parser.add_argument("--python-init", action="store_true", help="the Python init, not boxinit.c")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_refbox: needs root (tmpfs mounts, cgroups)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-refbox-") as work:
        os.chmod(work, 0o755)
        exe = _trivial_binary(Path(work))
        box_root = Path(work) / "boxes"
        box_root.mkdir(mode=0o755)
        refbox = Refbox(
            box_root=str(box_root), cgroup_name=f"refbox-bench-{os.getpid()}", c_init=not args.python_init
        )
        isolate = Isolate(args.isolate_box, exe, work) if shutil.which("isolate") else None
        if not args.no_fork_server:
            forkserver.start()
        try:
            samples = _measure(RefboxDriver(refbox, args.box, exe), isolate, args.runs)
        finally:
            forkserver.stop()
            refbox.cleanup(args.box)
            refbox.recover()  # every box, and the parent cgroups: the benchmark leaves nothing
    report: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, kernel {platform.release()}",
        "load_average": os.getloadavg(),
        "runs": args.runs,
        "fork_server": not args.no_fork_server,
        "init": "python" if args.python_init or not boxinit_build.path() else "c (boxinit.c)",
        "cycle": _ms(samples["cycle"]) | _cpu_ms(samples["cycle_cpu"]),
        "run_only": _ms(samples["run_only"]) | _cpu_ms(samples["run_only_cpu"]),
    }
    if isolate:
        version = subprocess.run(["isolate", "--version"], capture_output=True, text=True).stdout.split("\n")[
            0
        ]
        report["isolate"] = {
            "cycle": _ms(samples["isolate_cycle"]) | _cpu_ms(samples["isolate_cycle_cpu"]),
            "run_only": _ms(samples["isolate_run"]) | _cpu_ms(samples["isolate_run_cpu"]),
            "source": f"{version}, measured interleaved in this run",
        }
    else:
        report["isolate"] = ISOLATE_RECORDED
    for name in ("cycle", "run_only"):
        mine, theirs = report[name], report["isolate"][name]
        report[f"{name}_ratio_to_isolate"] = round(mine["median_ms"] / theirs["median_ms"], 2)
        if "cpu_ms_mean" in theirs:
            report[f"{name}_cpu_ratio_to_isolate"] = round(mine["cpu_ms_mean"] / theirs["cpu_ms_mean"], 2)
    print(
        f"{'':<10}{'median':>10}{'p95':>10}{'CPU':>10}{'isolate median':>16}{'CPU':>10}{'ratio':>7}{'CPU':>6}"
    )
    for name in ("cycle", "run_only"):
        r, iso = report[name], report["isolate"][name]
        iso_cpu = f"{iso['cpu_ms_mean']:>8.2f}ms" if "cpu_ms_mean" in iso else f"{'-':>10}"
        cpu_ratio = report.get(f"{name}_cpu_ratio_to_isolate")
        print(
            f"{name:<10}{r['median_ms']:>8.2f}ms{r['p95_ms']:>8.2f}ms{r['cpu_ms_mean']:>8.2f}ms"
            f"{iso['median_ms']:>14.2f}ms{iso_cpu}{report[f'{name}_ratio_to_isolate']:>7.2f}"
            + (f"{cpu_ratio:>6.2f}" if cpu_ratio is not None else f"{'-':>6}")
        )
    print(f"isolate: {report['isolate']['source']}; load average {report['load_average'][0]:.1f}")
    out = Path(__file__).resolve().parent / "results" / "refbox.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
