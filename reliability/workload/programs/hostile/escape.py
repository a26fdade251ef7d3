"""Hostile submission: one escape attempt per case, reporting on stdout what the kernel answered.

Run as: escape.py CASE [ARG]. Each case prints one JSON line and exits 0, except the fork bomb, which
never ends (its verdict is the sandbox's time limit):

    {"answers": {ATTEMPT: ANSWER, ...}, "detail": "..."}

ANSWER is the errno name the kernel gave (EPERM, ENOENT, ...), or "ok" when the call succeeded, or a
word saying what the program saw ("visible", "none", ...). The program never judges: which answers
count as contained is declared by the isolation check (reliability/checks/isolation.py).
"""

import ctypes
import errno
import json
import os
import signal
import socket
import struct
import sys
import time

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
MACHINE = os.uname().machine
NR = {
    "x86_64": {"clone": 56, "clone3": 435, "setns": 308, "ptrace": 101, "keyctl": 250,
               "perf_event_open": 298, "io_uring_setup": 425},
    "aarch64": {"clone": 220, "clone3": 435, "setns": 268, "ptrace": 117, "keyctl": 219,
                "perf_event_open": 241, "io_uring_setup": 425},
}.get(MACHINE, {})  # fmt: skip
NAMESPACES = {  # kind -> CLONE_NEW* flag
    "user": 0x10000000,
    "mount": 0x00020000,
    "network": 0x40000000,
    "pid": 0x20000000,
    "ipc": 0x08000000,
    "uts": 0x04000000,
    "cgroup": 0x02000000,
    "time": 0x00000080,
}
SIGCHLD = 17


def name(err) -> str:
    return errno.errorcode.get(err, str(err)) if err else "ok"


def raw_syscall(call: str, *args) -> str:
    """The answer of one raw system call by number ("ENOSYS" when its number is unknown here)."""
    if call not in NR:
        return "ENOSYS"
    ctypes.set_errno(0)
    ret = _libc.syscall(NR[call], *args)
    return "ok" if ret >= 0 else name(ctypes.get_errno())


def in_child(attempt) -> str:
    """Run `attempt` in a forked child (what it creates dies with it); its answer is the exit status."""
    pid = os.fork()
    if pid == 0:
        try:
            answer = attempt()
        except OSError as e:
            answer = name(e.errno)
        code = 0 if answer == "ok" else getattr(errno, answer, 255)
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    code = os.WEXITSTATUS(status)
    return "ok" if code == 0 else name(code)


def _unshare(flags: int):
    def attempt() -> str:
        ctypes.set_errno(0)
        return "ok" if _libc.unshare(flags) == 0 else name(ctypes.get_errno())

    return attempt


def _clone(flags: int) -> str:
    """clone(flags | SIGCHLD) by number: the new child exits at once, the caller reaps it."""
    if "clone" not in NR:
        return "ENOSYS"
    ctypes.set_errno(0)
    pid = _libc.syscall(NR["clone"], ctypes.c_ulong(flags | SIGCHLD), None, None, None, None)
    if pid == 0:
        os._exit(0)
    if pid < 0:
        return name(ctypes.get_errno())
    os.waitpid(pid, 0)
    return "ok"


def _clone3(flags: int) -> str:
    """clone3 with struct clone_args {flags, pidfd, child_tid, parent_tid, exit_signal, ...} (88 bytes)."""
    if "clone3" not in NR:
        return "ENOSYS"
    args = ctypes.create_string_buffer(struct.pack("=11Q", flags, 0, 0, 0, SIGCHLD, *[0] * 6), 88)
    ctypes.set_errno(0)
    pid = _libc.syscall(NR["clone3"], args, ctypes.c_size_t(88))
    if pid == 0:
        os._exit(0)
    if pid < 0:
        return name(ctypes.get_errno())
    os.waitpid(pid, 0)
    return "ok"


