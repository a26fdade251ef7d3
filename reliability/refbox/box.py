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
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from reliability.refbox import audit, boxinit_build, cleanup, defects, locks, mounts, state
from reliability.refbox.cgroups import CgroupError, Cgroups, detect
from reliability.refbox.phases import PhaseRecorder
from reliability.refbox.supervisor import RunPlan, run_supervised
from reliability.sandbox_values import CleanupOutcome, Limits, Result, TargetError

FIRST_UID = 60000
MAX_BOXES = 1000
DEFAULT_BOX_ROOT = "/run/refbox"
DEFAULT_CGROUP_NAME = "refbox"
STATE_DIR_NAME = ".state"  # under the box root by default: outside every box tmpfs, survives cleanup
STDOUT_NAME = ".stdout"
STDERR_NAME = ".stderr"
PROGRAM_PATH = "/usr/local/bin:/usr/bin:/bin"
MIB = 1024 * 1024
VERSION = "0.1.0"


class Refbox:
    def __init__(
        self,
        box_root: str = DEFAULT_BOX_ROOT,
        cgroup_name: str = DEFAULT_CGROUP_NAME,
        quota_mb: int = 64,
        cgroups: Cgroups | None = None,
        state_dir: str | None = None,
        lock_wait_s: float = 0.0,
        run_id: str | None = None,
        isolate: bool = True,
        c_init: bool = True,
    ):
        """lock_wait_s: how long init/run/cleanup wait for a box another process holds (0: fail at once).
        c_init: the supervisor and init in C where they can be built (refbox/boxinit_build.py), else the
        Python ones."""
        self.box_root = os.path.abspath(box_root)
        self.cgroup_name = cgroup_name.strip("/")
        self.quota_mb = quota_mb
        self.state_dir = os.path.abspath(state_dir or os.path.join(self.box_root, STATE_DIR_NAME))
        self.lock_wait_s = lock_wait_s
        self.run_id = run_id
        self.isolate = isolate  # False only to prove the isolation stage's checks fire (see isolation.py)
        self.c_init = c_init
        try:
            self.cgroups = cgroups or detect()
            # Made now, not at the first init: a host snapshot taken before the first run must
            # already see it, or the state dir would look like a leaked temp dir.
            os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        except (CgroupError, OSError) as e:
            raise TargetError(str(e)) from e
        self._supervisors: dict[int, int] = {}
        self._running: set[int] = set()  # boxes with a run in progress in this process (the run lock)
        self._held: dict[int, locks.BoxLock] = {}
        # box -> the fds this process holds open into that box, tracked where they are opened and
        # closed, so cleanup's "close fds" step checks these few instead of every fd of the pipeline.
        self._box_fds: dict[int, set[int]] = {}
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

    # -- lock and state ---------------------------------------------------------------------------
    def claim(self, box: int, exclusive: bool = False) -> locks.BoxLock:
        """Hold box `box`'s lock (kept until cleanup or recover releases it, or this process dies).

        The lock is this process's: run, cleanup and recover may come from any of its threads. `init`
        claims exclusively: a box this process already holds is busy to it, so two threads of one
        pipeline racing for a box are told apart as two processes are (one wins, the others get busy)."""
        if defects.skip_lock():
            return defects.NoLock()  # type: ignore[return-value]
        with self._lock:
            held = self._held.get(_check_box(box))
        if held is not None:
            if exclusive:
                raise TargetError(f"box {box} busy (held by this process)")
            return held
        try:
            lock = locks.BoxLock.acquire(self.state_dir, box, self.lock_wait_s, self.run_id)
        except locks.BoxBusy as e:
            raise TargetError(str(e)) from None
        except OSError as e:
            raise TargetError(f"box {box} lock: {e}") from e
        with self._lock:
            if box in self._held:  # another thread of ours won the race for its own flock first
                lock.release()
                raise TargetError(f"box {box} busy (held by this process)")
            self._held[box] = lock
        return lock

    def release(self, box: int) -> None:
        with self._lock:
            lock = self._held.pop(box, None)
        if lock is not None:
            lock.release()

    # -- fds into a box ---------------------------------------------------------------------------
    def open_in_box(
        self, box: int, path: str, flags: int, mode: int = 0o777, dir_fd: int | None = None
    ) -> int:
        """os.open, the fd recorded as box `box`'s until close_in_box (or cleanup) closes it."""
        fd = os.open(path, flags, mode, dir_fd=dir_fd)
        self.track_box_fd(box, fd)
        return fd

    def close_in_box(self, box: int, fd: int) -> None:
        """Close a recorded fd, unless cleanup or recover closed it first (its number may be reused)."""
        with self._lock:
            fds = self._box_fds.get(box)
            if fds is None or fd not in fds:
                return
            fds.discard(fd)
            if not fds:
                del self._box_fds[box]
        os.close(fd)

    def box_fds(self, box: int) -> list[int]:
        """The fds this process holds into box `box`, as recorded."""
        with self._lock:
            return sorted(self._box_fds.get(box, ()))

    def take_box_fds(self, box: int) -> list[int]:
        """The recorded fds of box `box`, no longer recorded: the caller closes them (cleanup), and a
        run's own close of one of them then leaves its number alone (another thread may reuse it)."""
        with self._lock:
            return sorted(self._box_fds.pop(box, ()))

    def track_box_fd(self, box: int, fd: int) -> None:
        with self._lock:
            self._box_fds.setdefault(box, set()).add(fd)

    def read_state(self, box: int) -> dict:
        """The box's validated state; a bad state file is set aside and the box quarantined."""
        lock_existed = os.path.lexists(locks.lock_path(self.state_dir, box))
        return state.read(self.state_dir, box, missing_ok=not lock_existed or self._first_use(box))

    def _first_use(self, box: int) -> bool:
        lock = self._held.get(box)
        return lock is not None and lock.created

    def quarantine(self, box: int, reason: str, doc: dict | None = None) -> dict:
        doc = dict(doc or self.read_state(box))
        now = time.time()
        doc.update(status="quarantined", quarantine_reason=reason, since=now)
        audit.append(self.state_dir, "quarantine", box, reason)
        return state.write(self.state_dir, doc)

    # -- lifecycle --------------------------------------------------------------------------------
    def init(self, box: int) -> None:
        """Claim the box, mount its tmpfs and create its cgroup; undo all and raise TargetError on failure.

        Refused while another process holds the box, and for a box not idle (quarantined boxes leave
        quarantine only through recover)."""
        path, uid = self.box_dir(box), self.uid(box)
        self.claim(box, exclusive=True)  # refused here: nothing of the holder's is touched below
        try:
            doc = self.read_state(box)
            if not os.path.exists(state.state_path(self.state_dir, box)):
                state.write(self.state_dir, doc)  # first use: from now on a missing file is a fault
            if not defects.skip_lock():
                self._check_idle(box, doc)
            if not (defects.skip_lock() and mounts.is_mounted(path)):  # the defect: a box in use taken again
                self._init_box(box, path, uid)
        except BaseException:
            self.release(box)
            raise
        doc.update(
            status="running", phase=None, generation=doc["generation"] + 1, owner=locks.me(self.run_id)
        )
        doc.update(since=time.time(), cleanup_steps=[], quarantine_reason=None)
        state.write(self.state_dir, doc, durable=True)  # durable: see state.py (the box handed out)

    def _check_idle(self, box: int, doc: dict) -> None:
        if doc["status"] == "quarantined":
            raise TargetError(
                f"box {box} is quarantined ({doc['quarantine_reason']}); run `reliability box recover --box {box}`"
            )
        if doc["status"] != "idle":
            owner = doc["owner"] or {}
            raise TargetError(
                f"box {box} is already initialised (status {doc['status']}, phase {doc['phase']}, "
                f"owner pid {owner.get('pid')}); clean it up first"
            )

    def _init_box(self, box: int, path: str, uid: int) -> None:
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
            with self._run_lock(box):
                return defects.after_run(self._run(box, command, limits, files or {}, on_started))
        except (OSError, CgroupError, ValueError, TargetError) as e:
            return Result(verdict="IE", message=f"run setup failed: {e}")

    @contextmanager
    def _run_lock(self, box: int) -> Iterator[None]:
        """One run at a time in a box. The box lock alone does not give it: this process holds that
        lock from init to cleanup, and judges init a box once and run in it many times, so two of its
        threads could run in one box at once. Other processes are kept out by the box lock."""
        if defects.skip_lock():
            yield
            return
        with self._lock:
            if _check_box(box) in self._running:
                raise TargetError(f"box {box} busy: another run is in progress in it")
            self._running.add(box)
        try:
            yield
        finally:
            with self._lock:
                self._running.discard(box)

    def _run(self, box, command, limits, files, on_started) -> Result:
        if not command:
            raise ValueError("empty command")
        path, uid = self.box_dir(box), self.uid(box)
        self.claim(box)
        doc = self.read_state(box)
        if not os.path.exists(state.state_path(self.state_dir, box)):
            # Never initialised, not damaged: record its first use as init does, or the lock file this
            # claim made would make the missing state file look like damage to the next caller.
            state.write(self.state_dir, doc)
            return Result(verdict="IE", message=f"box {box} was never initialised: init it first")
        if doc["status"] != "running":
            why = doc["quarantine_reason"] or f"status {doc['status']}"
            return Result(verdict="IE", message=f"box {box} is not initialised ({why})")
        if not mounts.is_mounted(path):
            return Result(verdict="IE", message=f"box {box} is not initialised (no tmpfs at {path})")
        box_fd = self.open_in_box(box, path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        fds = [box_fd]
        try:
            for src, name in files.items():
                self._copy_into_box(box, box_fd, src, name, uid)
            stdout_fd = self._fresh_file(box, box_fd, STDOUT_NAME)
            fds.append(stdout_fd)
            stderr_fd = self._fresh_file(box, box_fd, STDERR_NAME)
            fds.append(stderr_fd)
            run_cg = self.run_cgroup(box)
            if self.cgroups.exists(run_cg):  # left by a run whose supervisor died
                self.cgroups.kill_all(run_cg)
                self.cgroups.remove(run_cg)
            self.cgroups.ensure(run_cg)
            self.cgroups.set_limits(run_cg, limits.mem_mb * MIB, limits.processes)
            env = {"PATH": PROGRAM_PATH, "HOME": path, "LANG": "C"}
            plan = RunPlan(
                path,
                uid,
                uid,
                list(command),
                env,
                limits,
                run_cg,
                stdout_fd,
                stderr_fd,
                self.isolate,
                keep_orphans=defects.keeps_orphans(),
                seccomp=not defects.allows_namespaces(),
                boxinit=self.c_supervisor(),
            )

            def started(pid: int) -> None:
                with self._lock:
                    self._supervisors[box] = pid
                if on_started:
                    on_started(pid)

            try:
                return run_supervised(self.cgroups, plan, started, PhaseRecorder(self.state_dir, doc))
            finally:
                with self._lock:
                    self._supervisors.pop(box, None)
        finally:
            for fd in fds:
                self.close_in_box(box, fd)

    def c_supervisor(self) -> str | None:
        """The C supervisor's binary, if runs use it: isolated, C asked for, and it builds here."""
        return boxinit_build.path() if self.isolate and self.c_init else None

    def _copy_into_box(self, box: int, box_fd: int, src: str, name: str, uid: int) -> None:
        # One path component only, opened relative to the box with O_NOFOLLOW: a symlink a previous
        # program left in the box must never make root write outside it.
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"file name in the box must be a plain name, got {name!r}")
        src_fd = os.open(src, os.O_RDONLY | os.O_CLOEXEC)  # outside the box: not the box's
        try:
            mode = stat.S_IMODE(os.fstat(src_fd).st_mode) & 0o777  # keep rwx bits, never setuid
            dst_fd = self._fresh_file(box, box_fd, name, mode=0o600)
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
                self.close_in_box(box, dst_fd)
        finally:
            os.close(src_fd)

    def _fresh_file(self, box: int, box_fd: int, name: str, mode: int = 0o644) -> int:
        try:
            os.unlink(name, dir_fd=box_fd)
        except FileNotFoundError:
            pass
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        return self.open_in_box(box, name, flags, mode, dir_fd=box_fd)

    def supervisor_pid(self, box: int) -> int | None:
        """Pid of the supervisor running box `box` now, if any (to kill it in crash tests)."""
        with self._lock:
            return self._supervisors.get(box)

    def box_pids(self, box: int) -> list[int]:
        return self.cgroups.pids(self.run_cgroup(box))

    def status(self, box: int) -> dict:
        path = self.box_dir(box)
        doc = self.read_state(box)
        owner = doc["owner"]
        return {
            "status": doc["status"],
            "phase": doc["phase"],
            "generation": doc["generation"],
            "owner": owner,
            "owner_alive": bool(owner) and not locks.why_stale(owner),
            "locked": locks.is_held(self.state_dir, box),
            "quarantine_reason": doc["quarantine_reason"],
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
        """Ordered, verified steps (see cleanup.py); a step failing for good quarantines the box."""
        try:
            self.claim(box)
        except TargetError as e:
            return CleanupOutcome(ok=False, error=str(e))
        try:
            doc = self.read_state(box)
            if doc["status"] == "quarantined":
                return CleanupOutcome(
                    ok=False, error=f"box {box} is quarantined: {doc['quarantine_reason']}", quarantined=True
                )
            doc.update(status="cleaning", since=time.time())
            state.write(self.state_dir, doc, durable=False)  # transient: see state.py
            steps = cleanup.run_steps(self, box)
            doc["cleanup_steps"] = steps
            report = [{k: s[k] for k in ("name", "ok", "error", "attempts")} for s in steps]
            failed = next((s for s in steps if not s["ok"]), None)
            if failed and defects.claims_success():
                failed, report = None, [dict(s, ok=True, error="") for s in report]
            if failed:
                error = f"{failed['name']}: {failed['error']} (after {failed['attempts']} attempts)"
                self.quarantine(box, f"cleanup step {error}", doc)
                return CleanupOutcome(ok=False, steps=report, error=error, quarantined=True)
            doc.update(status="idle", phase=None, owner=None, since=time.time())
            # Not durable: lost to a power loss, the box reads "running" until recover (see state.py).
            state.write(self.state_dir, doc, durable=False)
            defects.after_cleanup(self, box)
            return CleanupOutcome(ok=True, steps=report)
        finally:
            self.release(box)

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

        # Recover closes every fd of ours into a box by scanning them all; drop the records first, so
        # no number it closed stays recorded (and a later close by record never hits a reused one).
        with self._lock:
            numbers = [box] if box is not None else list(self._box_fds)
        for number in numbers:
            try:
                cleanup.close_box_fds(self, number)
            except TargetError:
                pass  # the scan below meets the same fd and reports it
            self.take_box_fds(number)
        return recover(self, box)


def _check_box(box: int) -> int:
    if not isinstance(box, int) or isinstance(box, bool) or not 0 <= box < MAX_BOXES:
        raise ValueError(f"box must be an integer from 0 to {MAX_BOXES - 1}, got {box!r}")
    return box


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
