"""A lean process that forks the refbox's supervisors, so a run never forks the big pipeline.

Measured on the 2-core VM: a fork of the pipeline (110 worker threads, a 50 MB heap) costs 4-6 ms of
its CPU with the GIL held, and the supervisor, init and program each copy and then tear down the same
big address space again (copy_page_range, unmap_page_range and copy-on-write faults were the kernel's
top entries). Forked from this process (one thread, a small heap), the same chain costs a fraction.

    pipeline ──request──> fork server ──fork──> supervisor ──fork──> init ──fork──> program

One request per run over a SOCK_SEQPACKET socketpair (whole messages: worker threads may send at
once): the plan, the phase recorder and REFBOX_FAILPOINTS as the pipeline has them at that moment,
and four fds (a reply socket, the supervisor's answer pipe, the program's stdout and stderr). The
server forks the supervisor, replies its pid, and later its wait status, so run_supervised() reports a
killed supervisor exactly as when it forked the supervisor itself. The supervisor's code is the same
(supervisor._supervisor_main); only its parent differs.

The server is a fresh interpreter (spawned, not forked from a threaded pipeline), in its own session
(a terminal's Ctrl-C must not end it mid-run), and exits when the pipeline's end of the socket closes.
The socket is a socketpair, never a named socket: nothing else on the host can ask it to fork.
"""

from __future__ import annotations

import array
import gc
import os
import pickle
import select
import socket
import subprocess
import sys
import threading
from dataclasses import replace
from typing import TYPE_CHECKING

from reliability.refbox import failpoints

if TYPE_CHECKING:
    from reliability.refbox.cgroups import Cgroups
    from reliability.refbox.phases import PhaseRecorder
    from reliability.refbox.supervisor import RunPlan

MAX_MESSAGE = 1 << 16
STOP_WAIT_S = 5.0  # for the server to exit at EOF: it has nothing to finish, only to notice
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class ForkServerGone(Exception):
    """The fork server is not running (it died, or was stopped)."""


class ForkServer:
    """The pipeline's handle: start() once before the workers, spawn() from any thread."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        code = f"import sys; sys.path.insert(0, {_ROOT!r}); from reliability.refbox import forkserver; forkserver.serve()"
        try:
            # fd 3 in the server: pass_fds keeps it, close_fds (the default) closes everything else.
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-c", code],
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
                env={**os.environ, "REFBOX_FORKSERVER_FD": str(theirs.fileno())},
            )
        finally:
            theirs.close()
        self._sock = ours
        self._lock = threading.Lock()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def spawn(
        self, cgroups: Cgroups, plan: RunPlan, answer_fd: int, phases: PhaseRecorder | None
    ) -> tuple[int, socket.socket]:
        """Fork a supervisor for `plan`; return its pid and the socket its wait status will come on."""
        reply, server_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            payload = pickle.dumps((cgroups, plan, phases, os.environ.get(failpoints.ENV)))
            fds = [server_end.fileno(), answer_fd, plan.stdout_fd, plan.stderr_fd]
            try:
                self._sock.sendmsg([payload], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
            except OSError as e:
                raise ForkServerGone(f"fork server (pid {self.pid}) gone: {e}") from e
        finally:
            server_end.close()
        try:
            pid = int(reply.recv(64))
        except ValueError:
            reply.close()
            raise ForkServerGone(f"fork server (pid {self.pid}) gave no supervisor pid") from None
        return pid, reply

    def stop(self) -> None:
        with self._lock:
            if self._sock.fileno() >= 0:
                self._sock.close()  # EOF: the server exits; supervisors running go on and finish
                try:
                    self._proc.wait(STOP_WAIT_S)
                except subprocess.TimeoutExpired:
                    # Hung or stopped (SIGSTOP): ours, so ended by its pid, or the pipeline's exit (and
                    # an operator's second Ctrl-C) would wait for it for ever.
                    self._proc.kill()
                    self._proc.wait()


def wait_status(reply: socket.socket) -> int | None:
    """The supervisor's wait status as the server reaped it; None if the server died first."""
    try:
        data = reply.recv(64)
    finally:
        reply.close()
    return int(data) if data else None


# -- in the server process ---------------------------------------------------------------------------
def serve() -> None:
    from reliability.refbox import isolation, supervisor

    control = socket.socket(fileno=int(os.environ.pop("REFBOX_FORKSERVER_FD")))
    # Everything imported so far lives as long as we do: out of the collector's sight, so neither our
    # collections nor a supervisor's walk (and, in the supervisor, copy-on-write copy) those pages.
    # Measured: the collector was a tenth of the fork server's CPU, and its copies the supervisors'.
    gc.freeze()
    running: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, reply socket)
    while True:
        ready = select.select([control, *running], [], [])[0]
        for fd in ready:
            if fd is control:
                continue
            pid, reply = running.pop(fd)
            os.close(fd)
            _, status = os.waitpid(pid, 0)
            _send(reply, str(status).encode())
            reply.close()
        if control not in ready:
            continue
        msg, ancdata, _, _ = control.recvmsg(MAX_MESSAGE, socket.CMSG_SPACE(4 * 4))
        if not msg:
            return  # the pipeline closed its end (or died): no more runs
        fds = array.array("i")
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
        reply_fd, answer_fd, stdout_fd, stderr_fd = fds
        reply = socket.socket(fileno=reply_fd)
        cgroups, plan, phases, points = pickle.loads(msg)
        plan = replace(plan, stdout_fd=stdout_fd, stderr_fd=stderr_fd)
        if plan.isolate:
            isolation.jail_for(plan.argv[0])  # cached here, so each supervisor gets it for free
        me = os.getpid()  # the supervisor's caller: with keep_orphans it watches for our death
        pid = os.fork()
        if pid == 0:
            control.close()
            if points is None:
                os.environ.pop(failpoints.ENV, None)
            else:
                os.environ[failpoints.ENV] = points
            supervisor._supervisor_main(cgroups, plan, answer_fd, phases, me)  # never returns
        for fd in (answer_fd, stdout_fd, stderr_fd):
            os.close(fd)
        _send(reply, str(pid).encode())
        running[os.pidfd_open(pid)] = (pid, reply)


def _send(reply: socket.socket, data: bytes) -> None:
    try:
        reply.send(data)
    except OSError:
        pass  # the pipeline's thread is gone; the supervisor is reaped all the same


# -- one server per pipeline process, shared by its targets ------------------------------------------
_server: ForkServer | None = None
_users = 0
_users_lock = threading.Lock()


def start() -> None:
    """Start this process's fork server (or count one more user of it). Call before the worker threads."""
    global _server, _users
    with _users_lock:
        if _server is None:
            _server = ForkServer()
        _users += 1


def stop() -> None:
    """One user fewer; the last one stops the server (runs still in flight finish by themselves)."""
    global _server, _users
    with _users_lock:
        _users = max(0, _users - 1)
        if _users == 0 and _server is not None:
            _server.stop()
            _server = None


def current() -> ForkServer | None:
    return _server
