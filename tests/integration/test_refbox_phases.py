"""The supervisor records its phase in state.json; held at each phase by a failpoint and SIGKILLed there,
`recover` leaves no process, mount, cgroup or temp dir of the box behind."""

# ruff: noqa: F811 - the fixtures are imported from refbox_fixtures and named as test arguments
from __future__ import annotations

import json
import os
import signal
import threading

import pytest
from refbox_fixtures import BOX_B, LIMITS, refbox, wait_until  # noqa: F401 - fixtures
from test_refbox_quarantine import our_leaks, owned

from reliability.probes import snapshot
from reliability.refbox import failpoints, state

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts tmpfs, creates cgroups: needs root")

SHORT = LIMITS.__class__(**{**LIMITS.to_dict(), "wall_s": 0.3})  # sleep 300 times out: every phase is met


def phase_of(refbox, box: int) -> str | None:
    with open(state.state_path(refbox.state_dir, box)) as f:
        return json.load(f)["phase"]


def test_a_run_records_its_phases_and_ends_at_verdict(refbox):
    refbox.init(BOX_B)
    try:
        assert refbox.run(BOX_B, ["sleep", "300"], SHORT).verdict == "TLE"
        assert phase_of(refbox, BOX_B) == "verdict"
    finally:
        assert refbox.cleanup(BOX_B).ok
    assert phase_of(refbox, BOX_B) is None


@pytest.mark.parametrize("phase", state.PHASES)
def test_supervisor_sigkilled_in_each_phase_then_recover_leaves_nothing(refbox, monkeypatch, phase):
    baseline = snapshot(owned(refbox), os.getpid())
    refbox.init(BOX_B)
    results: list = []
    monkeypatch.setenv(failpoints.ENV, f"phase.{phase}=pause")
    thread = threading.Thread(target=lambda: results.append(refbox.run(BOX_B, ["sleep", "300"], SHORT)))
    thread.start()
    try:
        wait_until(
            lambda: refbox.supervisor_pid(BOX_B) and phase_of(refbox, BOX_B) == phase, f"phase {phase}"
        )
        monkeypatch.delenv(failpoints.ENV)
        os.kill(refbox.supervisor_pid(BOX_B), signal.SIGKILL)
    finally:
        thread.join()
    assert results[0].verdict == "IE", results[0]
    status = refbox.status(BOX_B)
    assert (status["status"], status["phase"]) == ("running", phase)  # what the dead supervisor left
    refbox.recover(BOX_B)
    assert refbox.status(BOX_B)["status"] == "idle"
    assert our_leaks(refbox, baseline) == []
