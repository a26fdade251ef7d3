"""A sandbox driven through its command line, as a target file (docs/targets.md) describes it.

Every call is a subprocess in its own session, bounded by a timeout so a hung sandbox cannot hang a
worker. The program's processes are found through the box's cgroups (owns/box_cgroups) and its uid
(owns/uid_base + box), which is also how recover kills what a dead run left when the file has no
recover command.

The box's supervisor, for the crash stage, is the sandbox process the pipeline started for that box
and is waiting on: the run command (isolate's keeper is `isolate --run`; a script that `exec`s the
sandbox's CLI keeps its pid), and while it runs the init or cleanup command, that one
(supervisor_pid). Killing it alone (os.kill, never the session's group) is what the crash stage does.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

from reliability.errors import UsageError
from reliability.kill import kill_each
from reliability.probes.proc_stat import session_members
from reliability.probes.run_delay import RunDelay
from reliability.refbox import failpoints
from reliability.targets import results
from reliability.targets.base import CleanupOutcome, Limits, Owned, Result, Target, TargetError
from reliability.targets.description import Description, render

EVIDENCE_CHARS = 4096  # of each output stream kept in the history
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_RUN_GRACE_S = 10.0
DRAIN_S = 5.0  # after a timeout kill: how long the output pipes may stay open (see call)
HOLD_MAX_S = 60.0  # the longest a hang guard waits for an observer (hold_kills) before it kills anyway
STARVED_MAX_S = 120.0  # the most a hang guard's timeout is stretched by the command's wait for a CPU
STARVED_POLL_S = 1.0


@dataclass
class Call:
    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool = False
    killed: list[dict] = field(default_factory=list)  # what the hang guard killed (session members)
    starved_s: float = 0.0  # run-queue wait of its processes past the timeout: the guard's extension

    def evidence(self) -> dict:
        return {
            "argv": self.argv,
            "exit_code": self.exit_code,
            "timed_out": self.timed_out,
            "starved_s": round(self.starved_s, 3),
            "stdout": self.stdout[-EVIDENCE_CHARS:],
            "stderr": self.stderr[-EVIDENCE_CHARS:],
        }

    def why(self) -> str:
        if self.timed_out:
            return f"{self.argv[0]} did not finish in time (killed)"
        last = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return f"{self.argv[0]} exited {self.exit_code}" + (f": {last[-1][:300]}" if last else "")


# A command started stopped: the shell stops itself, then becomes the command (same pid) once resumed.
STOPPED_PREFIX = ["/bin/sh", "-c", 'kill -STOP $$ && exec "$@"', "sh"]


def call(
    argv: list[str],
    timeout: float,
    on_start: Callable[[int], None] | None = None,
    before_kill: Callable[[], None] | None = None,
    stopped: bool = False,
) -> Call:
    """Run `argv` to completion or `timeout`; a program that cannot start raises TargetError.

    `on_start(pid)` is called once the process exists (the pipeline's own record of it). The call
    ends when its output pipes close: a child of the command that outlives it (e.g. the refbox CLI's
    forked supervisor, orphaned when the crash stage kills the CLI) is waited for while it holds them.
    The timeout (the hang guard) is stretched by the time the command's processes waited for a CPU
    (probes/run_delay.py, at most STARVED_MAX_S): a saturated host slows a healthy command, it does
    not hang it. At the timeout `before_kill()` is called first, then the session's members are
    recorded in `Call.killed` and killed. `stopped`: the command stops itself before it execs
    (STOPPED_PREFIX) until someone sends it SIGCONT."""
    try:
        proc = subprocess.Popen(
            STOPPED_PREFIX + argv if stopped else argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,  # so a timeout kills the sandbox's helpers too
        )
    except OSError as e:
        raise TargetError(f"cannot start {argv[0]}: {e.strerror or e}") from None
    if on_start:
        on_start(proc.pid)
    started = time.monotonic()
    try:
        out, err = proc.communicate(timeout=timeout)
        return Call(argv, proc.returncode, out, err)
    except subprocess.TimeoutExpired:
        pass
    delay = RunDelay(proc.pid)
    while (starved := min(delay.update(), STARVED_MAX_S)) > time.monotonic() - started - timeout:
        try:
            out, err = proc.communicate(timeout=STARVED_POLL_S)
            return Call(argv, proc.returncode, out, err, starved_s=starved)
        except subprocess.TimeoutExpired:
            continue
    if before_kill:
        before_kill()
    killed = [{k: m[k] for k in ("pid", "name", "cpu_s")} for m in session_members(proc.pid)]
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        out, err = proc.communicate(timeout=DRAIN_S)
    except subprocess.TimeoutExpired:
        # A process that left the session (a sandbox's own setsid'd helper, orphaned) still holds
        # the output pipes: without this the worker would wait for it for ever.
        proc.kill()
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe:
                pipe.close()
        out, err = "", f"(output lost: its pipes were still held open {DRAIN_S:g} s after the kill)"
    return Call(argv, proc.returncode, out, err, timed_out=True, killed=killed, starved_s=starved)


class CommandTarget(Target):
    def __init__(self, desc: Description):
        self.desc = desc
        self.doc = desc.doc
        self.name = desc.name
        self.capabilities = frozenset(self.doc.get("capabilities", []))
        self.timeout_s = float(self.doc["commands"].get("timeout_s", DEFAULT_TIMEOUT_S))
        self.run_grace_s = float(self.doc["commands"].get("run_grace_s", DEFAULT_RUN_GRACE_S))
        self._version: str | None = None
        self._live: dict[int, dict[int, str]] = {}  # box -> {pid: command key} of calls in progress
        self._live_lock = threading.Lock()  # worker threads call different boxes at once
        self._holds: dict[int, threading.Event] = {}  # box -> the hang guard waits for it (hold_kills)
        self._paused: dict[int, str] = {}  # box -> the command that starts stopped (paused_start)
        self._kills: dict[int, list[dict]] = {}  # box -> what the hang guard killed, until asked

    # -- naming -----------------------------------------------------------------------------------
    def _owns(self, key: str, **more) -> str:
        return render(self.doc["owns"][key], self.desc.values(**more))

    def box_dir(self, box: int) -> str:
        return self._owns("box_dir", box=box)

    @property
    def cgroup_version(self) -> int:
        """The host's: a unified hierarchy at /sys/fs/cgroup is v2 (where a sandbox's cgroups then live)."""
        return 2 if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else 1

    def box_cgroup_dirs(self, box: int) -> list[str]:
        """Box `box`'s cgroups as the target file declares them (owns/box_cgroups)."""
        return [render(t, self.desc.values(box=box)) for t in self.doc["owns"].get("box_cgroups", [])]

    def _box_values(self, box: int) -> dict:
        box_dir = self.box_dir(box)
        work_dir = (
            self._owns("work_dir", box=box, box_dir=box_dir) if "work_dir" in self.doc["owns"] else box_dir
        )
        return self.desc.values(box=box, box_dir=box_dir, work_dir=work_dir)

    def _argv(self, key: str, values: dict) -> list[str]:
        return [render(a, values) for a in self.doc["commands"][key]]

    def _call(self, box: int, key: str, argv: list[str], timeout: float) -> Call:
        """call() for box `box`, its pid known to supervisor_pid() while it runs."""
        pids: list[int] = []

        def started(pid: int) -> None:
            pids.append(pid)
            with self._live_lock:
                self._live.setdefault(box, {})[pid] = key

        try:
            c = call(argv, timeout, started, lambda: self._wait_hold(box), self._paused.get(box) == key)
        finally:
            with self._live_lock:
                calls = self._live.get(box, {})
                for pid in pids:
                    calls.pop(pid, None)
                if not calls:
                    self._live.pop(box, None)
        if c.timed_out:
            why = f"the {key} command did not finish in {timeout:g} s (hang guard)" + (
                f", {c.starved_s:.1f} s more for its wait for a CPU" if c.starved_s else ""
            )
            with self._live_lock:
                self._kills.setdefault(box, []).append({"command": key, "why": why, "killed": c.killed})
        return c

    def _wait_hold(self, box: int) -> None:
        with self._live_lock:
            until = self._holds.get(box)
        if until is not None:
            until.wait(HOLD_MAX_S)

    @contextmanager
    def hold_kills(self, box: int, until: threading.Event) -> Iterator[None]:
        with self._live_lock:
            self._holds[box] = until
        try:
            yield
        finally:
            with self._live_lock:
                self._holds.pop(box, None)

    def pipeline_kills(self, box: int) -> list[dict]:
        with self._live_lock:
            return self._kills.pop(box, [])

    @contextmanager
    def paused_start(self, box: int, command: str) -> Iterator[bool]:
        with self._live_lock:
            self._paused[box] = command
        try:
            yield True
        finally:
            with self._live_lock:
                self._paused.pop(box, None)

    def _newest_call(self, box: int) -> tuple[int, str] | None:
        with self._live_lock:  # several workers may share a box (the locks stage): the newest call
            calls = self._live.get(box)
            return next(reversed(calls.items())) if calls else None

    def supervisor_pid(self, box: int) -> int | None:
        """Pid of the sandbox command running for `box` now (run, init, cleanup or recover), if any."""
        live = self._newest_call(box)
        return live[0] if live else None

    def live_command(self, box: int) -> str | None:
        """Which command ("init", "run", "cleanup", "recover") is running for `box` now, if any."""
        live = self._newest_call(box)
        return live[1] if live else None

    # -- contract ---------------------------------------------------------------------------------
    def version(self) -> str:
        if self._version is None:
            self._version = f"described by {self.desc.source}"
            if "version" in self.doc["commands"]:
                c = call(self._argv("version", self.desc.values()), self.timeout_s)
                lines = (c.stdout.strip() or c.stderr.strip()).splitlines()
                if c.exit_code == 0 and lines:
                    self._version = f"{lines[0][:200]}, {self._version}"
        return self._version

    def owned(self, boxes: list[int] | None = None) -> Owned:
        owns = self.doc["owns"]
        vals = self.desc.values()
        uid_range = tuple(owns["uid_range"]) if "uid_range" in owns else None
        if boxes and "uid_base" in owns:  # per-box uids: this run's boxes only
            uid_range = (owns["uid_base"] + min(boxes), owns["uid_base"] + max(boxes))
        every_box = self.desc.values(box="*")  # a per-box file ({box}) is globbed over every box
        rules = {
            render(f["glob"], every_box): {"schema": f.get("schema"), "format": f.get("format")}
            for f in self._owned_files("state_files") + self._owned_files("lock_files")
        }
        box_paths = [
            render(t, self.desc.values(box=b))
            for b in boxes or []
            for t in [owns["box_dir"], *owns.get("box_cgroups", [])]
        ]
        return Owned(
            box_paths=box_paths,
            box_root=vals["box_root"],
            cgroup_roots=[p for t in owns.get("cgroup_roots", []) for p in expand_dirs(render(t, vals))],
            uid_range=uid_range,
            temp_roots=[render(t, vals) for t in owns.get("temp_roots", [])],
            state_files=list(rules),
            file_rules=rules,
        )

    def _owned_files(self, key: str) -> list[dict]:
        return list(self.doc["owns"].get(key, []))

    def _per_box(self, key: str, box: int) -> str | None:
        """The first `key` entry with {box}, rendered for `box` (None if there is none)."""
        for entry in self._owned_files(key):
            if "{box}" in entry["glob"]:
                return render(entry["glob"], self.desc.values(box=box))
        return None

    def lock_file(self, box: int) -> str | None:
        """Box `box`'s lock file (owns/lock_files with {box}), for the locks stage."""
        return self._per_box("lock_files", box)

    def state_file(self, box: int) -> str | None:
        """Box `box`'s state file (owns/state_files with {box}), for the state stage."""
        return self._per_box("state_files", box)

    def init(self, box: int) -> None:
        c = self._call(box, "init", self._argv("init", self._box_values(box)), self.timeout_s)
        if c.exit_code != 0 or c.timed_out:
            raise TargetError(f"init of box {box}: {c.why()}")

    def run(self, box: int, command: list[str], limits: Limits, files: dict[str, str]) -> Result:
        values = self._box_values(box)
        try:
            file_args = self._place_files(values, files)
        except OSError as e:
            return Result(verdict="IE", message=f"copy into box {box} failed: {e}")
        meta = self._meta_path(box)
        values.update(
            cpu_s=limits.cpu_s,
            wall_s=limits.wall_s,
            mem_mb=limits.mem_mb,
            mem_kb=limits.mem_mb * 1024,
            mem_bytes=limits.mem_mb * 1024 * 1024,
            processes=limits.processes,
            output_kb=limits.output_kb,
            meta=meta,
            command_line=shlex.join(command),
        )
        argv: list[str] = []
        for template in self.doc["commands"]["run"]:
            if template == "{command}":
                argv += command
            elif template == "{files}":
                argv += file_args
            else:
                argv.append(render(template, values))
        exit_status = self.doc["result"]["format"] == "exit_status"
        timeout = limits.wall_s if exit_status else limits.wall_s + self.run_grace_s
        try:
            c = self._call(box, "run", argv, timeout)
            return self._result(c, values, limits)
        except TargetError as e:
            return Result(verdict="IE", message=str(e), raw={"argv": argv})
        finally:
            if meta and os.path.exists(meta):
                os.unlink(meta)

    def _place_files(self, values: dict, files: dict[str, str]) -> list[str]:
        spec = self.doc["files"]
        args: list[str] = []
        for src, name in files.items():
            if "option" in spec:
                args += [render(a, {**values, "src": src, "name": name}) for a in spec["option"]]
                continue
            dest = render(spec["copy_to"], {**values, "name": name})
            shutil.copyfile(src, dest)
            os.chmod(dest, 0o755 if os.access(src, os.X_OK) else 0o644)  # the box uid must read it
        return args

    def _meta_path(self, box: int) -> str:
        """A fresh file of ours for the sandbox's meta output ('' when the file uses none); removed after."""
        uses = [*self.doc["commands"]["run"], self.doc["result"].get("file", "")]
        if not any("{meta}" in t for t in uses):
            return ""
        fd, path = tempfile.mkstemp(prefix=f"reliability-{self.name}-box{box}-", suffix=".meta")
        os.close(fd)
        return path

    def _result(self, c: Call, values: dict, limits: Limits) -> Result:
        spec = self.doc["result"]
        evidence = c.evidence()
        if c.timed_out and spec["format"] == "exit_status":
            return Result(
                verdict="TLE",
                wall_s=limits.wall_s,
                message="wall time (enforced by the pipeline)",
                raw=evidence,
            )
        ok_codes = spec.get("ok_exit_codes", [0])
        if c.timed_out or (spec["format"] != "exit_status" and c.exit_code not in ok_codes):
            return Result(verdict="IE", message=f"run: {c.why()}", raw=evidence)
        text = c.stdout
        if "file" in spec:
            path = render(spec["file"], values)
            try:
                with open(path, errors="replace") as f:
                    text = f.read()
            except OSError as e:
                return Result(verdict="IE", message=f"result file {path}: {e.strerror}", raw=evidence)
            evidence["result_file"] = text[-EVIDENCE_CHARS:]
        try:
            result = results.parse(spec, c.exit_code, text)
        except results.ResultError as e:
            return Result(verdict="IE", message=f"unreadable result: {e}", raw=evidence)
        result.raw = {**evidence, **result.raw}
        if "stdout_file" in spec and not result.stdout:
            result.stdout = _head(render(spec["stdout_file"], values))
        return result

    def cleanup(self, box: int) -> CleanupOutcome:
        steps, quarantined = [], False
        try:
            c = self._call(box, "cleanup", self._argv("cleanup", self._box_values(box)), self.timeout_s)
            ok, error = c.exit_code == 0 and not c.timed_out, "" if c.exit_code == 0 else c.why()
            if not ok:
                said = self._cleanup_result(c)
                error = said.get("error") or error
                quarantined = said.get("quarantined", False)
        except TargetError as e:
            ok, error = False, str(e)
        steps.append({"name": "cleanup command", "ok": ok, "error": error})
        left = self.box_pids(box)
        steps.append(
            {"name": "no box processes left", "ok": not left, "error": f"alive: {left}" if left else ""}
        )
        failed = [s for s in steps if not s["ok"]]
        return CleanupOutcome(
            ok=not failed,
            steps=steps,
            error=f"{failed[0]['name']}: {failed[0]['error']}" if failed else "",
            quarantined=quarantined,
        )

    def _cleanup_result(self, c: Call) -> dict:
        """What the sandbox's own cleanup output says (cleanup_result in the description): its error
        (naming the step) and whether the box is quarantined. A sandbox with no way to say so
        quarantines nothing, as far as a judge can tell."""
        fields = self.doc.get("cleanup_result", {})
        try:
            doc = json.loads(c.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {}
        if not isinstance(doc, dict):
            return {}
        error = doc.get(fields["error"]) if "error" in fields else None
        return {
            "error": f"{c.argv[0]} exited {c.exit_code}: {error}" if isinstance(error, str) and error else "",
            "quarantined": "quarantined" in fields and doc.get(fields["quarantined"]) is True,
        }

    def start(self) -> None:
        """The `start` command, if the file has one, before a stage's runs (HasLifecycle): a resident
        part of the sandbox (a server its commands talk to) that the host snapshots never see, as
        the built-in sandbox's fork server. It must return once that part is up; if it fails, the
        stage cannot run: one line, as for a target file that cannot be used."""
        failed = self._lifecycle("start")
        if failed:
            raise UsageError(f"target {self.name}: its start command failed: {failed}")

    def stop(self) -> None:
        """The `stop` command after the runs, before the host snapshot: it must return once the
        resident part is gone. If it fails, the snapshot shows what stayed (a leak); said here too."""
        failed = self._lifecycle("stop")
        if failed:
            print(f"warning: target {self.name}: its stop command failed: {failed}", file=sys.stderr)

    def _lifecycle(self, key: str) -> str:
        """Run command `key` if the file has one: why it failed, or ""."""
        if key not in self.doc["commands"]:
            return ""
        c = call(self._argv(key, self.desc.values()), self.timeout_s)
        return c.why() if c.exit_code != 0 or c.timed_out else ""

    def recover(self, box: int | None = None) -> list[str]:
        commands = self.doc["commands"]
        if box is None and "recover_all" in commands:
            c = call(self._argv("recover_all", self.desc.values()), self.timeout_s)
            if c.exit_code != 0 or c.timed_out:
                raise TargetError(f"recover: {c.why()}")
            return [f"recover_all: {c.stdout.strip()[:300]}"] if c.stdout.strip() else []
        removed: list[str] = []
        for b in [box] if box is not None else self.present_boxes():
            killed = self._kill_box(b)
            if killed:
                removed.append(f"box {b}: killed {killed}")
            key = "recover" if "recover" in commands else "cleanup"
            c = self._call(b, key, self._argv(key, self._box_values(b)), self.timeout_s)
            if c.exit_code != 0 or c.timed_out:
                raise TargetError(f"recover of box {b} ({key} command): {c.why()}")
            removed.append(f"box {b}: {key} command done")
        return removed

    def present_boxes(self) -> list[int]:
        """Boxes that have a directory or a cgroup now (what recover(None) must look at)."""
        patterns = [self.doc["owns"]["box_dir"], *self.doc["owns"].get("box_cgroups", [])]
        found: set[int] = set()
        for template in patterns:
            prefix, _, suffix = render(template, self.desc.values(box="\0")).partition("\0")
            number = re.compile(r"(\d+)" + re.escape(suffix) + "$")
            for path in glob.glob(prefix + "*" + suffix):  # templates are globs (cgroups use *)
                m = number.search(path)
                if m:
                    found.add(int(m.group(1)))
        return sorted(found)

    def box_pids(self, box: int) -> list[int]:
        pids: set[int] = set()
        for template in self.doc["owns"].get("box_cgroups", []):
            for top in glob.glob(render(template, self.desc.values(box=box))):
                pids.update(_cgroup_tree_pids(top))
        if "uid_base" in self.doc["owns"]:
            pids.update(_pids_of_uid(self.doc["owns"]["uid_base"] + box))
        return sorted(pids)

    def _kill_box(self, box: int) -> list[int]:
        return kill_each(self.box_pids(box))

    def close(self) -> None:
        """Nothing to release (meta files are removed after each run); kept for callers' symmetry."""


def expand_dirs(pattern: str) -> list[str]:
    """`pattern` with its wildcard components expanded over existing directories; literal components
    are kept even if missing (a cgroup root a sandbox creates on first use is still its root)."""
    paths = ["/" if pattern.startswith("/") else ""]
    for part in [p for p in pattern.split("/") if p]:
        if glob.has_magic(part):
            paths = [
                m
                for base in paths
                for m in glob.glob(os.path.join(glob.escape(base), part))
                if os.path.isdir(m)
            ]
        else:
            paths = [os.path.join(base, part) for base in paths]
    return sorted(set(paths))


def _cgroup_tree_pids(top: str) -> list[int]:
    pids = []
    for dirpath, _dirs, names in os.walk(top):
        if "cgroup.procs" in names:
            try:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    pids += [int(line) for line in f if line.strip()]
            except OSError:
                continue  # removed while we walked
    return pids


def _pids_of_uid(uid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            out.append(int(entry))
                        break
        except (OSError, ValueError, IndexError):
            continue
    return out


def _head(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read(EVIDENCE_CHARS)
    except OSError:
        return ""


class FailpointCommandTarget(CommandTarget):
    """A described sandbox that declares "failpoints": its commands read REFBOX_FAILPOINTS, which they
    inherit from the pipeline's environment (Failpoints). Only one that declares them has the part, so
    the faults stage asks for it and never guesses."""

    def failing(self, point: str) -> AbstractContextManager[None]:
        return failpoints.added(point)


def command_target(desc: Description) -> CommandTarget:
    """The target a description makes, with failpoints only if it declares them."""
    return (
        FailpointCommandTarget(desc)
        if "failpoints" in desc.doc.get("capabilities", [])
        else CommandTarget(desc)
    )
