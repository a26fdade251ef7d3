"""A fault that cannot take effect on a target is a skip with the reason, never a failure.

The target is tests/data/lockless/dirbox.py described in YAML: its box is a plain directory (no mount
the host sees, like isolate's), and it declares box cgroups that it never makes, so nothing can occupy
them. Its cleanup makes the box directory, as isolate 1.10.1's --cleanup of a missing box does: the faults
stage names that once, as its own finding. The faults stage runs for real against it.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from reliability.checks import aftermath, faults
from reliability.execute import RunOptions, execute
from reliability.nemesis import foreign_process
from reliability.stages import get

DIRBOX = Path(__file__).resolve().parents[1] / "data" / "lockless" / "dirbox.py"
PID = os.getpid()
BOX = 300 + PID % 90  # dirbox has no box uids: any number of our own will do


def target_doc(root: Path) -> dict:
    script = [sys.executable, str(DIRBOX)]
    return {
        "format": 1,
        "name": "dirbox-plain",
        "commands": {
            "init": [*script, "init", "{box_dir}"],
            "run": [*script, "run", "0", "{box_dir}", "{wall_s}", "{files}", "--", "{command}"],
            "cleanup": ["mkdir", "-p", "{box_dir}"],  # like isolate 1.10.1: a missing box dir is made
        },
        "files": {"option": ["--file", "{src}:{name}"]},
        "result": {
            "format": "json",
            "fields": {f: f for f in ("verdict", "wall_s", "exit_code", "message", "stdout")},
            "statuses": {v: v for v in ("OK", "TLE", "RE")},
        },
        "owns": {
            "box_root": str(root),
            "box_dir": str(root) + "/{box}",
            "box_cgroups": [f"/sys/fs/cgroup/*/dirbox-never-{PID}/box-{{box}}"],  # never made
        },
    }


@pytest.fixture
def work():
    path = Path(tempfile.mkdtemp(prefix=f"took-effect-{PID}-"))
    (path / "boxes").mkdir()
    os.chmod(path, 0o755)
    os.chmod(path / "boxes", 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_faults_on_a_target_with_no_host_mount_and_no_cgroup_to_occupy_are_skipped_with_why(work):
    path = work / "dirbox.yml"
    path.write_text(yaml.safe_dump(target_doc(work / "boxes")))
    opts = RunOptions(
        profile="smoke", seed=3, overrides={"iterations": 1}, runs_dir=work / "runs",
        reports_dir=work / "reports", target=str(path), box_base=BOX,
    )  # fmt: skip
    checks = {c.name: c for c in execute(get("faults"), opts).checks}
    box_dir = f"{work}/boxes/{BOX}"
    for name in faults.NAMES:
        assert checks[name].status == "skipped", checks[name]
    reasons = checks[faults.REPORTED].evidence  # one line per case, each with its reason
    assert (
        f"unmount: the fault did not take effect: target dirbox-plain has no host-visible box mount "
        f"({box_dir} is not a mount point)" in reasons
    )
    if foreign_process.frozen_unavailable():  # cgroup v2: no frozen fault, and no failpoints either
        assert any(r.startswith("remove cgroup: target dirbox-plain has no failpoints") for r in reasons)
    else:
        assert (
            f"remove cgroup: the fault did not take effect: target dirbox-plain's box {BOX} has no cgroup "
            "when its cleanup starts: nothing to occupy" in reasons
        )
    finding = checks[aftermath.CLEAN_CLEANUP]
    assert (
        finding.status == "failed" and finding.message == f"cleanup of a clean box leaves temp dir {box_dir}"
    )
    assert checks["all verdicts correct"].status == "passed"  # no run was made IE by a fault that never was
