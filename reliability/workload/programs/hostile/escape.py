"""Hostile submission: one escape attempt per case, reporting on stdout what it managed.

Run as: escape.py CASE [ARG]. Each case prints one line, "contained: <why>" or "ESCAPED: <what>", and
exits 0, except the fork bomb, which never ends (its verdict is the sandbox's time limit).
"""

import errno
import os
import signal
import socket
import sys


def read_host_file(path: str) -> str:
    try:
        with open(path) as f:
            return f"ESCAPED: read {path}: {f.read().strip()}"
    except OSError as e:
        return f"contained: {errno.errorcode.get(e.errno, e.errno)}"


def write_host_file(path: str) -> str:
    try:
        with open(path, "w") as f:
            f.write("planted by a hostile submission\n")
        return f"ESCAPED?: wrote {path} (the host decides)"
    except OSError as e:
        return f"contained: {errno.errorcode.get(e.errno, e.errno)}"


def connect(port: str) -> str:
    try:
        socket.create_connection(("127.0.0.1", int(port)), timeout=2).close()
        return f"ESCAPED: connected to 127.0.0.1:{port}"
    except OSError as e:
        return f"contained: {errno.errorcode.get(e.errno, e.errno) if e.errno else e}"


def kill(pid: str) -> str:
    try:
        os.kill(int(pid), signal.SIGKILL)
        return f"ESCAPED: killed {pid}"
    except ProcessLookupError:
        return "contained: ESRCH"  # the host process is not even visible: a pid namespace
    except PermissionError:
        return f"ESCAPED: host process {pid} is visible (EPERM)"


def fill_disk(cap_mb: str) -> str:
    """Write small files into /tmp until the disk refuses; stop at cap_mb so a weak sandbox's host survives.

    32 KiB files: below any output limit (RLIMIT_FSIZE), so only a disk quota can stop the filling.
    """
    block = b"x" * (32 << 10)
    files = 0
    try:
        while files < int(cap_mb) * 32:
            with open(f"/tmp/fill-{os.getpid()}-{files}", "wb") as f:
                files += 1
                f.write(block)
    except OSError as e:
        return f"contained: {errno.errorcode.get(e.errno, e.errno)} after {files // 32} MiB"
    finally:
        for i in range(files):
            try:
                os.unlink(f"/tmp/fill-{os.getpid()}-{i}")
            except OSError:
                pass
    return f"ESCAPED: wrote {files // 32} MiB to /tmp without a quota"


def symlink_out(host_dir: str) -> str:
    """Leave a link to a host directory in the box, for cleanup to (not) follow."""
    os.symlink(host_dir, "escape-link")
    os.symlink(host_dir + "/keep", "escape-file-link")
    reachable = os.path.isdir("escape-link")
    return f"{'ESCAPED: host dir visible' if reachable else 'contained: link dangles'}; left for cleanup"


def setuid(binary: str) -> str:
    """Run a setuid-root binary that prints its effective uid."""
    out = os.popen(f"{binary} -u 2>&1").read().strip()
    return f"ESCAPED: euid {out}" if out == "0" else f"contained: euid {out or 'none'}"


def fork_bomb(_: str) -> str:
    while True:
        try:
            os.fork()
        except OSError:
            pass


CASES = {
    "read_host_file": read_host_file,
    "write_host_file": write_host_file,
    "connect": connect,
    "kill": kill,
    "fill_disk": fill_disk,
    "symlink_out": symlink_out,
    "setuid": setuid,
    "fork_bomb": fork_bomb,
}

if __name__ == "__main__":
    print(CASES[sys.argv[1]](sys.argv[2] if len(sys.argv) > 2 else ""), flush=True)
