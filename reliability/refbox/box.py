"""Refbox: numbered boxes, each a size-limited tmpfs with its own cgroup, run by a forked supervisor.

Box N lives at <box_root>/N, is owned by uid/gid 60000+N (so a box process is known by its uid, as in
isolate), and has the cgroup <cgroup_name>/box-N; every run gets a fresh child cgroup "run" of it, so
peak memory and the OOM record belong to that run alone.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import threading
import time
from collections.abc import Callable

from reliability.refbox import mounts
from reliability.refbox.cgroups import CgroupError, Cgroups, detect
from reliability.refbox.supervisor import RunPlan, run_supervised
from reliability.targets.base import CleanupOutcome, Limits, Result, TargetError

FIRST_UID = 60000
MAX_BOXES = 1000
DEFAULT_BOX_ROOT = "/run/refbox"
DEFAULT_CGROUP_NAME = "refbox"
STDOUT_NAME = ".stdout"
STDERR_NAME = ".stderr"
PROGRAM_PATH = "/usr/local/bin:/usr/bin:/bin"
MIB = 1024 * 1024
UNMOUNT_TRIES = 3
VERSION = "0.1.0"


class Refbox:
    def __init__(
        self,
        box_root: str = DEFAULT_BOX_ROOT,
        cgroup_name: str = DEFAULT_CGROUP_NAME,
        quota_mb: int = 64,
        cgroups: Cgroups | None = None,
    ):
        self.box_root = os.path.abspath(box_root)
        self.cgroup_name = cgroup_name.strip("/")
        self.quota_mb = quota_mb
        try:
            self.cgroups = cgroups or detect()
        except CgroupError as e:
            raise TargetError(str(e)) from e
        self._supervisors: dict[int, int] = {}
        self._lock = threading.Lock()

    # -- naming -----------------------------------------------------------------------------------
    def box_dir(self, box: int) -> str:
        return os.path.join(self.box_root, str(_check_box(box)))

    @staticmethod
    def uid(box: int) -> int:
        return FIRST_UID + _check_box(box)

    def box_cgroup(self, box: int) -> str:
        return f"{self.cgroup_name}/box-{_check_box(box)}"

    def run_cgroup(self, box: int) -> str:
        return f"{self.box_cgroup(box)}/run"

    def cgroup_roots(self) -> list[str]:
        """<hierarchy>/<cgroup_name> for every hierarchy: where all of this refbox's cgroups live."""
        return self.cgroups.dirs(self.cgroup_name)

    # -- lifecycle --------------------------------------------------------------------------------
    def init(self, box: int) -> None:
        """Mount the box's tmpfs and create its cgroup; undo both and raise TargetError on failure."""
        path, uid = self.box_dir(box), self.uid(box)
        if mounts.is_mounted(path):
            raise TargetError(f"box {box} is already initialised at {path}; clean it up first")
        made_dir = mounted = False
        try:
            os.makedirs(self.box_root, mode=0o755, exist_ok=True)
            if not os.stat(self.box_root).st_mode & stat.S_IXOTH:
                raise TargetError(f"box root {self.box_root} must be searchable by others (the box uids)")
            try:
                os.mkdir(path, 0o755)
                made_dir = True
            except FileExistsError:
                if not stat.S_ISDIR(os.lstat(path).st_mode):
                    raise TargetError(f"{path} exists and is not a directory") from None
            mounts.mount_tmpfs(path, self.quota_mb * MIB, uid, uid)
            mounted = True
            self.cgroups.ensure(self.box_cgroup(box))
        except (OSError, CgroupError) as e:
            if mounted:
                mounts.unmount(path, lazy=True)
            if made_dir:
                os.rmdir(path)
            raise TargetError(f"box {box} init failed: {e}") from e

    def run(
        self,
        box: int,
        command: list[str],
        limits: Limits,
        files: dict[str, str] | None = None,
        on_started: Callable[[int], None] | None = None,
    ) -> Result:
        """Run `command` in the box; never raises for the sandbox's own failures (verdict IE instead).

        `on_started(supervisor_pid)` is called once the supervisor is forked (for fault injection).
        """
        try:
            return self._run(box, command, limits, files or {}, on_started)
        except (OSError, CgroupError, ValueError) as e:
            return Result(verdict="IE", message=f"run setup failed: {e}")

    def _run(self, box, command, limits, files, on_started) -> Result:
        if not command:
            raise ValueError("empty command")
        path, uid = self.box_dir(box), self.uid(box)
        if not mounts.is_mounted(path):
            return Result(verdict="IE", message=f"box {box} is not initialised (no tmpfs at {path})")
        box_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        fds = [box_fd]
        try:
            for src, name in files.items():
                _copy_into_box(box_fd, src, name, uid)
            stdout_fd = _fresh_file(box_fd, STDOUT_NAME)
            fds.append(stdout_fd)
            stderr_fd = _fresh_file(box_fd, STDERR_NAME)
            fds.append(stderr_fd)
            run_cg = self.run_cgroup(box)
            if self.cgroups.exists(run_cg):  # left by a run whose supervisor died
                self.cgroups.kill_all(run_cg)
                self.cgroups.remove(run_cg)
            self.cgroups.ensure(run_cg)
            self.cgroups.set_limits(run_cg, limits.mem_mb * MIB, limits.processes)
            env = {"PATH": PROGRAM_PATH, "HOME": path, "LANG": "C"}
            plan = RunPlan(path, uid, uid, list(command), env, limits, run_cg, stdout_fd, stderr_fd)

            def started(pid: int) -> None:
                with self._lock:
                    self._supervisors[box] = pid
                if on_started:
                    on_started(pid)

            try:
                return run_supervised(self.cgroups, plan, started)
            finally:
                with self._lock:
                    self._supervisors.pop(box, None)
        finally:
            for fd in fds:
                os.close(fd)

    def supervisor_pid(self, box: int) -> int | None:
        """Pid of the supervisor running box `box` now, if any (to kill it in crash tests)."""
        with self._lock:
            return self._supervisors.get(box)

    def box_pids(self, box: int) -> list[int]:
        return self.cgroups.pids(self.run_cgroup(box))

    def status(self, box: int) -> dict:
        path = self.box_dir(box)
        return {
            "box": box,
            "path": path,
            "mounted": mounts.is_mounted(path),
            "cgroup": self.cgroups.exists(self.box_cgroup(box)),
            "run_cgroup": self.cgroups.exists(self.run_cgroup(box)),
            "pids": self.box_pids(box),
            "cgroup_version": self.cgroups.version,
        }

    # -- cleanup ----------------------------------------------------------------------------------
    def cleanup(self, box: int) -> CleanupOutcome:
        """Ordered steps, each verified afterwards; every step is attempted and reported."""
        killed: list[int] = []
        steps = [
            ("kill", lambda: killed.extend(self._kill_box(box))),
            ("reap", lambda: _wait_gone(killed)),
            ("unmount", lambda: self._unmount_box(box)),
            ("remove cgroup", lambda: self._remove_box_cgroups(box)),
            ("remove box dir", lambda: self._remove_box_dir(box)),
        ]
        report = []
        for name, step in steps:
            try:
                step()
                report.append({"name": name, "ok": True, "error": ""})
            except (OSError, CgroupError, TargetError) as e:
                report.append({"name": name, "ok": False, "error": str(e)})
        failed = [s for s in report if not s["ok"]]
        error = f"{failed[0]['name']}: {failed[0]['error']}" if failed else ""
        return CleanupOutcome(ok=not failed, steps=report, error=error)

    def _box_cgroups(self, box: int) -> list[str]:
        """The box cgroup's children first, then the box cgroup: the order to empty and remove them."""
        top = self.box_cgroup(box)
        return [f"{top}/{child}" for child in self.cgroups.children(top)] + [top]

    def _kill_box(self, box: int) -> list[int]:
        killed: list[int] = []
        for rel in self._box_cgroups(box):
            killed += self.cgroups.kill_all(rel)
            if self.cgroups.pids(rel):
                raise TargetError(f"processes left in cgroup {rel}: {self.cgroups.pids(rel)}")
        return killed

    def _unmount_box(self, box: int) -> None:
        path = self.box_dir(box)
        for attempt in range(UNMOUNT_TRIES * 4):  # stacked mounts each need their own umount
            if not mounts.is_mounted(path):
                return
            try:
                mounts.unmount(path)
            except OSError as e:
                if e.errno != errno.EBUSY or attempt >= UNMOUNT_TRIES:
                    raise
                time.sleep(0.01 * (attempt + 1))  # a just-killed process may still hold its cwd
        if mounts.is_mounted(path):
            raise TargetError(f"{path} is still mounted")

    def _remove_box_cgroups(self, box: int) -> None:
        for rel in self._box_cgroups(box):
            self.cgroups.remove(rel)
        if self.cgroups.exists(self.box_cgroup(box)):
            raise TargetError(f"cgroup {self.box_cgroup(box)} still exists")

    def _remove_box_dir(self, box: int) -> None:
        path = self.box_dir(box)
        if mounts.is_mounted(path):
            raise TargetError(f"{path} is still mounted; not removing it")
        _remove_no_follow(path)
        if os.path.lexists(path):
            raise TargetError(f"{path} still exists")

    # -- recovery ---------------------------------------------------------------------------------
    def recover(self, box: int | None = None) -> list[str]:
        from reliability.refbox.recovery import recover

        return recover(self, box)


