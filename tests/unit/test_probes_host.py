"""The /proc readers on this very host (real files, no fixtures needed)."""

from __future__ import annotations

import os

import pytest

from reliability.errors import UsageError
from reliability.probes import host, snapshot, validate_snapshot
from reliability.targets.base import Owned


def test_mountinfo_line_with_optional_fields_and_escapes() -> None:
    line = "36 25 0:32 / /run/my\\040box rw,relatime shared:7 master:1 - tmpfs refbox\\134x rw,size=1024k"
    m = host.parse_mountinfo_line(line)
    assert m["id"] == 36 and m["parent"] == 25 and m["device"] == "0:32"
    assert m["mount_point"] == "/run/my box"
    assert (m["fstype"], m["source"]) == ("tmpfs", "refbox\\x")
    assert m["super_options"] == ["rw", "size=1024k"]


def test_cgroup_hierarchies_keep_one_mount_per_hierarchy() -> None:
    lines = [
        "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct",
        "33 31 0:29 / /mnt/again rw - cgroup cgroup rw,cpu,cpuacct",
        "34 31 0:30 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd",
        "35 31 0:31 /sub /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate",
        "36 31 0:32 / /tmp rw - tmpfs tmpfs rw",
    ]
    mounts = [host.parse_mountinfo_line(line) for line in lines]
    hierarchies = host.cgroup_hierarchies(mounts)
    assert [(h["mount_point"], h["version"], h["controllers"], h["root"]) for h in hierarchies] == [
        ("/sys/fs/cgroup/cpu,cpuacct", 1, ["cpu", "cpuacct"], "/"),
        ("/sys/fs/cgroup/systemd", 1, ["name=systemd"], "/"),
        ("/sys/fs/cgroup/unified", 2, [], "/sub"),
    ]


def test_read_process_of_ourselves() -> None:
    me = host.read_process(os.getpid())
    assert me is not None
    assert (me["pid"], me["ppid"], me["uid"], me["status"]) == (os.getpid(), os.getppid(), os.getuid(), "R")
    assert me["name"] == host.read_bytes("/proc/self/comm").decode().strip()
    assert me["cgroups"] == host.read_bytes("/proc/self/cgroup").decode().splitlines()


def test_read_process_of_a_pid_that_does_not_exist() -> None:
    with open("/proc/sys/kernel/pid_max") as f:
        assert host.read_process(int(f.read()) + 1) is None


def test_every_mounted_cgroup_hierarchy_is_walked() -> None:
    hierarchies = host.cgroup_hierarchies(host.read_mountinfo())
    cgroups = host.walk_cgroups(hierarchies)
    assert {h["mount_point"] for h in hierarchies} <= set(cgroups)
    assert all(os.path.isdir(path) for path in cgroups[:50] if os.path.exists(path))


def test_a_real_snapshot_is_valid_and_skips_missing_roots(tmp_path) -> None:
    (tmp_path / "kept").mkdir()
    owned = Owned(box_root=str(tmp_path / "no-such-box-root"), temp_roots=[str(tmp_path)])
    snap = snapshot(owned, os.getpid(), extra_pids=[os.getpid(), 1])
    validate_snapshot(snap)
    assert snap["temp"] == [{"path": str(tmp_path / "kept"), "kind": "dir"}]
    assert snap["fd_pids"] == [os.getpid(), 1]
    assert any(p["pid"] == 1 for p in snap["processes"])


def test_a_pipeline_pid_that_is_not_running_is_a_usage_error(tmp_path) -> None:
    with open("/proc/sys/kernel/pid_max") as f:
        missing = int(f.read()) + 1
    with pytest.raises(UsageError, match=f"^pipeline pid {missing} is not a running process$"):
        snapshot(Owned(box_root=str(tmp_path)), missing)


def test_the_samplers_cheap_counts_agree_with_the_full_readers():
    """count_processes and count_mounts (read with every sample) against the snapshot's readers. Other
    work on the host starts processes and mounts between two readings, so a few tries are allowed; a
    count of the wrong things (/proc's other entries, mountinfo's blank lines) would be off every time."""
    from reliability.probes.host import count_mounts, count_processes, read_mountinfo, read_processes

    processes = [(count_processes(), len(read_processes())) for _ in range(5)]
    assert any(abs(a - b) <= 2 for a, b in processes), processes
    mounts = [(count_mounts(), len(read_mountinfo())) for _ in range(5)]
    assert any(a == b for a, b in mounts), mounts


def test_an_fd_open_for_one_of_the_two_reads_is_nobodys_and_one_open_for_both_is_kept(tmp_path, monkeypatch):
    """Another thread of the pipeline opens a file for a moment (the sampler's /proc/stat): caught by
    one read of the fd table only, it was reported as a leak (or, in the snapshot before, as a gone fd).
    Here the moment falls between the two reads: `passing` is open for the first only, `arriving` for
    the second only, `kept` for both, as a leak would be."""
    kept = os.open("/proc/loadavg", os.O_RDONLY)
    passing = os.open("/proc/stat", os.O_RDONLY)
    arriving: list[int] = []
    real = host.read_mountinfo

    def meanwhile():  # what the other thread does while the snapshot reads the rest of the host
        os.close(passing)
        arriving.append(os.open("/proc/uptime", os.O_RDONLY))
        return real()

    monkeypatch.setattr(host, "read_mountinfo", meanwhile)
    try:
        snap = snapshot(Owned(box_root=str(tmp_path)), os.getpid())
    finally:
        os.close(kept)
        os.close(arriving[0])
    targets = {d["target"] for d in snap["fds"] if d["pid"] == os.getpid()}
    assert "/proc/loadavg" in targets
    assert not targets & {"/proc/stat", "/proc/uptime"}, targets
