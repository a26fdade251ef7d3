"""BuiltinTarget: the refbox through the target contract."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile

import pytest
from refbox_fixtures import BOX_B, LIMITS, PID

from reliability.errors import UsageError
from reliability.targets import load as load_target
from reliability.targets.base import Target, TargetError
from reliability.targets.builtin import BuiltinTarget
from reliability.targets.capabilities import Failpoints, capability
from reliability.targets.delegate import Delegating

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts tmpfs, creates cgroups: needs root")


@pytest.fixture
def target():
    root = tempfile.mkdtemp(prefix=f"refbox-target-{PID}-")
    os.chmod(root, 0o755)
    t = BuiltinTarget(box_root=root, cgroup_name=f"refbox-target-{PID}", quota_mb=16)
    try:
        yield t
    finally:
        try:
            t.recover()
        finally:
            shutil.rmtree(root, ignore_errors=True)


def test_identity_and_what_it_owns(target):
    assert isinstance(target, Target) and target.name == "builtin"
    assert target.capabilities == frozenset({"locks", "state_files", "phases", "failpoints"})
    assert capability(target, Failpoints) is target
    assert target.version() == f"refbox 0.1.0 (cgroup v{target.refbox.cgroups.version})"
    owned = target.owned()
    assert owned.box_root == target.refbox.box_root and owned.temp_roots == [owned.box_root]
    assert owned.uid_range == (60000, 60999)
    assert owned.cgroup_roots == target.refbox.cgroups.dirs(f"refbox-target-{PID}")


def test_init_run_cleanup_through_the_contract(target):
    target.init(BOX_B)
    result = target.run(BOX_B, ["/bin/sh", "-c", "echo ok; sleep 0.1"], LIMITS, {})
    assert (result.verdict, result.stdout) == ("OK", "ok\n")
    assert target.box_pids(BOX_B) == []
    outcome = target.cleanup(BOX_B)
    assert outcome.ok and all(step["ok"] for step in outcome.steps)
    assert not os.path.lexists(os.path.join(target.refbox.box_root, str(BOX_B)))


def test_the_box_quota_is_enforced(target):
    target.init(BOX_B)
    script = "head -c 20000000 /dev/zero > big"
    result = target.run(BOX_B, ["/bin/sh", "-c", script], dataclasses.replace(LIMITS, output_kb=100_000), {})
    assert result.verdict == "RE", result  # head: No space left on device (the box is a 16 MiB tmpfs)
    assert os.path.getsize(os.path.join(target.refbox.box_dir(BOX_B), "big")) <= 16 * 1024 * 1024
    assert target.cleanup(BOX_B).ok


def test_init_failure_raises_target_error(target):
    os.chmod(target.refbox.box_root, 0o700)
    with pytest.raises(TargetError, match="searchable"):
        target.init(BOX_B)


def test_time_scale_stretches_the_cpu_limit_of_every_run(target):
    # A spinner under a 0.1 s CPU limit, stretched 4x: killed only after 0.4 s of CPU, still TLE.
    target.time_scale = 4.0
    target.init(BOX_B)
    spin = dataclasses.replace(LIMITS, cpu_s=0.1, wall_s=30.0)
    result = target.run(BOX_B, ["/bin/sh", "-c", "while :; do :; done"], spin, {})
    assert result.verdict == "TLE" and result.cpu_s >= 0.4, result
    assert target.version().endswith("time limits x4)")
    assert target.cleanup(BOX_B).ok


def test_the_scaled_limits_are_what_a_wrapper_judges_against(target):
    """The crash stage's survivor check measures against the limits the sandbox enforces: with
    time_scale, the scaled ones, through any wrapper (a nemesis wraps the target)."""
    target.time_scale = 20.0
    wrapped = Delegating(target)
    assert (wrapped.enforced(LIMITS).cpu_s, wrapped.enforced(LIMITS).wall_s) == (
        LIMITS.cpu_s * 20,
        LIMITS.wall_s * 20,
    )
    target.time_scale = 1.0
    assert wrapped.enforced(LIMITS) == LIMITS


@pytest.mark.parametrize("value", ["0.5", "fast", "1e9"])
def test_time_scale_out_of_range_is_a_one_line_usage_error(value):
    with pytest.raises(UsageError, match=r"^time_scale must be a number from 1 to 1000, got '.*'$"):
        load_target("builtin", {"time_scale": value})