def namespace(kind: str) -> dict:
    """Create a namespace of `kind`, alone and with a new user namespace (the unprivileged way in)."""
    flag, user = NAMESPACES[kind], NAMESPACES["user"]
    answers = {}
    for label, flags in ((kind, flag), (f"user+{kind}", flag | user)):
        if label == "user+user":
            continue
        answers[f"unshare({label})"] = in_child(_unshare(flags))
        if kind != "time":  # clone(2) reads CLONE_NEWTIME's bit as part of the exit signal
            answers[f"clone({label})"] = _clone(flags)
        answers[f"clone3({label})"] = _clone3(flags)
    made = [a for a, v in answers.items() if v == "ok"]
    return {"answers": answers, "detail": f"created: {', '.join(made)}" if made else "none created"}


def setns(_: str) -> dict:
    """Join a namespace: our own (needs CAP_SYS_ADMIN over it), init's (pid 1 as we see it), and a
    new user namespace a child of ours made (its owner's uid holds every capability over it)."""
    answers = {}
    for owner in ("self", "1"):
        for kind in ("net", "mnt", "pid", "user", "uts", "ipc", "cgroup"):
            try:
                fd = os.open(f"/proc/{owner}/ns/{kind}", os.O_RDONLY)
            except OSError as e:
                answers[f"open /proc/{owner}/ns/{kind}"] = name(e.errno)
                continue
            answers[f"setns /proc/{owner}/ns/{kind}"] = in_child(lambda fd=fd: raw_syscall("setns", fd, 0))
            os.close(fd)
    answers.update(_setns_child_user())
    return {"answers": answers, "detail": ""}


def _setns_child_user() -> dict:
    said_r, said_w = os.pipe()
    go_r, go_w = os.pipe()
    child = os.fork()
    if child == 0:
        ctypes.set_errno(0)
        made = _libc.unshare(NAMESPACES["user"]) == 0
        os.write(said_w, b"ok" if made else name(ctypes.get_errno()).encode())
        os.read(go_r, 1)  # keep the namespace alive until the parent tried
        os._exit(0)
    made = os.read(said_r, 64).decode()
    try:
        if made != "ok":
            return {"unshare(user) in a child, to join": made}
        fd = os.open(f"/proc/{child}/ns/user", os.O_RDONLY)
        answer = in_child(lambda: raw_syscall("setns", fd, 0))
        os.close(fd)
        return {"setns into a child's new user namespace": answer}
    finally:
        os.write(go_w, b"x")
        os.waitpid(child, 0)
        for fd in (said_r, said_w, go_r, go_w):
            os.close(fd)


