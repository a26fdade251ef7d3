"""A claimant of a box in ANOTHER process: the same target made again, for the locks stage's sub-cases.

    python3 -m reliability.nemesis.lock_holder SPEC_JSON

SPEC: {"target": name, "options": {...}, "box": N, "mode": "hold" | "contend", "command": [...],
"files": {host path: name in box}, "limits": {...}}. The target is made with reliability.targets.load
from the (name, options) the pipeline's target was loaded with (Target.loaded_as). Each report is one
JSON line on stdout:

  hold     init the box, say {"event": "init", "ok": true} (or false with the error and exit 3), then run
           the command (a long marker) in it. The stage SIGKILLs the holder while the program runs:
           the dead holder's lock is what must be recovered.
  contend  say {"event": "ready"}, wait for a line on stdin, then init, run and cleanup once, and say
           {"event": "done", "ran": bool, "cause": refusal, "started", "ran_from", "ended", "result",
           "cleanup"}: the second contender of a race for the box.

The parent side (Helper) starts it in its own session, reads its reports with a timeout, and ends it by
its pid only. `lock_holders` finds which of the helper's processes hold the lock file open: for an
in-process target (the builtin) that is the helper itself, for a CLI sandbox its run command's process.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import reliability
from reliability.kill import kill_each as kill  # noqa: F401 - lock_cases kills through here
from reliability.targets.capabilities import Reloadable, capability

REPO = str(Path(reliability.__file__).resolve().parents[1])


# -- the helper process ---------------------------------------------------------------------------
def _say(**event) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    from reliability.targets import load
    from reliability.targets.base import Limits, TargetError

    spec = json.loads(argv[0])
    target = load(spec["target"], spec["options"])
    box, limits = spec["box"], Limits.from_dict(spec["limits"])
    if spec["mode"] == "hold":
        try:
            target.init(box)
        except TargetError as e:
            _say(event="init", ok=False, error=str(e))
            return 3
        _say(event="init", ok=True, pid=os.getpid())
        result = target.run(box, spec["command"], limits, spec["files"])
        _say(event="result", result=result.to_dict())  # only if nobody killed us
        return 0
    _say(event="ready", pid=os.getpid())
    sys.stdin.readline()
    started = time.time()
    try:
        target.init(box)
    except TargetError as e:
        _say(event="done", ran=False, cause=str(e) or repr(e), started=started, ended=time.time())
        return 0
    ran_from = time.time()
    result = target.run(box, spec["command"], limits, spec["files"])
    ended = time.time()
    outcome = target.cleanup(box)
    _say(
        event="done",
        ran=True,
        started=started,
        ran_from=ran_from,
        ended=ended,
        result=result.to_dict(),
        cleanup=outcome.to_dict(),
    )
    return 0


# -- the parent side ------------------------------------------------------------------------------
class Helper:
    """One helper process; `events` are its JSON reports read so far."""

    def __init__(self, target, box: int, mode: str, command: list[str], files: dict, limits) -> None:
        name, options = capability(target, Reloadable).loaded_as  # asked for by stages/locks.py first
        spec = {
            "target": name,
            "options": options,
            "box": box,
            "mode": mode,
            "command": command,
            "files": files,
            "limits": limits.to_dict(),
        }
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO, env.get("PYTHONPATH")]))
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reliability.nemesis.lock_holder", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            start_new_session=True,  # a terminal's Ctrl-C is ours to handle; our finally ends it
        )
        self.pid = self.proc.pid
        self._buf = b""
        self._tail = ""
        self.events: list[dict] = []

    def read(self, timeout_s: float) -> dict | None:
        """The next report, or None if none came within `timeout_s` (or the helper ended)."""
        deadline = time.monotonic() + timeout_s
        fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            event = json.loads(line)
        except ValueError:
            event = {"event": "unreadable", "line": line.decode(errors="replace")[:300]}
        self.events.append(event)
        return event

    def go(self) -> None:
        self.proc.stdin.write(b"go\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]

    def stderr_tail(self, chars: int = 600) -> str:
        if not self._stderr.closed:
            self._stderr.seek(0)
            self._tail = self._stderr.read().decode(errors="replace")[-chars:].strip()
        return self._tail

    def stop(self, wait_s: float = 0.0) -> int | None:
        """Let it end by itself for up to `wait_s`, else SIGKILL it (by pid); reap it; its exit code."""
        try:
            self.proc.wait(timeout=wait_s) if wait_s > 0 else None
        except subprocess.TimeoutExpired:
            pass
        if self.proc.poll() is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
        code = self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            if f:
                f.close()
        self.stderr_tail()
        self._stderr.close()
        return code


# -- processes ------------------------------------------------------------------------------------
def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) of `pid`, None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    return fields[0].decode(), int(fields[1]), int(fields[19])


def alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def identity(pid: int) -> tuple[int, int] | None:
    """(pid, start time): names a process so a reused pid is never taken for it."""
    st = _stat(pid)
    return (pid, st[2]) if st else None


def same_alive(ident: tuple[int, int]) -> bool:
    st = _stat(ident[0])
    return st is not None and st[2] == ident[1] and st[0] not in ("Z", "X")


def descendants(root: int) -> list[int]:
    """`root` and every live process below it."""
    parent = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st:
                parent[int(entry)] = st[1]
    found, frontier = [root], [root]
    while frontier:
        frontier = [p for p, pp in parent.items() if pp in frontier and p not in found]
        found += frontier
    return [p for p in found if alive(p)]


def lock_holders(root: int, lock_file: str | None) -> list[int]:
    """The processes in `root`'s tree that have `lock_file` open (the holders of its lock)."""
    if not lock_file:
        return []
    want = os.path.realpath(lock_file)
    out = []
    for pid in descendants(root):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == want:
                    out.append(pid)
                    break
            except OSError:
                continue
    return out


def outside(root: int, inside: list[tuple[int, int]]) -> list[int]:
    """`root`'s tree without the processes in `inside` (a box's programs) and what is below them."""
    boxed = set()
    for pid, _ in inside:
        boxed.update(descendants(pid))
    return [p for p in descendants(root) if p not in boxed]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
