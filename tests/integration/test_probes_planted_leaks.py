"""Plant each kind of leak on the real host between two snapshots; the diff must name it exactly.

Other engineers' processes, mounts and cgroups come and go meanwhile, so these tests assert on the
planted items and on the noise rules, never on an empty diff of the whole host.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from reliability.probes import diff, host, snapshot, validate_snapshot
from reliability.targets.base import Owned

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="plants mounts, cgroups and setuid processes: needs root"
)

TAG = f"probe-test-{os.getpid()}"
BOX_UID = 3_900_000 + os.getpid() % 100_000  # far above any uid a real tool hands out
SLEEP = shutil.which("sleep") or "/bin/sleep"


def wait_until(predicate, what: str, tries: int = 500) -> None:
    """Poll a condition the kernel reaches asynchronously (not a timing assertion: a hang guard)."""
    for _ in range(tries):
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def proc_state(pid: int) -> str | None:
    proc = host.read_process(pid)
    return proc["status"] if proc else None


def cgroup_hierarchy(version: int) -> dict:
    """A hierarchy we may create cgroups in: v1 pids, or the v2 one (pure v2 on GitHub runners)."""
    for h in host.cgroup_hierarchies(host.read_mountinfo()):
        if h["version"] == version and (version == 2 or "pids" in h["controllers"]):
            return h
    pytest.skip(f"no cgroup v{version} hierarchy mounted here")


@dataclass
class Host:
    """Unique places for one test, and everything planted there, removed in `teardown`."""

    base: str
    hierarchy: dict
    cgroup_root: str
    owned: Owned
    pids: list[int] = field(default_factory=list)  # killed, then reaped if ours
    children: list[subprocess.Popen] = field(default_factory=list)
    unreaped: list[int] = field(default_factory=list)  # forked children to waitpid
    mounts: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)  # removed deepest first
    fds: list[int] = field(default_factory=list)

    def cgroup_label(self, path: str) -> str:
        """How /proc/PID/cgroup names the cgroup at absolute `path`, as the diff prints it."""
        rel = path[len(self.hierarchy["mount_point"].rstrip("/")) :] or "/"
        rel = self.hierarchy["root"].rstrip("/") + rel
        return f"{','.join(self.hierarchy['controllers']) or 'cgroup2'}:{rel}"

    def mkdir_cgroup(self, path: str) -> str:
        os.mkdir(path)
        self.cgroups.append(path)
        return path

    def spawn_detached(self, uid: int = 0, cgroup: str | None = None) -> int:
        """`sleep` detached through a double fork and setsid: its parent is init, not us."""
        read_end, write_end = os.pipe()
        middle = os.fork()
        if middle == 0:
            try:
                os.close(read_end)
                os.setsid()
                if os.fork() == 0:
                    if cgroup:
                        with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                            f.write(str(os.getpid()))
                    if uid:
                        os.setgroups([])
                        os.setgid(uid)
                        os.setuid(uid)
                    os.write(write_end, f"{os.getpid()}\n".encode())
                    os.execv(SLEEP, ["sleep", "1000"])  # closes write_end (close-on-exec)
            finally:
                os._exit(0)
        os.close(write_end)
        os.waitpid(middle, 0)
        with os.fdopen(read_end, "rb") as f:
            line = f.read().decode()
        assert line.strip().isdigit(), f"detached child failed to start: {line!r}"
        pid = int(line)
        self.pids.append(pid)
        wait_until(lambda: (host.read_process(pid) or {}).get("name") == "sleep", f"{pid} runs sleep")
        return pid

    def spawn_child(self) -> subprocess.Popen:
        child = subprocess.Popen([SLEEP, "1000"])
        self.children.append(child)
        wait_until(lambda: (host.read_process(child.pid) or {}).get("name") == "sleep", "child runs sleep")
        return child

    def teardown(self) -> None:
        """Remove everything planted; every step runs even if an earlier one failed."""
        problems: list[str] = []
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for child in self.children:
            child.kill()
            child.wait()
        for pid in self.unreaped:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        for mount_point in reversed(self.mounts):
            if subprocess.run(["umount", "-l", mount_point], check=False).returncode:
                problems.append(f"umount {mount_point} failed")
        for pid in self.pids:  # a killed process leaves its cgroup only once it is gone
            for _ in range(500):
                if proc_state(pid) in (None, "Z"):
                    break
                time.sleep(0.01)
        for path in sorted(self.cgroups, key=len, reverse=True):
            if not remove_cgroup(path):
                problems.append(f"cgroup {path} could not be removed")
        for fd in self.fds:
            os.close(fd)
        shutil.rmtree(self.base, ignore_errors=True)
        assert not problems, "; ".join(problems)


def remove_cgroup(path: str) -> bool:
    """rmdir, retried while the kernel still counts a just-killed process in it."""
    for _ in range(300):
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                return False
            time.sleep(0.01)
    return False


@pytest.fixture(params=[1, 2], ids=["cgroup-v1", "cgroup-v2"])
def planted(request: pytest.FixtureRequest) -> Iterator[Host]:
    hierarchy = cgroup_hierarchy(request.param)
    base = os.path.realpath(tempfile.mkdtemp(prefix=f"{TAG}-"))
    cgroup_root = os.path.join(hierarchy["mount_point"], TAG)
    for sub in ("box", "tmp", "mnt"):
        os.mkdir(os.path.join(base, sub))
    owned = Owned(
        box_root=os.path.join(base, "box"),
        cgroup_roots=[cgroup_root],
        uid_range=(BOX_UID, BOX_UID + 9),
        temp_roots=[os.path.join(base, "tmp")],
        mount_roots=[os.path.join(base, "mnt")],
    )
    h = Host(base=base, hierarchy=hierarchy, cgroup_root=cgroup_root, owned=owned)
    try:
        h.mkdir_cgroup(cgroup_root)
        yield h
    finally:
        h.teardown()


def take(h: Host, extra_pids: list[int] = ()) -> dict:
    snap = snapshot(h.owned, os.getpid(), extra_pids)
    validate_snapshot(snap)
    return snap


def test_each_planted_leak_is_named_exactly(planted: Host) -> None:
    h = planted
    me = os.getpid()
    my_name = host.read_process(me)["name"]
    in_cgroup = h.mkdir_cgroup(os.path.join(h.cgroup_root, "x"))
    mount_point = os.path.join(h.base, "mnt")
    before = take(h)

    box_uid_pid = h.spawn_detached(uid=BOX_UID)
    cgroup_pid = h.spawn_detached(cgroup=in_cgroup)
    child = h.spawn_child()
    zombie = os.fork()
    if zombie == 0:
        os._exit(0)
    h.unreaped.append(zombie)
    wait_until(lambda: proc_state(zombie) == "Z", "the forked child becomes a zombie")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", TAG, mount_point], check=True)
    h.mounts.append(mount_point)
    left_cgroup = h.mkdir_cgroup(os.path.join(h.cgroup_root, "left"))
    os.mkdir(os.path.join(h.base, "tmp", "leftover"))
    os.mkdir(os.path.join(h.base, "box", "box-3"))
    with open(os.path.join(h.base, "box", "stray.txt"), "w") as f:
        f.write("x")
    out_path = os.path.join(h.base, "out")
    fd = os.open(out_path, os.O_WRONLY | os.O_CREAT, 0o600)
    h.fds.append(fd)

    leaks = diff(before, take(h), h.owned, me)

    assert f"process {box_uid_pid} (sleep) uid {BOX_UID}" in leaks.processes
    assert f"process {cgroup_pid} (sleep) uid 0 cgroup {h.cgroup_label(in_cgroup)}" in leaks.processes
    assert f"process {child.pid} (sleep) uid 0" in leaks.processes
    assert f"zombie {zombie} ({my_name}) uid 0 parent {me}" in leaks.zombies
    assert not any(item.startswith(f"process {zombie} ") for item in leaks.processes)
    assert f"mount tmpfs on {mount_point}" in leaks.mounts
    assert f"cgroup {left_cgroup}" in leaks.cgroups
    assert f"cgroup {h.cgroup_root}" not in leaks.cgroups  # existed before; roots never count
    assert f"temp dir {h.base}/tmp/leftover" in leaks.temp_dirs
    assert f"temp dir {h.base}/box/box-3" in leaks.temp_dirs
    assert f"temp file {h.base}/box/stray.txt" in leaks.temp_dirs
    assert leaks.fds == [f"fd {fd} -> {out_path} (pid {me})"]
    assert leaks.total() >= 10  # the ten planted above, whatever else the host did


def test_processes_that_are_not_the_sandboxs_are_noise(planted: Host) -> None:
    h = planted
    noise_cgroup = os.path.join(h.hierarchy["mount_point"], f"probe-noise-{os.getpid()}")
    before = take(h)

    detached = h.spawn_detached()  # uid 0, no owned cgroup, parent is init after the double fork
    h.mkdir_cgroup(noise_cgroup)
    after = take(h)
    leaks = diff(before, after, h.owned, os.getpid())

    assert {p["pid"]: p["ppid"] for p in after["processes"]}[detached] != os.getpid()
    assert not any(f" {detached} (" in item for item in leaks.processes + leaks.zombies)
    assert [n for n in leaks.noise if n.startswith(f"process {detached} (sleep) uid 0: not the sandbox's")]
    assert f"cgroup {noise_cgroup}: outside owned cgroup roots" in leaks.noise
    assert f"cgroup {noise_cgroup}" not in leaks.cgroups


def test_a_reused_pid_is_a_new_process(planted: Host) -> None:
    if not os.access("/proc/sys/kernel/ns_last_pid", os.W_OK):
        pytest.skip("cannot steer pid allocation (/proc/sys/kernel/ns_last_pid not writable)")
    h = planted
    first = h.spawn_child()
    before = take(h)
    first.kill()
    first.wait()
    time.sleep(0.05)  # the second process must start in a later clock tick than the first
    second = None
    for _ in range(50):  # other engineers fork too: retry until the kernel hands out the same pid
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(first.pid - 1))
        candidate = h.spawn_child()
        if candidate.pid == first.pid:
            second = candidate
            break
        candidate.kill()
        candidate.wait()
    assert second is not None, f"could not get pid {first.pid} again"
    after = take(h)
    old = next(p for p in before["processes"] if p["pid"] == first.pid)
    new = next(p for p in after["processes"] if p["pid"] == second.pid)
    assert old["starttime"] != new["starttime"]

    leaks = diff(before, after, h.owned, os.getpid())
    assert f"process {second.pid} (sleep) uid 0" in leaks.processes


def test_fds_of_a_long_lived_sandbox_process(planted: Host) -> None:
    h = planted
    path = os.path.join(h.base, "box", "opened-later")
    script = "import sys; sys.stdin.readline(); f = open(sys.argv[1], 'w'); print(f.fileno(), flush=True); sys.stdin.readline()"
    keeper = subprocess.Popen(
        [sys.executable, "-c", script, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    h.children.append(keeper)
    before = take(h, [keeper.pid])
    keeper.stdin.write("open\n")
    keeper.stdin.flush()
    fd = int(keeper.stdout.readline())

    leaks = diff(before, take(h, [keeper.pid]), h.owned, os.getpid())

    assert f"fd {fd} -> {path} (pid {keeper.pid})" in leaks.fds
    assert f"temp file {path}" in leaks.temp_dirs


def test_the_probes_own_fds_never_count(planted: Host) -> None:
    me = os.getpid()
    first = take(planted)
    second = take(planted)

    assert diff(first, second, planted.owned, me).fds == []
    assert not [d for d in second["fds"] if d["target"].startswith(f"/proc/{me}/")]
    assert second["fd_pids"] == [me]


def test_a_snapshot_sees_the_host_as_it_is(planted: Host) -> None:
    snap = take(planted)
    me = next(p for p in snap["processes"] if p["pid"] == os.getpid())

    assert me["ppid"] == os.getppid() and me["uid"] == os.getuid()
    assert planted.cgroup_root in snap["cgroups"]
    assert any(m["mount_point"] == "/proc" and m["fstype"] == "proc" for m in snap["mounts"])
    assert {h["mount_point"] for h in snap["hierarchies"]} >= {planted.hierarchy["mount_point"]}
