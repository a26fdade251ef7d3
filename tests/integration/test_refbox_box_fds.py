"""Cleanup's "close fds" step checks the fds the refbox opened into the box (recorded where they are
opened), not every fd of the pipeline: a recorded one left open fails the step, and an fd into the box
that nobody recorded is still caught, by the unmount it keeps busy."""

# ruff: noqa: F811 - the fixtures are imported from refbox_fixtures and named as test arguments
from __future__ import annotations

import os

import pytest
from refbox_fixtures import BOX_B, LIMITS, refbox  # noqa: F401 - fixtures
from test_refbox_quarantine import assert_quarantined_then_recovered, owned

from reliability.probes import snapshot
from reliability.refbox import cleanup

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts tmpfs, creates cgroups: needs root")


def test_a_run_leaves_no_box_fd_recorded(refbox):
    refbox.init(BOX_B)
    try:
        assert refbox.run(BOX_B, ["/bin/true"], LIMITS, {"/bin/true": "prog"}).verdict == "OK"
        assert refbox.box_fds(BOX_B) == []
        assert cleanup.fds_into(refbox.box_dir(BOX_B)) == []
        assert refbox.cleanup(BOX_B).ok
    finally:
        refbox.recover(BOX_B)


def test_a_recorded_box_fd_is_closed_by_the_step(refbox):
    refbox.init(BOX_B)
    try:
        fd = refbox.open_in_box(BOX_B, refbox.box_dir(BOX_B), os.O_RDONLY | os.O_DIRECTORY)
        outcome = refbox.cleanup(BOX_B)
        assert outcome.ok, outcome
        assert refbox.box_fds(BOX_B) == []
        with pytest.raises(OSError):
            os.readlink(f"/proc/self/fd/{fd}")  # closed (the number is not reused: one thread here)
    finally:
        refbox.recover(BOX_B)


def test_a_recorded_box_fd_left_open_fails_the_step(refbox, monkeypatch):
    baseline = snapshot(owned(refbox), os.getpid())
    refbox.init(BOX_B)
    fd = -1
    try:
        fd = refbox.open_in_box(BOX_B, refbox.box_dir(BOX_B), os.O_RDONLY | os.O_DIRECTORY)
        monkeypatch.setattr(cleanup, "_close", lambda fd: None)  # a close that does not happen
        outcome = refbox.cleanup(BOX_B)
        monkeypatch.undo()
        assert "fds still open into" in outcome.error and str(fd) in outcome.error, outcome
        assert refbox.box_fds(BOX_B) == [fd]  # still recorded: recover closes it
        assert_quarantined_then_recovered(refbox, outcome, "close fds", baseline)
        assert refbox.box_fds(BOX_B) == []
        assert cleanup.fds_into(refbox.box_dir(BOX_B)) == []
        fd = -1
    finally:
        monkeypatch.undo()
        if fd >= 0 and cleanup._fd_into(fd, refbox.box_dir(BOX_B)):
            os.close(fd)
        refbox.recover(BOX_B)


def test_an_unrecorded_fd_into_the_box_fails_the_unmount(refbox):
    baseline = snapshot(owned(refbox), os.getpid())
    refbox.init(BOX_B)
    fd = os.open(refbox.box_dir(BOX_B), os.O_RDONLY | os.O_DIRECTORY)  # not the refbox's: not recorded
    try:
        outcome = refbox.cleanup(BOX_B)
        assert [s["name"] for s in outcome.steps if not s["ok"]] == ["unmount"], outcome
        assert_quarantined_then_recovered(refbox, outcome, "unmount", baseline)  # recover scans every fd
        fd = -1
    finally:
        if fd >= 0 and cleanup._fd_into(fd, refbox.box_dir(BOX_B)):
            os.close(fd)
        refbox.recover(BOX_B)
