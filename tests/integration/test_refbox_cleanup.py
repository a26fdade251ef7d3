"""No run or cleanup leaves anything behind: processes, mounts, cgroups, directories."""

# ruff: noqa: F811 - the fixtures are imported from refbox_fixtures and named as test arguments
from __future__ import annotations

import os
import signal
import tempfile
import threading

import pytest
from refbox_fixtures import BOX_A, BOX_B, LIMITS, alive, box, refbox, wait_until  # noqa: F401 - fixtures
from test_refbox_quarantine import our_leaks, owned

from reliability.nemesis import foreign_process
from reliability.probes import snapshot
from reliability.refbox import mounts
from reliability.targets.base import TargetError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts tmpfs, creates cgroups: needs root")

STEP_NAMES = ["kill", "reap", "close fds", "unmount", "remove cgroup", "remove temp dirs"]


def assert_box_gone(refbox, number: int) -> None:
    path = refbox.box_dir(number)
    assert not mounts.is_mounted(path)
    assert not os.path.lexists(path)
    for directory in refbox.cgroups.dirs(refbox.box_cgroup(number)):
        assert not os.path.exists(directory)


def test_background_double_forked_child_is_killed_through_the_cgroup(refbox, box):
    # The grandchild leaves the program's process group and session: no process-group kill reaches it.
    # The program waits for the grandchild's pid file, not a fixed time: under qemu's TCG starting a
    # shell can take longer than any short sleep.
    script = "(setsid sh -c 'sleep 301 & echo $! > bg; wait' &) ; while [ ! -s bg ]; do sleep 0.01; done; echo started"
    result = refbox.run(box, ["/bin/sh", "-c", script], LIMITS)
    assert (result.verdict, result.stdout) == ("OK", "started\n"), result
    with open(os.path.join(refbox.box_dir(box), "bg")) as f:
        assert int(f.read()) > 0  # it ran (its pid is one of the box's PID namespace, not the host's)
    # Killed by the cgroup kill, or by the kernel when the box's PID namespace lost its init.
    assert not _host_processes(refbox.uid(box), b"sleep\x00301")
    assert not refbox.cgroups.exists(refbox.run_cgroup(box))
    assert refbox.box_pids(box) == []


