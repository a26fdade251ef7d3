"""`reliability box serve --dir D`: the box commands answered by a resident process.

A CLI sandbox script (docs/targets.md) runs `reliability box` three times per execution, and each start
of the interpreter and the refbox's imports costs over 100 ms of CPU: on a 2-core host the script
could not reach the concurrent stage's rate (600 a minute). The server imports once; the client
(boxclient.c) costs a millisecond. Each request gets a worker forked from the server, which runs the
same `reliability box` code as the CLI in a process of its own, with the client's arguments,
environment, working directory and fds 0-2: one process per command, holding the box lock, as the
CLI is. So what the stages see of the sandbox is the same, with one difference they are told about
by the client: killing the client kills the worker (SIGKILL, as the crash stage kills a CLI), and its
signals INT, TERM, HUP and QUIT are forwarded.

D holds `socket`, `pid` and `client` (a link to the built client; absent without a C compiler, where
the script runs the CLI). The server is started and stopped around a stage's runs by the target
file's `start` and `stop` commands (HasLifecycle), so the host snapshots never see it.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import stat
import struct
import sys
import time
import traceback

SOCKET, PID, CLIENT = "socket", "pid", "client"
LENGTH = struct.Struct("=I")  # the request's length, before it (boxclient.c)
ANSWER = struct.Struct("=ii")  # (0, exit code) or (1, signal)
MAX_REQUEST = 1 << 20
FORWARDED = frozenset((signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT))
STOP_WAIT_S = 15.0  # runs still in flight when stopped get this long, then the server is killed
START_WAIT_S = 30.0  # the first start may compile the client


class ServerError(Exception):
    """The server could not be started or stopped (the message says why)."""


def start(directory: str) -> dict:
    """A server for `directory`, started now unless one already answers there; returns once it listens."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    st = os.lstat(directory)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        # Its `client` is what the script runs as root: nobody else may be able to put one there.
        raise ServerError(f"{directory} is not a directory of ours alone (owner and mode)")
    running = _running(directory)
    if running:
        return {"action": "serve", "ok": True, "pid": running, "started": False}
    from reliability.refbox import boxinit_build

    client = boxinit_build.client_path()  # built here, where a failure can be reported
    ready_r, ready_w = os.pipe()
    first = os.fork()
    if first == 0:  # pragma: no cover - runs in the daemon
        os.close(ready_r)
        os.setsid()
        if os.fork():
            os._exit(0)
        _daemon(directory, client, ready_w)
    os.close(ready_w)
    os.waitpid(first, 0)
    with os.fdopen(ready_r, "rb") as ready:
        said = ready.read().decode(errors="replace")
    if not said.startswith("ok "):
        raise ServerError(f"the server for {directory} did not start: {said.strip() or 'no word from it'}")
    return {"action": "serve", "ok": True, "pid": int(said.split()[1]), "started": True, "client": client}


def stop(directory: str, wait_s: float = STOP_WAIT_S) -> dict:
    """Stop the server of `directory` (SIGTERM: it finishes the runs in flight; SIGKILL after wait_s),
    wait until it is gone, and remove the directory."""
    pid = _server_pid(directory)
    stopped = None
    if pid:
        os.kill(pid, signal.SIGTERM)
        if not _gone(pid, wait_s):
            os.kill(pid, signal.SIGKILL)
            _gone(pid, 5.0)
        stopped = pid
    _remove(directory, SOCKET, PID, CLIENT)
    try:
        os.rmdir(directory)
    except FileNotFoundError:
        pass
    return {"action": "serve", "ok": True, "stopped": stopped}


def _remove(directory: str, *names: str) -> None:
    """Remove these files of the server's directory, where they exist."""
    for name in names:
        try:
            os.unlink(os.path.join(directory, name))
        except FileNotFoundError:
            pass


def _server_pid(directory: str) -> int | None:
    """The pid in D/pid if that process is a server of D (not a pid reused since)."""
    try:
        with open(os.path.join(directory, PID)) as f:
            pid = int(f.read())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except (OSError, ValueError):
        return None
    where = os.fsencode(directory)
    named = any(a == where or a.endswith(b"=" + where) for a in argv)  # --dir D or --dir=D
    return pid if b"serve" in argv and named else None


def _running(directory: str) -> int | None:
    """The pid of a server that answers at D/socket now."""
    pid = _server_pid(directory)
    if not pid:
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(os.path.join(directory, SOCKET))
        except OSError:
            return None
    return pid