def inherited_fds(_: str) -> dict:
    """Any descriptor beyond 0-2 that reached the program is one of the pipeline's or the sandbox's."""
    found = {}
    for fd in sorted(int(f) for f in os.listdir("/proc/self/fd")):
        try:
            if fd > 2:
                found[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except FileNotFoundError:
            continue  # the descriptor listdir read the directory with, closed since
    answer = "inherited" if found else "none"
    return {"answers": {"fds beyond 0-2": answer}, "detail": json.dumps(found)}


def ptrace(victim: str) -> dict:
    """PTRACE_ATTACH to our parent (the sandbox's own process) and to a host process."""
    answers = {}
    for who, pid in (("parent", os.getppid()), ("host process", int(victim))):
        answers[f"attach {who}"] = in_child(lambda pid=pid: raw_syscall("ptrace", 16, pid, None, None))
    return {"answers": answers, "detail": ""}


def host_processes(victim: str) -> dict:
    """Host processes seen in /proc: a host process by its pid, and the number of pids listed."""
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    try:
        with open(f"/proc/{victim}/cmdline", "rb") as f:
            seen = "visible" if b"sleep" in f.read() else "ENOENT"  # same number, another process
    except OSError as e:
        seen = name(e.errno)
    return {"answers": {f"/proc/{victim}": seen}, "detail": f"{len(pids)} pids in /proc"}


def cgroup_escape(tag: str) -> dict:
    """Make a cgroup, and move ourselves to the root cgroup of each hierarchy we can find."""
    answers = {}
    roots = ["/sys/fs/cgroup"]
    try:
        roots += [f"/sys/fs/cgroup/{d}" for d in sorted(os.listdir("/sys/fs/cgroup"))]
    except OSError as e:
        answers["list /sys/fs/cgroup"] = name(e.errno)
    for root in roots:
        try:
            os.mkdir(f"{root}/{tag}")
            answers[f"mkdir {root}/{tag}"] = "ok"
        except OSError as e:
            answers[f"mkdir {root}/{tag}"] = name(e.errno)
        try:
            with open(f"{root}/cgroup.procs", "w") as f:
                f.write(str(os.getpid()))
            answers[f"move to {root}"] = "ok"
        except OSError as e:
            answers[f"move to {root}"] = name(e.errno)
    with open("/proc/self/cgroup") as f:
        now = f.read().strip().replace("\n", "; ")
    return {"answers": answers, "detail": f"/proc/self/cgroup: {now}"}


def other_box(neighbour: str) -> dict:
    """Read and write a neighbouring box's files, planted next to our box on the host.

    Boxes are <root>/<N> (the refbox) or <root>/<N>/box (isolate): the neighbour is at ../NAME or
    ../../NAME from a box seen through a plain directory; a jail shows neither."""
    answers = {}
    for directory in (f"../{neighbour}", f"../../{neighbour}"):
        secret = os.path.join(directory, "secret")
        try:
            with open(secret) as f:
                f.read()
            answers[f"read {secret}"] = "ok"
        except OSError as e:
            answers[f"read {secret}"] = name(e.errno)
        try:
            with open(os.path.join(directory, "planted"), "w") as f:
                f.write("planted by a hostile submission\n")
            answers[f"write into {directory}"] = "ok"
        except OSError as e:
            answers[f"write into {directory}"] = name(e.errno)
    return {"answers": answers, "detail": f"cwd {os.getcwd()}"}


def read_shadow(_: str) -> dict:
    try:
        with open("/etc/shadow") as f:
            return {"answers": {"read /etc/shadow": "ok"}, "detail": f"{len(f.read().splitlines())} lines"}
    except OSError as e:
        return {"answers": {"read /etc/shadow": name(e.errno)}, "detail": ""}


def write_readonly(tag: str) -> dict:
    """Write into the system directories the sandbox shares with the program."""
    answers = {}
    for path in (f"/usr/bin/{tag}", f"/lib/{tag}", f"/etc/{tag}", "/etc/passwd"):
        try:
            with open(path, "a"):
                pass
            answers[f"write {path}"] = "ok"
            if path != "/etc/passwd":
                os.unlink(path)
        except OSError as e:
            answers[f"write {path}"] = name(e.errno)
    return {"answers": answers, "detail": ""}


def daemon(tag: str) -> dict:
    """Double fork and setsid: a grandchild named `tag` that sleeps, to outlive the run if it can."""
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:
            os.setsid()
            _libc.prctl(15, tag.encode(), 0, 0, 0)  # PR_SET_NAME: the host looks for this name
            os.closerange(0, 3)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            time.sleep(120)  # no exec: exec would rename it after the binary
        os._exit(0)
    os.waitpid(pid, 0)
    return {"answers": {"daemon started": "ok"}, "detail": f"named {tag}: the host decides"}


def keyctl(_: str) -> dict:
    # KEYCTL_GET_KEYRING_ID (0) of the session keyring (-3), creating it if needed
    return {"answers": {"keyctl": raw_syscall("keyctl", 0, ctypes.c_long(-3), 1)}, "detail": ""}


def perf_event_open(_: str) -> dict:
    attr = ctypes.create_string_buffer(struct.pack("=IIQ", 1, 128, 0) + bytes(112), 128)  # SW cpu-clock
    answer = raw_syscall("perf_event_open", attr, 0, -1, -1, 0)
    return {"answers": {"perf_event_open": answer}, "detail": "software event on ourselves"}


def io_uring_setup(_: str) -> dict:
    params = ctypes.create_string_buffer(120)
    return {"answers": {"io_uring_setup": raw_syscall("io_uring_setup", 1, params)}, "detail": ""}


def tiocsti(_: str) -> dict:
    """Push a character into the input of a terminal we inherited (0-2) or can open (/dev/tty)."""
    answers = {}
    fds = [(str(fd), fd) for fd in (0, 1, 2)]
    try:
        fds.append(("/dev/tty", os.open("/dev/tty", os.O_RDWR)))
    except OSError as e:
        answers["open /dev/tty"] = name(e.errno)
    for label, fd in fds:
        ctypes.set_errno(0)
        ret = _libc.ioctl(fd, 0x5412, ctypes.c_char_p(b"#"))  # TIOCSTI
        answers[f"TIOCSTI on {label}"] = "ok" if ret == 0 else name(ctypes.get_errno())
    return {"answers": answers, "detail": ""}


def read_host_file(path: str) -> dict:
    try:
        with open(path) as f:
            return {"answers": {f"read {path}": "ok"}, "detail": f"read {path}: {f.read().strip()}"}
    except OSError as e:
        return {"answers": {f"read {path}": name(e.errno)}, "detail": ""}


def write_host_file(path: str) -> dict:
    try:
        with open(path, "w") as f:
            f.write("planted by a hostile submission\n")
        return {"answers": {f"write {path}": "ok"}, "detail": "the host decides"}
    except OSError as e:
        return {"answers": {f"write {path}": name(e.errno)}, "detail": ""}


def connect(port: str) -> dict:
    try:
        socket.create_connection(("127.0.0.1", int(port)), timeout=2).close()
        answer = "ok"
    except TimeoutError:
        answer = "ETIMEDOUT"
    except OSError as e:
        answer = name(e.errno)
    return {"answers": {f"connect 127.0.0.1:{port}": answer}, "detail": ""}


def kill(pid: str) -> dict:
    try:
        os.kill(int(pid), signal.SIGKILL)
        answer = "ok"
    except OSError as e:
        answer = name(e.errno)  # EPERM: not killed, but the host process is visible
    return {"answers": {f"kill {pid}": answer}, "detail": ""}


def fill_disk(cap_mb: str) -> dict:
    """Write small files into /tmp until the disk refuses; stop at cap_mb so a weak sandbox's host survives.

    32 KiB files: below any output limit (RLIMIT_FSIZE), so only a disk quota can stop the filling.
    """
    block = b"x" * (32 << 10)
    files, answer = 0, "ok"
    try:
        while files < int(cap_mb) * 32:
            with open(f"/tmp/fill-{os.getpid()}-{files}", "wb") as f:
                files += 1
                f.write(block)
    except OSError as e:
        answer = name(e.errno)
    finally:
        for i in range(files):
            try:
                os.unlink(f"/tmp/fill-{os.getpid()}-{i}")
            except OSError:
                pass
    written = f"wrote {files // 32} MiB to /tmp" + (" without meeting a quota" if answer == "ok" else "")
    return {"answers": {f"fill /tmp up to {cap_mb} MiB": answer}, "detail": written}


def symlink_out(host_dir: str) -> dict:
    """Leave a link to a host directory in the box, for cleanup to (not) follow."""
    os.symlink(host_dir, "escape-link")
    os.symlink(host_dir + "/keep", "escape-file-link")
    answer = "visible" if os.path.isdir("escape-link") else "ENOENT"
    return {"answers": {f"host dir {host_dir} through a link": answer}, "detail": "links left for cleanup"}


def setuid(binary: str) -> dict:
    """Run a setuid-root binary that prints its effective uid."""
    out = os.popen(f"{binary} -u 2>&1").read().strip()
    return {"answers": {f"euid of {binary}": "root" if out == "0" else "not root"}, "detail": f"euid {out}"}


def fork_bomb(_: str) -> dict:
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
    "setns": setns,
    "inherited_fds": inherited_fds,
    "ptrace": ptrace,
    "host_processes": host_processes,
    "cgroup_escape": cgroup_escape,
    "other_box": other_box,
    "read_shadow": read_shadow,
    "write_readonly": write_readonly,
    "daemon": daemon,
    "keyctl": keyctl,
    "perf_event_open": perf_event_open,
    "io_uring_setup": io_uring_setup,
    "tiocsti": tiocsti,
}
CASES.update({f"namespace_{kind}": (lambda _, kind=kind: namespace(kind)) for kind in NAMESPACES})

if __name__ == "__main__":
    print(json.dumps(CASES[sys.argv[1]](sys.argv[2] if len(sys.argv) > 2 else "")), flush=True)
