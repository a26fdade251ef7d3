"""Refused before the first execution, on the real refbox: boxes past the target's last one, a metrics
port in use, a box past the range on replay; and `box run` on a box never initialised says so and
leaves the box usable (not quarantined)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from refbox_fixtures import BOX_B, PID

from tests.unit.synthetic_history import HistoryBuilder

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts tmpfs, creates cgroups: needs root")

REPO = Path(__file__).resolve().parents[2]


def reliability(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "reliability", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def place():
    """A box root and cgroup name of this test's own, recovered and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix=f"refusals-{PID}-"))
    root.chmod(0o755)
    cgroup = f"refusals-{PID}"
    try:
        yield root, cgroup
    finally:
        reliability("box", "recover", "--root", str(root), "--cgroup-name", cgroup)
        subprocess.run(["rm", "-rf", str(root)], check=False)


def run_flags(root: Path, cgroup: str, tmp: Path) -> list[str]:
    return [
        "--profile", "smoke", "--runs", str(tmp / "runs"), "--reports", str(tmp / "reports"),
        "--target-option", f"box_root={root}", "--target-option", f"cgroup_name={cgroup}",
    ]  # fmt: skip


def assert_one_line_refusal(done: subprocess.CompletedProcess, text: str) -> None:
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and text in done.stderr, done.stderr


def test_boxes_past_the_targets_last_box_are_refused_before_a_run_dir_exists(place, tmp_path):
    root, cgroup = place
    done = reliability(
        "run", "stress", "--box-base", "999", "--concurrency", "2", *run_flags(root, cgroup, tmp_path)
    )
    assert_one_line_refusal(
        done, "box 999-1000 (from --box-base and --concurrency) is outside target builtin's boxes 0-999"
    )
    assert not (tmp_path / "runs").exists()
    # The second stage of a list is checked before the first runs.
    done = reliability(
        "run",
        "leaks",
        "stress",
        "--box-base",
        "998",
        "--concurrency",
        "3",
        *run_flags(root, cgroup, tmp_path),
    )
    assert_one_line_refusal(done, "box 998-1000")
    assert not (tmp_path / "runs").exists()


def test_a_metrics_port_in_use_is_refused_before_the_stage_starts(place, tmp_path):
    root, cgroup = place
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        flags = run_flags(root, cgroup, tmp_path)
        done = reliability("run", "stress", "--metrics-port", str(port), "--box-base", str(BOX_B), *flags)
    assert_one_line_refusal(done, f"--metrics-port {port}: cannot listen on 127.0.0.1")
    assert not (tmp_path / "runs").exists()


def test_replay_refuses_a_box_past_the_targets_range(place, tmp_path):
    root, cgroup = place
    builder = HistoryBuilder(tmp_path)
    builder.submit(0, program="python/ok_sum", language="python")
    builder.journal.close()
    options = ["--target-option", f"box_root={root}", "--target-option", f"cgroup_name={cgroup}"]
    done = reliability("replay", str(builder.run_dir), "0", "--box", "5000", *options)
    assert_one_line_refusal(done, "box 5000-5000 (from --box) is outside target builtin's boxes 0-999")


def test_box_run_on_a_box_never_initialised_says_so_and_leaves_it_usable(place):
    root, cgroup = place
    where = ["--box", str(BOX_B), "--root", str(root), "--cgroup-name", cgroup]
    run = reliability("box", "run", *where, "--", "/bin/true")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["verdict"] == "IE" and "never initialised" in result["message"], result
    status = json.loads(reliability("box", "status", *where).stdout)
    assert status["status"] == "idle" and status["quarantine_reason"] is None, status
    init = reliability("box", "init", *where)
    assert init.returncode == 0 and json.loads(init.stdout)["ok"], init.stdout + init.stderr
    assert reliability("box", "cleanup", *where).returncode == 0
