"""The noise rules of reliability.probes.diff, one by one, on small hand-written snapshots.

The diff is a pure function of two snapshots; the real host is exercised in
tests/integration/test_probes_planted_leaks.py.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest

from reliability.errors import UsageError
from reliability.probes import diff, validate_snapshot
from reliability.targets.base import Owned

PIPELINE = 100
OWNED = Owned(
    box_root="/run/refbox",
    cgroup_roots=["/sys/fs/cgroup/pids/refbox", "/sys/fs/cgroup/unified/refbox/"],
    uid_range=(60000, 60099),
    temp_roots=["/tmp/refbox"],
)
V1_PIDS = {"mount_point": "/sys/fs/cgroup/pids", "root": "/", "version": 1, "controllers": ["pids"]}
V2 = {"mount_point": "/sys/fs/cgroup/unified", "root": "/", "version": 2, "controllers": []}


def proc(pid, ppid=1, uid=0, name="sleep", start=1000, status="S", cgroups=("8:pids:/", "0::/")) -> dict:
    return {
        "pid": pid,
        "ppid": ppid,
        "uid": uid,
        "name": name,
        "starttime": start,
        "status": status,
        "cgroups": list(cgroups),
    }


BASE = {
    "version": 1,
    "taken_at": 1.0,
    "boot_id": "boot-1",
    "pipeline_pid": PIPELINE,
    "processes": [proc(1, ppid=0, name="init", start=1), proc(PIPELINE, ppid=1, name="python3", start=50)],
    "mounts": [{"id": 20, "parent": 1, "mount_point": "/", "fstype": "ext4", "source": "/dev/vda"}],
    "hierarchies": [V1_PIDS, V2],
    "cgroups": ["/sys/fs/cgroup/pids", "/sys/fs/cgroup/pids/refbox", "/sys/fs/cgroup/unified"],
    "fd_pids": [PIPELINE],
    "fds": [{"pid": PIPELINE, "fd": 0, "target": "/dev/null"}],
    "temp_roots": ["/tmp/refbox", "/run/refbox"],
    "temp": [],
}


def with_(snap: dict, **extra_lists) -> dict:
    """A copy of `snap` with items appended to some of its lists."""
    out = copy.deepcopy(snap)
    for key, items in extra_lists.items():
        out[key] = out[key] + list(items)
    return out


def run(after: dict, before: dict = BASE, owned: Owned = OWNED):
    validate_snapshot(before)
    validate_snapshot(after)
    return diff(before, after, owned, PIPELINE)


def test_identical_snapshots_have_no_leaks_and_no_noise() -> None:
    leaks = run(BASE)
    assert leaks.total() == 0 and leaks.noise == []


@pytest.mark.parametrize("uid, ours", [(59999, False), (60000, True), (60099, True), (60100, False)])
def test_uid_range_is_inclusive(uid: int, ours: bool) -> None:
    leaks = run(with_(BASE, processes=[proc(500, uid=uid)]))
    assert (leaks.processes == [f"process 500 (sleep) uid {uid}"]) is ours
    assert bool(leaks.noise) is not ours


@pytest.mark.parametrize(
    "line, label",
    [
        ("8:pids:/refbox/box-3", "pids:/refbox/box-3"),
        ("8:pids:/refbox", "pids:/refbox"),
        ("0::/refbox/box-1", "cgroup2:/refbox/box-1"),
    ],
)
def test_a_process_in_an_owned_cgroup_is_the_sandboxs(line: str, label: str) -> None:
    leaks = run(with_(BASE, processes=[proc(500, cgroups=[line])]))
    assert leaks.processes == [f"process 500 (sleep) uid 0 cgroup {label}"]


@pytest.mark.parametrize("line", ["8:pids:/refbox2/box-3", "8:pids:/other", "4:memory:/refbox/box-3"])
def test_cgroups_that_only_look_owned_are_not(line: str) -> None:
    # /refbox2 shares a prefix with /refbox; memory is not mounted here, so it resolves nowhere.
    leaks = run(with_(BASE, processes=[proc(500, cgroups=[line])]))
    assert leaks.processes == [] and len(leaks.noise) == 1


def test_cgroup_paths_resolve_through_the_mount_root() -> None:
    # A hierarchy mounted from a subtree (cgroup namespace, bind mount): /proc/PID/cgroup shows
    # /ns/refbox/x, which lives at <mount point>/refbox/x.
    before = copy.deepcopy(BASE)
    before["hierarchies"] = [{**V1_PIDS, "root": "/ns"}]
    leaks = run(with_(before, processes=[proc(500, cgroups=["8:pids:/ns/refbox/x"])]), before)
    assert leaks.processes == ["process 500 (sleep) uid 0 cgroup pids:/ns/refbox/x"]


def test_descendants_of_the_pipeline_are_the_sandboxs_others_are_noise() -> None:
    after = with_(
        BASE,
        processes=[proc(500, ppid=PIPELINE), proc(501, ppid=500), proc(502, ppid=1)],
    )
    leaks = run(after)
    assert leaks.processes == ["process 500 (sleep) uid 0", "process 501 (sleep) uid 0"]
    assert leaks.noise == [
        f"process 502 (sleep) uid 0: not the sandbox's: uid outside box range, in no owned cgroup, "
        f"not under pipeline {PIPELINE}"
    ]


def test_a_parent_loop_does_not_hang_the_ancestry_walk() -> None:
    leaks = run(with_(BASE, processes=[proc(500, ppid=501), proc(501, ppid=500)]))
    assert leaks.processes == [] and len(leaks.noise) == 2


def test_a_reused_pid_is_a_new_process() -> None:
    before = with_(BASE, processes=[proc(500, ppid=PIPELINE, start=2000)])
    same = run(before, before)
    reused = run(with_(BASE, processes=[proc(500, ppid=PIPELINE, start=2001)]), before)
    assert same.processes == []
    assert reused.processes == ["process 500 (sleep) uid 0"]


def test_zombies_are_counted_apart() -> None:
    before = with_(BASE, processes=[proc(600, ppid=PIPELINE, start=7)])
    after = with_(
        BASE,
        processes=[
            proc(600, ppid=PIPELINE, start=7, status="Z"),  # was alive, now an unreaped child
            proc(601, ppid=1, uid=60001, status="Z"),  # box uid, orphaned
            proc(602, ppid=1, status="Z"),  # someone else's
        ],
    )
    leaks = run(after, before)
    assert leaks.processes == []
    assert leaks.zombies == [
        f"zombie 600 (sleep) uid 0 parent {PIPELINE}",
        "zombie 601 (sleep) uid 60001 parent 1",
    ]
    assert [n.split(":")[0] for n in leaks.noise] == ["zombie 602 (sleep) uid 0 parent 1"]


def test_a_zombie_already_there_before_is_not_new() -> None:
    before = with_(BASE, processes=[proc(600, ppid=PIPELINE, status="Z")])
    assert run(before, before).zombies == []


def test_the_pipeline_itself_is_never_a_leak() -> None:
    before = copy.deepcopy(BASE)
    before["processes"] = [p for p in before["processes"] if p["pid"] != PIPELINE]
    assert run(BASE, before).total() == 0


def test_a_new_mount_under_the_targets_roots_is_a_leak_and_a_remount_in_place_is_not() -> None:
    box = {"id": 40, "parent": 20, "mount_point": "/run/refbox/3", "fstype": "tmpfs", "source": "refbox"}
    before = with_(BASE, mounts=[box])
    remounted = with_(BASE, mounts=[{**box, "id": 41}])
    stacked = with_(before, mounts=[{**box, "id": 42}])
    elsewhere = with_(before, mounts=[{**box, "id": 43, "mount_point": "/mnt/x"}])
    assert run(remounted, before).mounts == []
    assert run(stacked, before).mounts == ["mount tmpfs on /run/refbox/3"]
    assert run(elsewhere, before).mounts == []  # another tool's mount: noise, named with the rule
    assert run(elsewhere, before).noise == [
        "mount tmpfs on /mnt/x: not under the target's box, temp or mount roots"
    ]
    in_temp = with_(before, mounts=[{**box, "id": 44, "mount_point": "/tmp/refbox/x"}])
    assert run(in_temp, before).mounts == ["mount tmpfs on /tmp/refbox/x"]


def test_new_cgroups_under_owned_roots_leak_others_are_noise() -> None:
    after = with_(
        BASE,
        cgroups=[
            "/sys/fs/cgroup/pids/refbox/box-3",
            "/sys/fs/cgroup/pids/refbox/box-3/x",
            "/sys/fs/cgroup/unified/refbox",  # an owned root appearing is not a leak
            "/sys/fs/cgroup/pids/system.slice",
        ],
    )
    leaks = run(after)
    assert leaks.cgroups == [
        "cgroup /sys/fs/cgroup/pids/refbox/box-3",
        "cgroup /sys/fs/cgroup/pids/refbox/box-3/x",
    ]
    assert sorted(leaks.noise) == [
        "cgroup /sys/fs/cgroup/pids/system.slice: outside owned cgroup roots",
        "cgroup /sys/fs/cgroup/unified/refbox: outside owned cgroup roots",
    ]


def test_new_fds_of_probed_pids_leak() -> None:
    after = with_(BASE, fds=[{"pid": PIPELINE, "fd": 7, "target": "/run/refbox/3/out"}])
    assert run(after).fds == [f"fd 7 -> /run/refbox/3/out (pid {PIPELINE})"]


def test_a_listing_of_proc_open_in_a_pipeline_thread_is_noise() -> None:
    """The sampler lists /proc in its own thread: caught open by one snapshot and not the other, it is
    not a leak, nor (the same diff reversed: recover_and_compare's "gone") something recover took."""
    scans = [
        {"pid": PIPELINE, "fd": 8 + i, "target": t}
        for i, t in enumerate(("/proc", "/proc/7/task", "/proc/7/fd"))
    ]
    kept = {"pid": PIPELINE, "fd": 20, "target": "/proc/7/environ"}  # a file of a process, not a listing
    leaks = run(with_(BASE, fds=[*scans, kept]))
    assert leaks.fds == [f"fd 20 -> /proc/7/environ (pid {PIPELINE})"]
    assert sum("a listing of /proc by one of the pipeline's threads" in n for n in leaks.noise) == 3
    other = with_(BASE, processes=[proc(700)], fd_pids=[700])
    foreign = with_(other, fds=[{"pid": 700, "fd": 8, "target": "/proc"}])
    assert run(foreign, other).fds == ["fd 8 -> /proc (pid 700)"]  # a sandbox's process: still a leak


def test_an_fd_number_reused_for_another_file_is_new() -> None:
    before = with_(BASE, fds=[{"pid": PIPELINE, "fd": 7, "target": "/a"}])
    after = with_(BASE, fds=[{"pid": PIPELINE, "fd": 7, "target": "/b"}])
    assert run(after, before).fds == [f"fd 7 -> /b (pid {PIPELINE})"]


def test_fds_of_a_pid_not_probed_before_or_restarted_are_not_compared() -> None:
    keeper = proc(700, start=5)
    before = with_(BASE, processes=[keeper], fd_pids=[700])
    after = with_(
        BASE,
        processes=[{**keeper, "starttime": 6}, proc(701)],
        fd_pids=[700, 701],
        fds=[{"pid": 700, "fd": 3, "target": "/x"}, {"pid": 701, "fd": 3, "target": "/y"}],
    )
    leaks = run(after, before)
    assert leaks.fds == []
    assert [n for n in leaks.noise if n.startswith("fds of pid")] == [
        "fds of pid 700: not probed before (or a new process), not compared",
        "fds of pid 701: not probed before (or a new process), not compared",
    ]


def test_new_temp_entries_leak_and_name_their_kind() -> None:
    after = with_(
        BASE,
        temp=[{"path": "/run/refbox/3", "kind": "dir"}, {"path": "/tmp/refbox/f", "kind": "file"}],
    )
    assert run(after).temp_dirs == ["temp dir /run/refbox/3", "temp file /tmp/refbox/f"]


def test_a_directory_holding_declared_state_files_is_not_a_temp_leak() -> None:
    """A sandbox that makes its state directory on first use declared it (owns/state_files): the
    directory named literally on the way to them is noise; a wildcard step excuses no box directory."""
    owned = dataclasses.replace(OWNED, state_files=["/run/refbox/.state/*/state.json", "/run/refbox/*/meta"])
    after = with_(
        BASE,
        temp=[{"path": "/run/refbox/.state", "kind": "dir"}, {"path": "/run/refbox/3", "kind": "dir"}],
    )
    leaks = run(after, owned=owned)
    assert leaks.temp_dirs == ["temp dir /run/refbox/3"]
    assert leaks.noise == ["temp dir /run/refbox/.state: holds the target's declared state files"]
    assert run(after).temp_dirs == ["temp dir /run/refbox/.state", "temp dir /run/refbox/3"]


def test_snapshots_of_different_boots_are_refused() -> None:
    with pytest.raises(UsageError, match="different boots"):
        run({**BASE, "boot_id": "boot-2"})


@pytest.mark.parametrize(
    "broken, message",
    [
        (
            {**BASE, "processes": [{k: v for k, v in proc(5).items() if k != "cgroups"}]},
            "after snapshot is not valid: processes/0: 'cgroups' is a required",
        ),
        (
            {k: v for k, v in BASE.items() if k != "mounts"},
            "after snapshot is not valid: (top): 'mounts' is a required",
        ),
        ("not a snapshot", "after snapshot is not valid: (top): 'not a snapshot' is not of type 'object'"),
    ],
)
def test_a_malformed_snapshot_is_a_one_line_usage_error(broken, message: str) -> None:
    with pytest.raises(UsageError) as info:
        diff(BASE, broken, OWNED, PIPELINE)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


# -- this run's box paths: the target's wherever they are (isolate 1.x claims no cgroup root) -------
ISOLATE_LIKE = Owned(
    box_root="/var/local/lib/isolate",
    uid_range=(60000, 60999),
    box_paths=["/sys/fs/cgroup/memory/box-7", "/var/lib/judge/boxes/7"],
)


def test_a_box_cgroup_left_is_a_leak_though_no_cgroup_root_is_claimed() -> None:
    after = with_(BASE, cgroups=["/sys/fs/cgroup/memory/box-7", "/sys/fs/cgroup/memory/box-8"])
    leaks = diff(BASE, after, ISOLATE_LIKE, PIPELINE)
    assert leaks.cgroups == ["cgroup /sys/fs/cgroup/memory/box-7"]
    # another run's box (8) on the same host is noise, not this run's leak
    assert "cgroup /sys/fs/cgroup/memory/box-8: outside owned cgroup roots" in leaks.noise


def test_a_box_dir_left_outside_the_box_root_is_a_leak() -> None:
    after = dict(copy.deepcopy(BASE), box_paths=["/var/lib/judge/boxes/7"])
    assert diff(BASE, after, ISOLATE_LIKE, PIPELINE).temp_dirs == ["box dir /var/lib/judge/boxes/7"]
    validate_snapshot(after)
