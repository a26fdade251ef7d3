"""The cgroup v2 backend against a temporary directory laid out like cgroupfs, for what a real v2
kernel cannot show: kernels without swap accounting, memory.peak (before 5.19) or cgroup.kill
(before 5.14), and a root lacking controllers; plus detection and the v1 mountinfo parser.
Everything a current kernel does is tested for real in tests/integration/test_cgroup_v2_real_kernel.py
(`nox -s tests_cgroup_v2` boots one in a VM).

The fake "kernel" below creates the files cgroupfs would show in a new cgroup, with the formats of
Documentation/admin-guide/cgroup-v2.rst.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
from pathlib import Path

import pytest

from reliability.refbox import cgroups
from reliability.refbox.cgroups import CgroupError, CgroupV1, CgroupV2, detect, v1_roots_from_mountinfo
from reliability.refbox.supervisor import decide

KERNEL_FILES = {
    "cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma misc\n",
    "cgroup.subtree_control": "",
    "cgroup.procs": "",
    "cgroup.kill": "",
    "memory.max": "max\n",
    "memory.swap.max": "max\n",
    "memory.peak": "0\n",
    "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
    "pids.max": "max\n",
    "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n",
}


def populate(directory: Path, **overrides: str) -> None:
    """What the kernel does on mkdir in cgroupfs: the interface files appear."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in {**KERNEL_FILES, **overrides}.items():
        (directory / name).write_text(text)


@pytest.fixture
def fake_root(tmp_path: Path) -> Path:
    populate(tmp_path, **{"cgroup.subtree_control": "memory\n"})
    return tmp_path


def test_v2_backend_on_fake_cgroupfs_without_swap_accounting_skips_swap_max(fake_root):
    populate(fake_root / "run")
    (fake_root / "run" / "memory.swap.max").unlink()
    CgroupV2(str(fake_root)).set_limits("run", 1 << 20, 2)
    assert not (fake_root / "run" / "memory.swap.max").exists()
    assert (fake_root / "run" / "memory.max").read_text() == str(1 << 20)


def test_v2_backend_on_fake_cgroupfs_before_linux_5_19_has_no_peak(fake_root):
    populate(fake_root / "run")
    (fake_root / "run" / "memory.peak").unlink()
    assert CgroupV2(str(fake_root)).peak_memory_bytes("run") is None


def test_v2_backend_on_fake_cgroupfs_without_cgroup_kill_signals_each_listed_process(fake_root):
    child = subprocess.Popen(["sleep", "30"])
    try:
        populate(fake_root / "run", **{"cgroup.procs": f"{child.pid}\n"})
        (fake_root / "run" / "cgroup.kill").unlink()
        CgroupV2(str(fake_root))._kill_once("run")
        assert child.wait() == -signal.SIGKILL
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("code", [errno.ENODEV, errno.ENOENT], ids=["being removed", "removed"])
def test_v2_backend_on_fake_cgroupfs_a_cgroup_removed_while_killed_has_nothing_left_to_kill(
    fake_root, monkeypatch, code
):
    """A run's supervisor removes its run cgroup once the program is dead; a recover killing the box
    at that moment writes cgroup.kill, or reads cgroup.procs, of a cgroup the kernel is taking down
    (ENODEV) or has taken (ENOENT). The real v2 kernel in the VM showed it ("recover --all" failed
    with "No such device"), but not on demand: this fake kernel answers so on every call."""
    populate(fake_root / "run")

    def gone(path, *args):
        raise OSError(code, os.strerror(code), path)

    monkeypatch.setattr(cgroups, "write_text", gone)
    monkeypatch.setattr(cgroups, "read_text", gone)
    backend = CgroupV2(str(fake_root))
    assert backend.pids("run") == []
    backend._kill_once("run")
    assert backend.kill_all("run") == []


def test_detect_picks_v2_on_fake_cgroupfs_offering_memory_and_pids(fake_root):
    assert isinstance(detect(v2_root=str(fake_root)), CgroupV2)


MOUNTINFO_V1 = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/mem\\040ory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""


def test_v1_roots_are_read_from_mountinfo_including_comounts_and_escapes():
    roots = v1_roots_from_mountinfo(MOUNTINFO_V1)
    assert roots["cpuacct"] == roots["cpu"] == "/sys/fs/cgroup/cpu,cpuacct"
    assert roots["memory"] == "/sys/fs/cgroup/mem ory"
    assert roots["pids"] == "/sys/fs/cgroup/pids"
    assert "cgroup2" not in roots.values() and "unified" not in "".join(roots.values())


def test_detect_falls_back_to_v1_when_the_v2_root_has_no_controllers(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("\n")  # like /sys/fs/cgroup/unified here
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(MOUNTINFO_V1)
    backend = detect(v2_root=str(tmp_path), mountinfo=str(mountinfo))
    assert isinstance(backend, CgroupV1)
    assert backend.dirs("x") == [
        "/sys/fs/cgroup/mem ory/x",
        "/sys/fs/cgroup/pids/x",
        "/sys/fs/cgroup/cpu,cpuacct/x",
    ]


def test_detect_without_usable_cgroups_is_a_one_line_error(tmp_path):
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(MOUNTINFO_V1.replace("rw,pids", "rw,devices"))
    with pytest.raises(CgroupError) as err:
        detect(v2_root=str(tmp_path), mountinfo=str(mountinfo))
    assert "pids" in str(err.value) and "\n" not in str(err.value)


def test_detect_on_this_host_matches_what_is_mounted():
    backend = detect()
    expected = 2 if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else 1
    assert backend.version == expected


@pytest.mark.parametrize(
    "args, verdict",
    [
        (("cpu time limit exceeded", 1, None, 9, 0, 10), "TLE"),
        ((None, 1, None, 9, 10, 10), "MLE"),
        ((None, 0, None, signal.SIGXFSZ, 10, 100), "OLE"),
        ((None, 0, 1, None, 100, 100), "OLE"),
        ((None, 0, None, signal.SIGSEGV, 0, 100), "RE"),
        ((None, 0, 3, None, 0, 100), "RE"),
        ((None, 0, 0, None, 99, 100), "OK"),
    ],
)
def test_verdict_order_is_tle_mle_ole_re_ok(args, verdict):
    assert decide(*args)[0] == verdict
