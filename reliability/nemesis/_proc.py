"""Helper processes the faults start: each in its own session, ended by its pid (never by name)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from reliability.probes.proc_stat import session_members


def start_python(code: str, *args: str, cwd: str | None = None, preexec_fn=None) -> subprocess.Popen:
    """A python child that prints "ready" once it holds what it must hold; returns after that line."""
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", code, *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a terminal's Ctrl-C reaches us, and our finally ends it
        preexec_fn=preexec_fn,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if line.strip() != "ready":
        stop(proc)
        raise OSError(f"fault helper did not start (said {line.strip()!r}, exit {proc.returncode})")
    return proc


GROUP_GONE_S = 10.0  # SIGKILLed workers holding much memory take a while to exit and be reaped


def stop(proc: subprocess.Popen, group: bool = False) -> None:
    """SIGKILL the helper (and its session's group when it forks workers), then reap it.

    With `group`, also wait until no process of its session is left: the workers are not our children,
    so once the helper is reaped they are init's, and may still be exiting (or unreaped) when the
    pipeline's next snapshot looks. A fault is ended when what it started is gone."""
    if proc.poll() is None:
        try:
            if group:
                os.killpg(proc.pid, signal.SIGKILL)  # its own group: start_new_session made pgid == pid
            else:
                proc.kill()
        except ProcessLookupError:
            pass
    proc.wait()
    if proc.stdout:
        proc.stdout.close()
    if group:
        deadline = time.monotonic() + GROUP_GONE_S
        while session_members(proc.pid, zombies=True) and time.monotonic() < deadline:
            time.sleep(0.01)


HOLD = """
import os, signal, sys
fds = [os.open(p, os.O_RDONLY) for p in sys.argv[1:]]
print("ready", flush=True)
signal.pause()
"""
