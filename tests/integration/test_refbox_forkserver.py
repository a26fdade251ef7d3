"""The refbox's fork server ends when the pipeline stops it, even when it cannot answer (hung, or
stopped by SIGSTOP): stopping it is bounded, so the pipeline's exit and a second Ctrl-C never wait
for it for ever."""

from __future__ import annotations

import os
import signal
import time

from reliability.refbox import forkserver


def test_a_stopped_fork_server_is_ended_by_its_pid_within_the_bound():
    server = forkserver.ForkServer()
    pid = server.pid
    os.kill(pid, signal.SIGSTOP)  # it can no longer notice the EOF that ends it
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < forkserver.STOP_WAIT_S + 2
    assert not os.path.exists(f"/proc/{pid}")  # ended and reaped


def test_a_healthy_fork_server_exits_by_itself_at_the_eof():
    server = forkserver.ForkServer()
    time.sleep(1.0)  # let it start serving
    server.stop()
    assert server._proc.returncode == 0  # exited on its own at the EOF, not killed
