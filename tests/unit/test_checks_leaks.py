"""The leak check over real host snapshots (reliability.probes.snapshot) of this test process.

Processes, zombies, fds and temp dirs are really created between the two snapshots; a mount and a
cgroup are planted in the "after" snapshot instead (mounting and creating cgroups belong to the probe
and refbox tests, which run as root), so these tests run anywhere.
"""

from __future__ import annotations

import copy
import os
import subprocess

import pytest
from synthetic_history import HistoryBuilder, clean_runs

from reliability import probes
from reliability.checks import leaks
from reliability.targets.base import Owned

NAMES = [
    "no leaked processes",
    "no leaked mounts",
    "no leaked cgroups",
    "no leaked fds",
    "no leaked temp dirs",
    "no zombies",
]
CGROUP_ROOT = "/sys/fs/cgroup/pids/reliability-test"


@pytest.fixture
def owned(tmp_path) -> Owned:
    (tmp_path / "tmp").mkdir()
    (tmp_path / "boxes").mkdir()
    return Owned(
        box_root=str(tmp_path / "boxes"), cgroup_roots=[CGROUP_ROOT], temp_roots=[str(tmp_path / "tmp")]
    )


def _snap(owned: Owned) -> dict:
    return probes.snapshot(owned, os.getpid())


def _check(tmp_path, owned, before, after, finished=True):
    b = clean_runs(HistoryBuilder(tmp_path / "h", owned=owned))
    if before is not None:
        b.snapshot("before", before)
    if after is not None:
        b.snapshot("after", after)
    if finished:
        b.end()
    results = leaks.check(b.read())
    assert [r.name for r in results] == NAMES
    return {r.name: r for r in results}


def test_nothing_left_behind_passes_every_kind(tmp_path, owned):
    before = _snap(owned)
    after = _snap(owned)
    checks = _check(tmp_path, owned, before, after)
    assert {n: r.status for n, r in checks.items()} == dict.fromkeys(NAMES, "passed")


def test_real_leftovers_fail_their_kind_and_are_named(tmp_path, owned):
    before = _snap(owned)
    sleeper = subprocess.Popen(["sleep", "300"])
    zombie = subprocess.Popen(["true"])
    os.waitid(os.P_PID, zombie.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    leftover = tmp_path / "tmp" / "box-3-work"
    leftover.mkdir()
    open_file = open(tmp_path / "boxes" / "held-open", "w")  # the leaked fd itself
    try:
        after = _snap(owned)
    finally:
        open_file.close()
        sleeper.kill()
        sleeper.wait()
        zombie.wait()
    checks = _check(tmp_path, owned, before, after)

    assert checks["no leaked processes"].status == "failed"
    assert any(e.startswith(f"process {sleeper.pid} (sleep)") for e in checks["no leaked processes"].evidence)
    assert checks["no zombies"].status == "failed"
    assert any(e.startswith(f"zombie {zombie.pid} (true)") for e in checks["no zombies"].evidence)
    assert checks["no leaked fds"].status == "failed"
    assert any(str(tmp_path / "boxes" / "held-open") in e for e in checks["no leaked fds"].evidence)
    assert checks["no leaked temp dirs"].status == "failed"
    assert f"temp dir {leftover}" in checks["no leaked temp dirs"].evidence
    # The held-open file is also a new entry under the box root: a leftover file, named as such.
    assert f"temp file {tmp_path / 'boxes' / 'held-open'}" in checks["no leaked temp dirs"].evidence
    assert checks["no leaked cgroups"].status == "passed"  # nothing was created under the owned root


def test_a_planted_mount_and_cgroup_fail_their_kinds(tmp_path, owned):
    before = _snap(owned)
    after = copy.deepcopy(before)
    after["mounts"].append(
        {
            "id": 99999,
            "parent": 1,
            "mount_point": f"{owned.box_root}/3",
            "fstype": "tmpfs",
            "source": "refbox",
        }
    )
    after["cgroups"].append(f"{CGROUP_ROOT}/box-3")
    checks = _check(tmp_path, owned, before, after)
    assert checks["no leaked mounts"].status == "failed"
    assert checks["no leaked mounts"].evidence == [f"mount tmpfs on {owned.box_root}/3"]
    assert checks["no leaked cgroups"].status == "failed"
    assert checks["no leaked cgroups"].evidence == [f"cgroup {CGROUP_ROOT}/box-3"]
    assert checks["no leaked processes"].status == "passed"


def test_a_process_that_is_not_the_sandboxs_is_noise_shown_but_not_counted(tmp_path, owned):
    before = _snap(owned)
    after = copy.deepcopy(before)
    stranger = {
        "pid": 4_000_000, "ppid": 1, "uid": 4242, "name": "cron", "starttime": 1,
        "status": "S", "cgroups": ["0::/system.slice/cron.service"],
    }  # fmt: skip
    after["processes"].append(stranger)
    result = _check(tmp_path, owned, before, after)["no leaked processes"]
    assert result.status == "passed"
    assert any("noise (not counted): process 4000000 (cron)" in e for e in result.evidence)


@pytest.mark.parametrize("have", [(), ("before",), ("after",)])
def test_a_missing_snapshot_is_skipped_with_the_reason_never_passed(tmp_path, owned, have):
    snap = _snap(owned)
    before = snap if "before" in have else None
    after = snap if "after" in have else None
    checks = _check(tmp_path, owned, before, after, finished=False)
    for result in checks.values():
        assert result.status == "skipped"
        assert "snapshot in the history (the run did not finish)" in result.message
        for label in {"before", "after"} - set(have):
            assert repr(label) in result.message


def test_a_damaged_snapshot_fails_rather_than_reading_as_no_leaks(tmp_path, owned):
    before = _snap(owned)
    checks = _check(tmp_path, owned, before, {"processes": "garbage"})
    for result in checks.values():
        assert result.status == "failed" and "snapshots cannot be compared" in result.message
