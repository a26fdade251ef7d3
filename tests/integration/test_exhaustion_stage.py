"""The exhaustion stage end to end on the built-in sandbox, and a SIGINT in the middle of a fault: the
fault is still undone (its end journalled, its tmpfs gone, its stress-ng ended) and nothing is left."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PID = os.getpid()
BOX = 600 + PID % 50  # one box of our own; box uids are shared with other tests on this host

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the built-in sandbox needs root")


@pytest.fixture
def work():
    path = Path(tempfile.mkdtemp(prefix=f"exhaustion-{PID}-", dir="/tmp"))
    os.chmod(path, 0o755)
    cgroup = f"refbox-exh-{PID}"
    try:
        yield path, cgroup
    finally:
        cli = [sys.executable, "-m", "reliability", "box", "recover", "--root", str(path / "boxes")]
        subprocess.run([*cli, "--cgroup-name", cgroup], cwd=REPO, capture_output=True, timeout=120)
        shutil.rmtree(path, ignore_errors=True)


def command(path: Path, cgroup: str, seed: int) -> list[str]:
    return [
        sys.executable, "-m", "reliability", "run", "exhaustion", "--profile", "smoke", "--seed", str(seed),
        "--runs", str(path / "runs"), "--reports", str(path / "reports"),
        "--target-option", f"box_root={path / 'boxes'}", "--target-option", f"cgroup_name={cgroup}",
        "--box-base", str(BOX),
    ]  # fmt: skip


def events(path: Path) -> list[dict]:
    files = list((path / "runs").glob("*/history.jsonl"))
    if not files:
        return []
    lines = files[0].read_text().splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]


def test_sigint_during_a_fault_leaves_nothing_behind(work):
    path, cgroup = work
    # Seed 19 puts state_full first: the fault holding a tmpfs is in flight early.
    proc = subprocess.Popen(command(path, cgroup, seed=19), cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300  # a guard against a hang, not a timing assertion
        while not any(e["type"] == "fault" and e["kind"] == "state_full" for e in events(path)):
            assert proc.poll() is None and time.monotonic() < deadline, "the stage never reached state_full"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    history = events(path)
    starts = [e for e in history if e["type"] == "fault" and e["phase"] == "start"]
    ends = [e for e in history if e["type"] == "fault" and e["phase"] == "end"]
    assert [e["kind"] for e in starts] == [e["kind"] for e in ends], stderr
    assert history[-1]["type"] == "stage_end" and history[-1]["interrupted"], stderr
    assert f"exhaustion-state-{proc.pid}-" not in Path("/proc/self/mounts").read_text()
    assert not list(Path("/tmp").glob(f"exhaustion-state-{proc.pid}-*"))
    for e in starts:
        for pid in re.findall(r"(?:stress-ng|helper) pid (\d+)", e["detail"]):
            assert (
                not Path(f"/proc/{pid}").exists()
                or "stress-ng" not in Path(f"/proc/{pid}/cmdline").read_text()
            )


def test_the_stage_passes_on_the_builtin_sandbox(work):
    path, cgroup = work
    done = subprocess.run(
        command(path, cgroup, seed=7), cwd=REPO, capture_output=True, text=True, timeout=600
    )
    report = (path / "reports" / "exhaustion.xml").read_text()
    # The probes count every new mount and every process in the box uid range on the host; other
    # engineers' tests make both meanwhile. Ours are only those of our box and under our box root.
    failures = re.findall(r'<testcase name="([^"]+)"[^>]*>\s*<failure', report)
    assert set(failures) <= {"no leaked mounts", "no leaked processes"}, done.stderr[-3000:]
    assert f"uid {60000 + BOX}" not in report and f"{path}/boxes/" not in report, done.stderr[-3000:]
    assert "fault" in {e["type"] for e in events(path)}
