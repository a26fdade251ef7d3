"""Each fault has its effect while held and undoes itself on exit, also when interrupted (KeyboardInterrupt
raised inside, as a Ctrl-C in the main thread would be)."""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import shutil
import tempfile
import time
from contextlib import contextmanager

import pytest
from refbox_fixtures import alive

from reliability.nemesis import busy_mount, disk_full, fd_limit, foreign_process, mount_in_temp, pressure
from reliability.refbox import mounts

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts and cgroups need root")
PID = os.getpid()


@contextmanager
def maybe_interrupted(interrupt: bool):
    """Run the body; with `interrupt`, leave it by a KeyboardInterrupt, which must not escape the test."""
    try:
        yield
        if interrupt:
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        if not interrupt:
            raise


@pytest.fixture
def tmpfs():
    with disk_full.small_tmpfs(4, prefix="test-faults-") as point:
        yield point
    assert not os.path.exists(point)


@pytest.mark.parametrize("interrupt", [False, True])
def test_busy_mount_holds_the_mount_until_left(tmpfs, interrupt):
    with maybe_interrupted(interrupt):
        with busy_mount.hold_busy(tmpfs) as pid:
            holder = pid
            assert os.readlink(f"/proc/{pid}/cwd") == tmpfs
            with pytest.raises(OSError) as busy:
                mounts.unmount(tmpfs)
            assert busy.value.errno == errno.EBUSY
    assert not alive(holder)


@pytest.mark.parametrize("interrupt", [False, True])
def test_foreign_process_keeps_the_cgroup_until_left(interrupt):
    cgroup = f"/sys/fs/cgroup/pids/test-faults-{PID}"
    if not os.path.isdir("/sys/fs/cgroup/pids"):
        cgroup = f"/sys/fs/cgroup/test-faults-{PID}"
    os.mkdir(cgroup)
    try:
        with maybe_interrupted(interrupt):
            with foreign_process.in_cgroup(cgroup) as pid:
                intruder = pid
                assert str(pid) in open(os.path.join(cgroup, "cgroup.procs")).read().split()
                with pytest.raises(OSError) as busy:
                    os.rmdir(cgroup)
                assert busy.value.errno == errno.EBUSY
        assert not alive(intruder)
    finally:
        os.rmdir(cgroup)  # passes only if the fault left the cgroup empty


@pytest.mark.parametrize("interrupt", [False, True])
def test_disk_full_fills_its_tmpfs_and_frees_it(tmpfs, interrupt):
    free_before = shutil.disk_usage(tmpfs).free
    with maybe_interrupted(interrupt):
        with disk_full.filled(tmpfs) as written:
            assert written > 0 and shutil.disk_usage(tmpfs).free == 0
            with pytest.raises(OSError) as full:
                with open(os.path.join(tmpfs, "one-more"), "wb") as f:
                    f.write(b"x" * 8192)
                    f.flush()
            assert full.value.errno == errno.ENOSPC
    assert shutil.disk_usage(tmpfs).free >= free_before - 64 * 1024  # the one-more file's inode at most
    assert not [n for n in os.listdir(tmpfs) if n.startswith(".fault-fill")]


def test_disk_full_refuses_anything_but_a_small_tmpfs():
    with pytest.raises(ValueError, match="refusing to fill"):
        with disk_full.filled(os.path.dirname(os.path.abspath(__file__))):
            pass


@pytest.mark.parametrize("interrupt", [False, True])
def test_fd_limit_is_lowered_for_children_and_restored(interrupt):
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    with maybe_interrupted(interrupt):
        with fd_limit.lowered_nofile(20) as limit:
            assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == limit < before[0]
            with fd_limit.many_fds(2000) as pid:
                helper = pid
                assert len(os.listdir(f"/proc/{pid}/fd")) >= 2000
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == before
    assert not alive(helper)


