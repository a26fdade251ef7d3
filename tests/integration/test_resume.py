"""A real stress run SIGKILLed mid-run (its whole process group), then resumed with --resume RUN_DIR."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from reliability.analyze import analyze
from reliability.checks import completeness, verdicts
from reliability.history import read
from reliability.targets.builtin import BuiltinTarget
from reliability.workload import generator

PID = os.getpid()
REPO = Path(__file__).resolve().parents[2]  # `-m reliability` must resolve whatever the cwd
BOX_BASE = 470 + (PID % 60) * 2
SUBMISSIONS = 16
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (tmpfs mounts, cgroups)")


def _results(history_file: Path) -> int:
    try:
        return history_file.read_bytes().count(b'"type":"result"')
    except FileNotFoundError:
        return 0


def test_a_killed_run_resumes_with_the_same_workload_and_passes():
    work = Path(tempfile.mkdtemp(prefix=f"resume-{PID}-"))
    target_opts = [
        "--target-option",
        f"box_root={work}/boxes",
        "--target-option",
        f"cgroup_name=resume-{PID}",
    ]
    base = [sys.executable, "-m", "reliability", "run", "--reports", str(work / "rep")]
    first = base + ["stress", "--runs", str(work / "runs"), "--profile", "smoke", "--seed", "11"]
    first += ["--submissions", str(SUBMISSIONS)]
    first += ["--box-base", str(BOX_BASE), *target_opts]
    proc = subprocess.Popen(
        cwd=REPO, args=first, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        for _ in range(6000):  # a hang guard, not a timing assertion
            runs = list((work / "runs").glob("*/history.jsonl"))
            if runs and _results(runs[0]) >= 5:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)  # the pipeline and its supervisors die mid-run
        proc.wait()
        run_dir = runs[0].parent
        cut = read(run_dir)
        assert cut.stage_end is None and 5 <= len(cut.results) < SUBMISSIONS

        resumed = subprocess.run(
            cwd=REPO, args=base + ["--resume", str(run_dir)], capture_output=True, text=True, timeout=300
        )
        assert "resuming" in resumed.stderr, resumed.stderr[-2000:]

        history = read(run_dir)
        counts = history.count_by_index("result")
        assert sorted(counts) == list(range(SUBMISSIONS)) and set(counts.values()) == {1}
        expected = itertools.islice(generator.stream(11, ranges=generator.ranges_preset("fast")), SUBMISSIONS)
        assert [(s.index, s.program, s.limits) for s in expected] == [
            (i, history.submissions[i].program, history.submissions[i].limits) for i in range(SUBMISSIONS)
        ]
        (event,) = history.of_type("resume")
        assert event["done"] == len(cut.results)
        checks = {c.name: c for c in analyze(run_dir).checks}
        for name in (completeness.COMPLETED, completeness.FINISHED, verdicts.NAME, "no cleanup failures"):
            assert checks[name].status == "passed", checks[name]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        target = BuiltinTarget(box_root=f"{work}/boxes", cgroup_name=f"resume-{PID}")
        target.recover()
        for d in target.refbox.cgroup_roots():
            if os.path.isdir(d):
                os.rmdir(d)
        shutil.rmtree(work, ignore_errors=True)


def test_resuming_a_finished_or_missing_run_is_a_one_line_error(tmp_path):
    out = subprocess.run(
        cwd=REPO,
        args=[sys.executable, "-m", "reliability", "run", "--resume", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