def _gone(pid: int, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rpartition(")")[2].split()[0] in ("Z", "X"):
                    return True
        except OSError:
            return True
        time.sleep(0.01)
    return False


def _daemon(directory: str, client: str | None, ready_w: int) -> None:  # pragma: no cover - the daemon
    """The server itself: detached, its standard fds on /dev/null (a caller reading the start command's
    output must see it end), listening; says "ok PID" or why not on ready_w."""
    try:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        os.closerange(3, ready_w)  # whatever the caller's process held: a pipe kept open hangs its reader
        os.closerange(ready_w + 1, os.sysconf("SC_OPEN_MAX"))
        _warm()
        path = os.path.join(directory, SOCKET)
        _remove(directory, SOCKET, CLIENT)  # a dead server's
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(256)
        tmp = os.path.join(directory, f".{PID}.{os.getpid()}")
        with open(tmp, "w") as f:
            f.write(str(os.getpid()))
        os.rename(tmp, os.path.join(directory, PID))
        if client:  # last: the script takes the client's link as the sign that the server is up
            os.symlink(client, os.path.join(directory, CLIENT))
    except BaseException as e:
        os.write(ready_w, f"{type(e).__name__}: {e}".encode())
        os._exit(1)
    os.write(ready_w, f"ok {os.getpid()}".encode())
    os.close(ready_w)
    try:
        _Server(listener, directory).serve()
    finally:
        os._exit(0)


def _warm() -> None:
    """What every command would load or build: imported and compiled once, here, before any fork."""
    from reliability.refbox import boxinit_build, cli, state  # noqa: F401 - imported for the workers

    boxinit_build.path()
    state.problems(state.idle(0))  # compiles the state schema


class _Server:
    def __init__(self, listener: socket.socket, directory: str):
        self.listener = listener
        self.directory = directory
        self.sel = selectors.DefaultSelector()
        self.stopping = False
        self.stop_asked = False  # set by SIGTERM; acted on in the loop, never inside a handler
        self.pending: dict[socket.socket, tuple[bytearray, list[int]]] = {}  # requests being read
        self.workers: dict[int, socket.socket] = {}  # worker pid -> its client's connection
        self.worker_of: dict[socket.socket, int] = {}

    def serve(self) -> None:
        wake_r, wake_w = os.pipe()
        for fd in (wake_r, wake_w):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stop_asked", True))
        self.wake = os.fdopen(wake_r, "rb")
        self.sel.register(self.listener, selectors.EVENT_READ, self._accept)
        self.sel.register(self.wake, selectors.EVENT_READ, lambda _: self.wake.read())
        while not (self.stopping and not self.workers):
            for key, _ in self.sel.select(timeout=1.0):
                key.data(key.fileobj)
            self._reap()
            if self.stop_asked:
                self._stop()

    def _stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        for conn in list(self.pending):  # requests not yet whole: their clients fall back to nothing
            self._drop(conn)
        self.sel.unregister(self.listener)
        self.listener.close()
        _remove(self.directory, CLIENT, SOCKET)  # new commands run the CLI from now on

    def _accept(self, listener: socket.socket) -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        conn.setblocking(False)
        self.pending[conn] = (bytearray(), [])
        self.sel.register(conn, selectors.EVENT_READ, self._read_request)

    def _read_request(self, conn: socket.socket) -> None:
        buf, fds = self.pending[conn]
        try:
            data, got, _, _ = socket.recv_fds(conn, 65536, 3, socket.MSG_CMSG_CLOEXEC)
        except BlockingIOError:
            return
        except OSError:
            data, got = b"", []
        fds += got
        buf += data
        if not data or len(buf) > MAX_REQUEST + LENGTH.size:
            self._drop(conn)
            return
        if len(buf) < LENGTH.size or len(buf) < LENGTH.size + LENGTH.unpack_from(buf)[0]:
            return
        del self.pending[conn]
        try:
            request = _parse(bytes(buf[LENGTH.size :]))
        except ValueError:
            request = None
        if request is None or len(fds) != 3:
            _close_all(fds)
            self.sel.unregister(conn)
            conn.close()
            return
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the worker
            _work(fds, *request)
        _close_all(fds)
        self.workers[pid] = conn
        self.worker_of[conn] = pid
        self.sel.modify(conn, selectors.EVENT_READ, self._client_said)

    def _client_said(self, conn: socket.socket) -> None:
        """A forwarded signal, or the client's end: a client killed is a command killed."""
        pid = self.worker_of[conn]
        try:
            data = conn.recv(64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.sel.unregister(conn)
            _signal(pid, signal.SIGKILL)
            return
        for sig in data:
            if sig in FORWARDED:
                _signal(pid, sig)

    def _drop(self, conn: socket.socket) -> None:
        _close_all(self.pending.pop(conn)[1])
        self.sel.unregister(conn)
        conn.close()

    def _reap(self) -> None:
        while self.workers:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.workers.pop(pid, None)
            if conn is None:
                continue
            del self.worker_of[conn]
            answer = (
                (1, os.WTERMSIG(status)) if os.WIFSIGNALED(status) else (0, os.waitstatus_to_exitcode(status))
            )
            try:
                conn.setblocking(True)
                conn.sendall(ANSWER.pack(*answer))
            except OSError:
                pass  # the client is gone
            try:
                self.sel.unregister(conn)
            except KeyError:
                pass  # unregistered when its client ended
            conn.close()


def _parse(body: bytes) -> tuple[list[str], dict[str, str], str]:
    """(args, environment, working directory) of a request; ValueError if malformed."""
    parts = [os.fsdecode(p) for p in body.split(b"\0")]
    if parts[-1] != "":
        raise ValueError("not NUL-terminated")
    nargs = int(parts[0])
    args = parts[1 : 1 + nargs]
    nenv = int(parts[1 + nargs])
    entries = parts[2 + nargs : 2 + nargs + nenv]
    if len(entries) != nenv or len(parts) != 4 + nargs + nenv:
        raise ValueError("counts do not match")
    env = dict(e.partition("=")[::2] for e in entries)
    return args, env, parts[2 + nargs + nenv]


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


def _work(fds: list[int], args: list[str], env: dict[str, str], cwd: str) -> None:  # pragma: no cover
    """The forked worker: `reliability box ARGS` as the CLI runs it, then exit with its code."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the listener, every client's connection
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        from reliability.refbox.cli import main

        code = main(["box", *args], prog="reliability")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
    except KeyboardInterrupt:
        _flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    except BaseException:
        traceback.print_exc()
    _flush()
    os._exit(code)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