@pytest.mark.parametrize("interrupt", [False, True])
def test_mount_in_temp_dir_blocks_its_removal_until_left(interrupt):
    directory = tempfile.mkdtemp(prefix=f"test-faults-{PID}-")
    try:
        with maybe_interrupted(interrupt):
            with mount_in_temp.mount_inside(directory) as point:
                assert mounts.is_mounted(point)
                with pytest.raises(OSError):
                    os.rmdir(point)
        assert os.listdir(directory) == []
    finally:
        shutil.rmtree(directory)


@pytest.mark.skipif(bool(pressure.missing()), reason=pressure.missing() or "stress-ng present")
@pytest.mark.parametrize("kind", pressure.KINDS)
def test_pressure_is_bounded_and_ended(kind):
    argv = pressure.command(kind, 30)
    assert argv[argv.index("--timeout") + 1] == "30s"
    with maybe_interrupted(True):
        with pressure.pressure(kind, 30) as (pid, _):
            stressor = pid
            assert alive(pid)
            raise KeyboardInterrupt
    assert not alive(stressor)
    group = [p for p in os.listdir("/proc") if p.isdigit() and _pgid(int(p)) == stressor]
    assert group == []


def _pgid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(") ", 1)[1].split()[2])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def _frozen(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return False
    return any(":freezer:/reliability-fault-" in line for line in lines)


@pytest.mark.skipif(
    bool(foreign_process.frozen_unavailable()), reason=foreign_process.frozen_unavailable() or "freezer"
)
@pytest.mark.parametrize("interrupt", [False, True])
def test_frozen_foreign_process_outlives_sigkill_and_keeps_the_cgroup_until_left(interrupt):
    cgroup = f"/sys/fs/cgroup/pids/test-faults-frozen-{PID}"
    os.mkdir(cgroup)
    freezers_before = set(os.listdir(foreign_process.FREEZER_ROOT))
    try:
        with maybe_interrupted(interrupt):
            with foreign_process.frozen_in_cgroups([cgroup]) as pid:
                intruder = pid
                assert str(pid) in open(os.path.join(cgroup, "cgroup.procs")).read().split()
                assert _frozen(pid)
                os.kill(pid, 9)  # stays pending: a frozen task does not die until thawed
                time.sleep(0.2)
                assert str(pid) in open(os.path.join(cgroup, "cgroup.procs")).read().split()
                with pytest.raises(OSError) as busy:
                    os.rmdir(cgroup)
                assert busy.value.errno == errno.EBUSY
        assert not alive(intruder)
        assert set(os.listdir(foreign_process.FREEZER_ROOT)) == freezers_before  # its freezer cgroup gone
    finally:
        os.rmdir(cgroup)  # passes only if the fault left the cgroup empty


def test_the_cgroup_removal_fault_is_real_on_v1_and_a_failpoint_with_the_reason_on_v2():
    from types import SimpleNamespace

    from reliability.nemesis import cleanup_step

    def target(version: int, **parts) -> SimpleNamespace:  # BoxCgroups on a host of `version`
        return SimpleNamespace(
            cgroup_version=version,
            box_cgroup_dirs=lambda box: [f"/sys/fs/cgroup/memory/refbox/box-{box}"],
            name="builtin",
            **parts,
        )

    with_failpoints = {"failing": lambda point: contextlib.nullcontext()}  # the Failpoints part

    v2 = cleanup_step.how("remove cgroup", target(2, **with_failpoints))
    assert v2.startswith("failpoint cleanup.remove_cgroup=error (cgroup v2:") and "cgroup.kill" in v2
    if not foreign_process.frozen_unavailable():
        assert cleanup_step.how("remove cgroup", target(1, **with_failpoints)) == cleanup_step.FROZEN
        assert cleanup_step.cannot(target(1), "remove cgroup") == ""  # no failpoint needed on v1
    assert cleanup_step.cannot(target(2, **with_failpoints), "remove cgroup") == ""
    assert "has no failpoints" in cleanup_step.cannot(target(2), "remove cgroup")