def _check_box(box: int) -> int:
    if not isinstance(box, int) or isinstance(box, bool) or not 0 <= box < MAX_BOXES:
        raise ValueError(f"box must be an integer from 0 to {MAX_BOXES - 1}, got {box!r}")
    return box


def _copy_into_box(box_fd: int, src: str, name: str, uid: int) -> None:
    # One path component only, opened relative to the box with O_NOFOLLOW: a symlink a previous
    # program left in the box must never make root write outside it.
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"file name in the box must be a plain name, got {name!r}")
    src_fd = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        mode = stat.S_IMODE(os.fstat(src_fd).st_mode) & 0o777  # keep rwx bits, never setuid
        dst_fd = _fresh_file(box_fd, name, mode=0o600)
        try:
            size = os.fstat(src_fd).st_size
            offset = 0
            while offset < size:
                sent = os.sendfile(dst_fd, src_fd, offset, size - offset)
                if sent == 0:
                    break
                offset += sent
            os.fchown(dst_fd, uid, uid)
            os.fchmod(dst_fd, mode)
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)


def _fresh_file(box_fd: int, name: str, mode: int = 0o644) -> int:
    try:
        os.unlink(name, dir_fd=box_fd)
    except FileNotFoundError:
        pass
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.open(name, flags, mode, dir_fd=box_fd)


def _wait_gone(pids: list[int], timeout: float = 2.0) -> None:
    """Wait until killed processes are reaped by their parent; reap those that are our children."""
    deadline = time.monotonic() + timeout
    pending = list(pids)
    while pending:
        for pid in list(pending):
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            if not os.path.exists(f"/proc/{pid}"):
                pending.remove(pid)
        if pending and time.monotonic() > deadline:
            raise TargetError(f"processes not reaped: {pending}")
        if pending:
            time.sleep(0.002)


def _remove_no_follow(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)  # a symlink planted in place of the box: remove the link, never its target
        return
    try:
        os.rmdir(path)
    except OSError as e:
        if e.errno != errno.ENOTEMPTY:
            raise
        if not shutil.rmtree.avoids_symlink_attacks:
            raise TargetError(f"{path} is not empty and cannot be removed safely here") from e
        shutil.rmtree(path)
