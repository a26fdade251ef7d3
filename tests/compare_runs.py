"""Real refbox runs for the comparison tests: a stress run narrowed to C++ OK programs (fast, and enough
runs per group to compare), in a box root and cgroup of its own, as a process of its own so that a
baseline and a candidate run side by side under the same load, each with its own REFBOX_FAILPOINTS.

    python -m tests.compare_runs RUNS_DIR BOX_BASE PROFILE    (REFBOX_FAILPOINTS from the environment)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from reliability.refbox import failpoints

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = ("cpp/ok_sum", "cpp/ok_sieve")  # one group: C++, OK
SUBMISSIONS = 16  # two groups (overhead, cycle) of 16 runs: above the 8 a group needs on each side
SEED = 23


def start(runs_dir: Path, box_base: int, profile: str = "smoke", points: str = "") -> subprocess.Popen:
    """One run in the background; wait() on it, then read the run directory under runs_dir."""
    env = {**os.environ, failpoints.ENV: points, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "tests.compare_runs", str(runs_dir), str(box_base), profile]
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def run_side_by_side(*runs: tuple[Path, int, str, str]) -> None:
    """(runs_dir, box_base, profile, failpoints) at once; AssertionError with the output if one failed."""
    procs = [start(*run) for run in runs]
    try:
        outputs = [p.communicate(timeout=180)[0] for p in procs]
    finally:
        for p in procs:  # a hung run is ended (SIGTERM: it cleans up as on Ctrl-C), never left behind
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=60)
    for p, out in zip(procs, outputs):
        assert p.returncode in (0, 1), out[-3000:]  # 1: a check failed, still a run to compare


def main(runs_dir: str, box_base: str, profile: str) -> int:
    from reliability.execute import RunOptions, execute
    from reliability.targets.builtin import BuiltinTarget
    from tests.stage_runs import only

    boxes = Path(tempfile.mkdtemp(prefix=f"compare-boxes-{os.getpid()}-"))
    os.chmod(boxes, 0o755)  # box uids must reach their box
    cgroup = f"compare-test-{os.getpid()}"
    try:
        opts = RunOptions(
            profile=profile,
            seed=SEED,
            # the same sizes in every profile: a run of another profile differs by its name alone
            overrides={"submissions": SUBMISSIONS, "concurrency": 2, "ranges": "fast"},
            runs_dir=Path(runs_dir),
            reports_dir=Path(runs_dir) / "reports",
            target_options={"box_root": str(boxes), "cgroup_name": cgroup, "quota_mb": 16},
            box_base=int(box_base),
        )
        return 0 if execute(only("stress", PROGRAMS, own_end=True), opts).ok else 1
    finally:
        target = BuiltinTarget(box_root=str(boxes), cgroup_name=cgroup)
        target.recover()
        target.close()
        shutil.rmtree(boxes, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
