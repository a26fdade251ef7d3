"""probes.diff on the paths that trip string handling: a cgroup path with a colon, joined controllers
("cpu,cpuacct"), a process at a hierarchy's mount root, a v2-only owned root, trailing slashes, and the
temp entries that are not directories."""

from __future__ import annotations

import copy

from test_probes_diff_rules import BASE, OWNED, V1_PIDS, V2, proc, run, with_

from reliability.targets.base import Owned

CPU = {
    "mount_point": "/sys/fs/cgroup/cpu,cpuacct/",
    "root": "/",
    "version": 1,
    "controllers": ["cpu", "cpuacct"],
}
OWNED_CPU = Owned(box_root="/run/refbox", cgroup_roots=["/sys/fs/cgroup/cpu,cpuacct/refbox"])


def with_hierarchies(*hierarchies) -> dict:
    snap = copy.deepcopy(BASE)
    snap["hierarchies"] = list(hierarchies)
    return snap


def test_a_cgroup_path_with_a_colon_keeps_it():
    leaks = run(with_(BASE, processes=[proc(500, cgroups=["8:pids:/refbox/box:3"])]))
    assert leaks.processes == ["process 500 (sleep) uid 0 cgroup pids:/refbox/box:3"]


def test_joined_controllers_find_their_hierarchy_and_a_trailing_slash_is_ignored():
    base = with_hierarchies(CPU)
    leaks = run(with_(base, processes=[proc(500, cgroups=["3:cpu,cpuacct:/refbox/b1"])]), base, OWNED_CPU)
    assert leaks.processes == ["process 500 (sleep) uid 0 cgroup cpu,cpuacct:/refbox/b1"]


def test_a_process_at_the_mount_root_resolves_to_the_mount_point():
    base = with_hierarchies({**V1_PIDS, "root": "/ns"})
    owned = Owned(box_root="/run/refbox", cgroup_roots=["/sys/fs/cgroup/pids"])
    leaks = run(with_(base, processes=[proc(500, cgroups=["8:pids:/ns"])]), base, owned)
    assert leaks.processes == ["process 500 (sleep) uid 0 cgroup pids:/ns"]
    leaks = run(with_(base, processes=[proc(501, cgroups=["8:pids:/nsx/a"])]), base, owned)
    assert leaks.processes == []  # beside the mounted subtree, not inside it


def test_only_the_v2_hierarchy_resolves_a_v2_line():
    owned = Owned(box_root="/run/refbox", cgroup_roots=["/sys/fs/cgroup/unified/refbox"])
    v1_first = with_hierarchies({**V1_PIDS, "mount_point": "/sys/fs/cgroup/unified"}, V2)
    leaks = run(with_(v1_first, processes=[proc(500, cgroups=["0::/refbox/b"])]), v1_first, owned)
    assert leaks.processes == ["process 500 (sleep) uid 0 cgroup cgroup2:/refbox/b"]
    v2_at = with_hierarchies(V1_PIDS, {**V2, "mount_point": "/sys/fs/cgroup/v2"})
    leaks = run(with_(v2_at, processes=[proc(501, cgroups=["0::/refbox/b"])]), v2_at, owned)
    assert leaks.processes == []  # the v2 tree is mounted elsewhere: not the owned root


def test_a_root_cgroup_root_owns_everything_below_it_but_not_itself():
    owned = Owned(box_root="/run/refbox", cgroup_roots=["/"])
    leaks = run(with_(BASE, cgroups=["/sys/fs/cgroup/pids/x"]), BASE, owned)
    assert leaks.cgroups == ["cgroup /sys/fs/cgroup/pids/x"]


def test_an_owned_root_with_a_trailing_slash_is_the_same_root():
    leaks = run(with_(BASE, cgroups=["/sys/fs/cgroup/unified/refbox", "/sys/fs/cgroup/unified/refbox/b2"]))
    assert leaks.cgroups == ["cgroup /sys/fs/cgroup/unified/refbox/b2"]
    assert leaks.noise == ["cgroup /sys/fs/cgroup/unified/refbox: outside owned cgroup roots"]
    assert OWNED.cgroup_roots[1].endswith("/")


def test_temp_entries_are_named_by_their_kind():
    after = with_(
        BASE, temp=[{"path": "/tmp/refbox/d", "kind": "dir"}, {"path": "/tmp/refbox/f", "kind": "file"}]
    )
    leaks = run(after)
    assert leaks.temp_dirs == ["temp dir /tmp/refbox/d", "temp file /tmp/refbox/f"]
    assert run(after, after).temp_dirs == []