def _host_processes(uid: int, cmdline: bytes) -> list[int]:
    """Host pids running as `uid` whose command line starts with `cmdline`."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                if f.read().startswith(cmdline):
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_every_verdict_leaves_no_run_cgroup(refbox, box):
    for command in (["/bin/true"], ["/bin/false"], ["sleep", "30"]):
        result = refbox.run(box, command, LIMITS.__class__(**{**LIMITS.to_dict(), "wall_s": 0.3}))
        assert result.raw.get("run_cgroup_removed") is True, result
        assert not refbox.cgroups.exists(refbox.run_cgroup(box))


def test_cleanup_removes_mount_cgroup_and_directory_in_order(refbox):
    refbox.init(BOX_B)
    try:
        assert refbox.status(BOX_B)["mounted"] and refbox.status(BOX_B)["cgroup"]
        assert refbox.run(BOX_B, ["/bin/sh", "-c", "echo x > file"], LIMITS).verdict == "OK"
        outcome = refbox.cleanup(BOX_B)
        assert outcome.ok, outcome
        assert [s["name"] for s in outcome.steps] == STEP_NAMES
        assert_box_gone(refbox, BOX_B)
    finally:
        refbox.recover(BOX_B)


def test_cleanup_with_a_busy_mount_fails_naming_the_step_then_recover_restores(refbox):
    refbox.init(BOX_B)
    home = os.getcwd()  # given back at the end: later tests start `python -m reliability` from it
    try:
        try:
            os.chdir(refbox.box_dir(BOX_B))  # our cwd inside the box keeps the mount busy
            outcome = refbox.cleanup(BOX_B)
        finally:
            os.chdir(home)
        assert not outcome.ok and outcome.quarantined
        assert outcome.error.startswith("unmount:"), outcome
        failed = [s["name"] for s in outcome.steps if not s["ok"]]
        # It stops there: a directory still mounted is never removed.
        assert failed == ["unmount"] and outcome.steps[-1]["name"] == "unmount"
        assert mounts.is_mounted(refbox.box_dir(BOX_B))
        assert not refbox.cleanup(BOX_B).ok  # quarantined: only recover brings it back
        refbox.recover(BOX_B)
        assert_box_gone(refbox, BOX_B)
    finally:
        os.chdir(home)
        refbox.recover(BOX_B)


def test_cleanup_and_copy_never_follow_a_symlink_out_of_the_box(refbox, box):
    outside = tempfile.mkdtemp(prefix=f"refbox-outside-{os.getpid()}-")
    try:
        victim = os.path.join(outside, "victim")
        with open(victim, "w") as f:
            f.write("precious")
        os.chmod(outside, 0o755)
        # The program plants symlinks to a host file under the names the next run will use.
        plant = f"rm -f .stdout .stderr; ln -s {victim} prog; ln -s {victim} .stdout; ln -s {victim} .stderr"
        assert refbox.run(box, ["/bin/sh", "-c", plant], LIMITS).verdict == "OK"
        source = os.path.join(outside, "source")
        with open(source, "w") as f:
            f.write("echo copied")
        result = refbox.run(box, ["/bin/sh", "prog"], LIMITS, {source: "prog"})
        assert (result.verdict, result.stdout) == ("OK", "copied\n"), result
        assert not os.path.islink(os.path.join(refbox.box_dir(box), "prog"))
        outcome = refbox.cleanup(box)
        assert outcome.ok, outcome
        with open(victim) as f:
            assert f.read() == "precious"
        assert sorted(os.listdir(outside)) == ["source", "victim"]
        refbox.init(box)  # the box fixture cleans it up again
    finally:
        for name in ("victim", "source"):
            os.unlink(os.path.join(outside, name))
        os.rmdir(outside)


def test_two_boxes_run_at_once_from_two_threads(refbox, box):
    refbox.init(BOX_B)
    try:
        results: dict[int, object] = {}

        def run(number: int) -> None:
            command = ["/bin/sh", "-c", f"echo box {number}; sleep 1"]
            results[number] = refbox.run(number, command, LIMITS)

        threads = [threading.Thread(target=run, args=(n,)) for n in (box, BOX_B)]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: refbox.box_pids(box) and refbox.box_pids(BOX_B), "both boxes running")
        finally:
            for t in threads:
                t.join()
        for number in (box, BOX_B):
            assert (results[number].verdict, results[number].stdout) == ("OK", f"box {number}\n")
    finally:
        assert refbox.cleanup(BOX_B).ok


def start_run_and_kill_its_supervisor(refbox, number: int) -> tuple[object, list[int]]:
    results: list = []
    thread = threading.Thread(target=lambda: results.append(refbox.run(number, ["sleep", "300"], LIMITS)))
    thread.start()
    try:
        wait_until(lambda: refbox.box_pids(number), "program started")
        left = refbox.box_pids(number)
        os.kill(refbox.supervisor_pid(number), signal.SIGKILL)
    finally:
        thread.join()
    return results[0], left


def test_killed_supervisor_gives_ie_and_recover_removes_what_it_left(refbox, monkeypatch):
    # The box's init dies with its supervisor (PR_SET_PDEATHSIG), taking the program with it, so only
    # the defect that switches that off leaves processes behind for recover to find (else it is a race
    # between their death and the check below).
    monkeypatch.setenv("REFBOX_FAILPOINTS", "defect.keep_orphans")
    refbox.init(BOX_B)
    try:
        result, left = start_run_and_kill_its_supervisor(refbox, BOX_B)
        assert (result.verdict, result.message) == ("IE", "supervisor killed by signal 9")
        assert all(alive(pid) for pid in left)  # nobody cleaned up yet: a real leftover
        assert refbox.status(BOX_B)["run_cgroup"]
        removed = refbox.recover(BOX_B)
        assert {f"process {pid} (cgroup {refbox.run_cgroup(BOX_B)})" for pid in left} <= set(removed)
        assert f"mount {refbox.box_dir(BOX_B)}" in removed
        assert any(item.startswith("cgroup ") for item in removed)
        wait_until(lambda: not any(alive(pid) for pid in left), "leftover program killed")
        assert_box_gone(refbox, BOX_B)
        assert refbox.recover(BOX_B) == []  # nothing left the second time
    finally:
        refbox.recover(BOX_B)


def test_cleanup_after_a_killed_supervisor_kills_the_leftover_through_the_cgroup(refbox):
    refbox.init(BOX_B)
    try:
        result, left = start_run_and_kill_its_supervisor(refbox, BOX_B)
        assert result.verdict == "IE"
        wait_until(lambda: not any(alive(pid) for pid in left), "the box's processes die with it")
        outcome = refbox.cleanup(BOX_B)
        assert outcome.ok, outcome
        assert not any(alive(pid) for pid in left)
        assert_box_gone(refbox, BOX_B)
    finally:
        refbox.recover(BOX_B)


def test_recover_all_finds_boxes_by_directory_mount_and_cgroup(refbox):
    refbox.init(BOX_B)
    os.mkdir(refbox.box_dir(BOX_A))  # a bare directory, as if init died before mounting
    removed = refbox.recover()
    assert f"mount {refbox.box_dir(BOX_B)}" in removed
    assert f"directory {refbox.box_dir(BOX_A)}" in removed
    assert_box_gone(refbox, BOX_B)
    assert_box_gone(refbox, BOX_A)


def test_init_twice_is_refused_and_init_failure_leaves_nothing(refbox, box):
    with pytest.raises(TargetError, match=r"already initialised|busy \(held by this process\)"):
        refbox.init(box)
    blocker = refbox.box_dir(BOX_B)
    with open(blocker, "w"):
        pass  # a file where the box directory should be
    try:
        with pytest.raises(TargetError, match="not a directory"):
            refbox.init(BOX_B)
        assert not refbox.cgroups.exists(refbox.box_cgroup(BOX_B))
    finally:
        os.unlink(blocker)


def test_cleanup_of_a_box_path_that_is_a_symlink_removes_only_the_link(refbox):
    outside = tempfile.mkdtemp(prefix=f"refbox-outside-{os.getpid()}-")
    try:
        with open(os.path.join(outside, "keep"), "w") as f:
            f.write("x")
        os.symlink(outside, refbox.box_dir(BOX_B))
        outcome = refbox.cleanup(BOX_B)
        assert outcome.ok, outcome
        assert not os.path.lexists(refbox.box_dir(BOX_B))
        assert os.listdir(outside) == ["keep"]
    finally:
        if os.path.islink(refbox.box_dir(BOX_B)):
            os.unlink(refbox.box_dir(BOX_B))
        os.unlink(os.path.join(outside, "keep"))
        os.rmdir(outside)


@pytest.mark.skipif(
    bool(foreign_process.frozen_unavailable()), reason=foreign_process.frozen_unavailable() or "freezer"
)
def test_a_frozen_foreign_process_fails_cleanup_at_the_cgroup_step_until_recover(refbox):
    if refbox.cgroups.version != 1:
        pytest.skip("cgroup v2: cgroup.kill kills frozen tasks (the faults stage uses a failpoint there)")
    baseline = snapshot(owned(refbox), os.getpid())
    refbox.init(BOX_B)
    try:
        assert refbox.run(BOX_B, ["/bin/true"], LIMITS).verdict == "OK"
        box_cgroups = refbox.cgroups.dirs(refbox.box_cgroup(BOX_B))
        with foreign_process.frozen_in_cgroups(box_cgroups) as pid:
            intruder = pid
            outcome = refbox.cleanup(BOX_B)
            assert alive(pid)  # the kill step's SIGKILL stays pending while it is frozen
        assert not alive(intruder)
        assert not outcome.ok and outcome.quarantined, outcome
        assert outcome.error.startswith("remove cgroup: cannot remove cgroup"), outcome
        assert "EBUSY" in outcome.error and str(intruder) in outcome.error, outcome
        assert [s["name"] for s in outcome.steps] == STEP_NAMES[:5]  # stopped there, retried
        assert [s["ok"] for s in outcome.steps] == [True] * 4 + [False]
        assert outcome.steps[-1]["attempts"] == 3
        status = refbox.status(BOX_B)
        assert status["status"] == "quarantined" and "remove cgroup" in status["quarantine_reason"]
        assert status["cgroup"] and not status["mounted"]
        with pytest.raises(TargetError, match="quarantined"):
            refbox.init(BOX_B)
        removed = refbox.recover(BOX_B)
        assert any(item.startswith("cgroup ") for item in removed), removed
        assert refbox.status(BOX_B)["status"] == "idle"
        assert_box_gone(refbox, BOX_B)
        assert our_leaks(refbox, baseline) == []
    finally:
        refbox.recover(BOX_B)
