"""Each cleanup step made to fail (from outside where the host allows it, by failpoint otherwise): the box
is quarantined with the step named, the runner journals a quarantine, recover restores the host."""

# ruff: noqa: F811 - the fixtures are imported from refbox_fixtures and named as test arguments
from __future__ import annotations

import os
import signal
import time

import pytest
from refbox_fixtures import BOX_B, LIMITS, refbox  # noqa: F401 - fixtures

from reliability.probes import diff, snapshot
from reliability.refbox import audit, failpoints, mounts, syscalls
from reliability.targets.base import Owned, TargetError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts tmpfs, creates cgroups: needs root")


def owned(refbox) -> Owned:
    # Narrowed to this test's box uid: other engineers' sandboxes run on this host right now.
    uid = refbox.uid(BOX_B)
    return Owned(box_root=refbox.box_root, cgroup_roots=refbox.cgroup_roots(), uid_range=(uid, uid))


def our_leaks(refbox, baseline: dict) -> list[str]:
    """Leaks since `baseline` that are this refbox's: any new mount counts, so keep those under our root."""
    leaks = diff(baseline, snapshot(owned(refbox), os.getpid()), owned(refbox), os.getpid()).to_dict()
    mine = [m for m in leaks.pop("mounts") if refbox.box_root in m]
    leaks.pop("noise", None)
    return mine + [item for items in leaks.values() for item in items]


def assert_quarantined_then_recovered(refbox, outcome, step: str, baseline: dict) -> None:
    assert not outcome.ok and outcome.quarantined, outcome
    assert outcome.error.startswith(f"{step}: "), outcome
    assert [s["name"] for s in outcome.steps if not s["ok"]] == [step]
    assert outcome.steps[-1]["name"] == step and outcome.steps[-1]["attempts"] == 3  # retried, then stopped
    status = refbox.status(BOX_B)
    assert status["status"] == "quarantined" and status["quarantine_reason"].startswith(
        f"cleanup step {step}"
    )
    assert audit.read(refbox.state_dir)[-1]["event"] == "quarantine"
    with pytest.raises(TargetError, match="quarantined"):
        refbox.init(BOX_B)  # refused until recovered
    refbox.recover(BOX_B)
    assert refbox.status(BOX_B)["status"] == "idle"
    assert our_leaks(refbox, baseline) == []


@pytest.mark.parametrize("step", ["kill", "reap", "close fds", "remove cgroup", "remove temp dirs"])
def test_a_step_failing_by_failpoint_quarantines_the_box_naming_it(refbox, monkeypatch, step):
    baseline = snapshot(owned(refbox), os.getpid())
    refbox.init(BOX_B)
    try:
        assert refbox.run(BOX_B, ["/bin/true"], LIMITS).verdict == "OK"
        monkeypatch.setenv(failpoints.ENV, f"cleanup.{step.replace(' ', '_')}=error")
        outcome = refbox.cleanup(BOX_B)
        monkeypatch.delenv(failpoints.ENV)
        assert f"failpoint cleanup.{step.replace(' ', '_')}" in outcome.error
        assert_quarantined_then_recovered(refbox, outcome, step, baseline)
    finally:
        monkeypatch.delenv(failpoints.ENV, raising=False)
        refbox.recover(BOX_B)


def test_a_foreign_process_holding_the_mount_busy_fails_unmount(refbox):
    baseline = snapshot(owned(refbox), os.getpid())
    refbox.init(BOX_B)
    holder = os.fork()
    if holder == 0:  # a root process outside the box cgroup, its cwd in the box
        try:
            os.chdir(refbox.box_dir(BOX_B))
            while True:
                time.sleep(60)
        finally:
            os._exit(0)
    try:
        while not os.readlink(f"/proc/{holder}/cwd").startswith(refbox.box_dir(BOX_B)):
            time.sleep(0.005)
        outcome = refbox.cleanup(BOX_B)
        assert "busy" in outcome.error.lower()
        os.kill(holder, signal.SIGKILL)
        os.waitpid(holder, 0)
        holder = 0
        assert_quarantined_then_recovered(refbox, outcome, "unmount", baseline)
    finally:
        if holder:
            os.kill(holder, signal.SIGKILL)
            os.waitpid(holder, 0)
        refbox.recover(BOX_B)


def test_a_mount_point_inside_the_box_fails_unmount_and_recover_removes_both(refbox):
    baseline = snapshot(owned(refbox), os.getpid())
    refbox.init(BOX_B)
    inner = os.path.join(refbox.box_dir(BOX_B), "inner")
    try:
        os.mkdir(inner)
        syscalls.mount("planted", inner, "tmpfs", 0, "size=1m")
        outcome = refbox.cleanup(BOX_B)
        assert mounts.is_mounted(inner)
        assert_quarantined_then_recovered(refbox, outcome, "unmount", baseline)
    finally:
        refbox.recover(BOX_B)
