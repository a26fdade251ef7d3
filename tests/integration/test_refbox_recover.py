"""`reliability box recover` and `box status` on a box a dead pipeline left: each item reported, host back
to its baseline; and the runner journals the quarantine a failed cleanup caused."""

# ruff: noqa: F811 - the fixtures are imported from refbox_fixtures and named as test arguments
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest
from refbox_fixtures import BOX_B, LIMITS, refbox  # noqa: F401 - fixtures
from test_refbox_quarantine import our_leaks, owned

from reliability import schemas
from reliability.history import Journal
from reliability.probes import snapshot
from reliability.refbox import failpoints
from reliability.targets.base import CleanupOutcome

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts tmpfs, creates cgroups: needs root")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def box_cli(refbox, *args: str) -> subprocess.CompletedProcess:
    flags = ["--root", refbox.box_root, "--cgroup-name", refbox.cgroup_name]
    return subprocess.run(
        [sys.executable, "-m", "reliability", "box", *args, *flags], cwd=REPO, capture_output=True, text=True
    )


def test_recover_all_after_a_sigkilled_pipeline_reports_each_item_and_restores_the_host(refbox):
    baseline = snapshot(owned(refbox), os.getpid())
    init = box_cli(refbox, "init", "--box", str(BOX_B))  # that process exits: the box stays running
    assert init.returncode == 0, init.stdout + init.stderr
    run = subprocess.Popen(
        [sys.executable, "-m", "reliability", "box", "run", "--box", str(BOX_B), "--root", refbox.box_root,
         "--cgroup-name", refbox.cgroup_name, "--wall-time", "300", "--", "sleep", "300"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(3000):  # until the program runs (a hang guard, not a timing assertion)
            if refbox.box_pids(BOX_B):
                break
            time.sleep(0.01)
        assert refbox.box_pids(BOX_B)
        busy = box_cli(refbox, "recover", "--box", str(BOX_B))
        assert busy.returncode == 1 and f"box {BOX_B} busy" in json.loads(busy.stdout)["error"]
        os.kill(run.pid, signal.SIGKILL)  # the pipeline dies: the supervisor and program live on
        run.wait()
        status = json.loads(box_cli(refbox, "status").stdout)["boxes"]
        [mine] = [b for b in status if b["box"] == BOX_B]
        assert (mine["status"], mine["owner_alive"], mine["locked"]) == ("running", False, False)
        table = box_cli(refbox, "status", "--table").stdout.splitlines()
        assert table[0].split()[:3] == ["box", "status", "phase"] and str(BOX_B) in table[1]
        recovered = box_cli(refbox, "recover", "--all")
        assert recovered.returncode == 0, recovered.stdout + recovered.stderr
        removed = json.loads(recovered.stdout)["removed"]
        assert any(item.startswith("process ") for item in removed), removed
        assert f"mount {refbox.box_dir(BOX_B)}" in removed
        assert any(item.startswith("state of box") for item in removed)
    finally:
        run.kill()
        run.wait()
        refbox.recover()
    assert our_leaks(refbox, baseline) == []
    assert box_cli(refbox, "recover", "--box", "1", "--all").returncode == 2


def test_the_runner_journals_a_quarantine_when_cleanup_quarantines_the_box(refbox, monkeypatch):
    from reliability.runner import Prepared, Runner
    from reliability.targets.builtin import BuiltinTarget

    target = BuiltinTarget.__new__(BuiltinTarget)
    target.refbox = refbox
    work = tempfile.mkdtemp(prefix=f"refbox-journal-{os.getpid()}-")
    journal = Journal(os.path.join(work, "history.jsonl"))
    runner = Runner(target, journal, [BOX_B], {"p": Prepared(["/bin/true"], {})})
    from reliability.workload.submission import Submission

    fields = {f: None for f in Submission.__dataclass_fields__}
    sub = Submission(**{**fields, "index": 0, "program": "p", "box": BOX_B, "limits": LIMITS, "ending": "normal",
                        "expected": "OK", "language": "c"})  # fmt: skip
    monkeypatch.setenv(failpoints.ENV, "cleanup.reap=error")
    try:
        runner._execute(sub, target)
    finally:
        monkeypatch.delenv(failpoints.ENV)
        refbox.recover(BOX_B)
    try:
        with open(journal.path) as f:  # the raw journal: no stage_start here, so not history.read()
            events = [e for e in map(json.loads, f) if e["type"] in ("result", "cleanup", "quarantine")]
    finally:
        shutil.rmtree(work)
    assert [e["type"] for e in events] == ["result", "cleanup", "quarantine"]
    result, cleanup, quarantine = events
    assert (quarantine["box"], quarantine["reason"]) == (BOX_B, cleanup["outcome"]["error"])
    assert quarantine["reason"].startswith("reap: failpoint cleanup.reap")
    # The run's verdict says so: IE naming the step and error, the program's own verdict kept as evidence.
    assert result["result"]["verdict"] == "IE"
    assert (
        result["result"]["message"]
        == f"cleanup failed at {cleanup['outcome']['error']}; box {BOX_B} quarantined"
    )
    assert result["result"]["raw"]["program_verdict"] == "OK"
    assert not schemas.errors("history-record", result)
    assert CleanupOutcome(ok=True).quarantined is False
