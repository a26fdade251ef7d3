"""Isolation (beyond QA-REL-001, security): hostile submissions that must be contained, host unchanged.

Each case is one run of programs/hostile/escape.py, which prints the kernel's answer to each attempt;
checks/isolation.py declares which answers count as contained and what kind of hole the others are.
The host fixture plants what the cases aim at (a world-readable secret in /tmp, a path to write, a
listener on 127.0.0.1, a victim process, a host directory to link to, a setuid-root `id`), journals
the case table, then the host-side evidence (a planted file, a connection, a cgroup made, a daemon
still alive), and removes it all before the "after" snapshot. `around` plants a neighbouring box
next to the target's boxes for the other_box case. Expected verdicts: every case prints its answers
and exits 0 (OK), except the fork bomb: the pids limit holds its count, it spins on failing forks,
and the time limit ends it (TLE).
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from reliability.checks import cleanup, completeness, isolation, leaks
from reliability.profiles import Sizes
from reliability.runner import Prepared
from reliability.stages.base import Fixture, Stage, StageContext
from reliability.targets.base import Limits
from reliability.workload import toolchain
from reliability.workload.catalog import PROGRAMS_DIR
from reliability.workload.submission import Submission

ESCAPE = PROGRAMS_DIR / "hostile" / "escape.py"
LIMITS = Limits(cpu_s=2.0, wall_s=5.0, mem_mb=256, processes=16, output_kb=64)
FILL_CAP_MB = 20  # above the refbox's private /tmp (16 MiB); the cap spares a weak sandbox's host
NEIGHBOUR_SECRET = "a neighbouring box's file"
SIZES = {  # iterations = rounds of every hostile case
    "smoke": Sizes(iterations=1, concurrency=2),
    "preprod": Sizes(iterations=1, concurrency=2),
    "quick": Sizes(iterations=3, concurrency=2),
    "release": Sizes(iterations=20, concurrency=4),
}


def neighbour_name() -> str:
    """The neighbouring box planted next to the target's boxes (one per pipeline process)."""
    return f"reliability-neighbour-{os.getpid()}"


class HostFixture(Fixture):
    """The host side of the escape attempts; `evidence()` says what the host saw."""

    def __init__(self) -> None:
        super().__init__()
        tag = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.secret = secrets.token_hex(16)
        self.secret_path = f"/tmp/reliability-secret-{tag}"
        self.write_path = f"/tmp/reliability-planted-{tag}"
        self.host_dir = f"/tmp/reliability-hostdir-{tag}"
        self.setuid_dir = f"/usr/local/lib/reliability-setuid-{tag}"
        self.escape_name = f"reliability-escape-{tag}"  # a cgroup or a file the program tries to make
        self.daemon_name = f"rdaemon{secrets.token_hex(4)}"  # its comm: at most 15 characters
        self.connections = 0

    def start(self) -> None:
        with open(self.secret_path, "w") as f:
            f.write(self.secret)
        os.chmod(self.secret_path, 0o644)  # readable by anyone: only the jail keeps it from the box
        os.makedirs(self.host_dir)
        with open(os.path.join(self.host_dir, "keep"), "w") as f:
            f.write("must survive cleanup")
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self._stop = threading.Event()
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()
        self.victim = subprocess.Popen(["sleep", "3600"])
        setuid = self._plant_setuid()
        python = toolchain.detect("python")
        args = {
            "read_host_file": self.secret_path,
            "write_host_file": self.write_path,
            "connect": str(self.listener.getsockname()[1]),
            "kill": str(self.victim.pid),
            "fill_disk": str(FILL_CAP_MB),
            "symlink_out": self.host_dir,
            "setuid": setuid,
            "ptrace": str(self.victim.pid),
            "host_processes": str(self.victim.pid),
            "cgroup_escape": self.escape_name,
            "write_readonly": self.escape_name,
            "other_box": neighbour_name(),
            "daemon": self.daemon_name,
        }
        for case in isolation.CASES:
            arg = args.get(case, "")
            if not python.available:
                self.prepared[f"hostile/{case}"] = python.missing
            elif case == "setuid" and not setuid:
                self.prepared[f"hostile/{case}"] = "cannot plant a setuid-root binary under /usr/local/lib"
            else:
                command = [python.tools["python3"], "-I", "-S", "escape.py", case, arg]
                self.prepared[f"hostile/{case}"] = Prepared(command, {str(ESCAPE): "escape.py"})

    def _plant_setuid(self) -> str:
        source = shutil.which("id")
        try:
            os.makedirs(self.setuid_dir, 0o755)
            path = os.path.join(self.setuid_dir, "id")
            shutil.copyfile(os.path.realpath(source or "/usr/bin/id"), path)
            os.chown(path, 0, 0)
            os.chmod(path, stat.S_ISUID | 0o755)
            return path
        except OSError:
            return ""

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
                self.connections += 1
                conn.close()
            except TimeoutError:
                continue
            except OSError:
                return

    def evidence(self) -> dict:
        keep = os.path.join(self.host_dir, "keep")
        return {
            "secret": self.secret,
            "planted_file_exists": os.path.lexists(self.write_path),
            "connections": self.connections,
            "victim_alive": self.victim.poll() is None,
            "host_dir_intact": os.path.isfile(keep) and open(keep).read() == "must survive cleanup",
            "cgroup_made": bool(self.cgroups_made()),
            "daemon_alive": bool(self.daemons()),
        }

    def cgroups_made(self) -> list[str]:
        roots = ["/sys/fs/cgroup"] + [e.path for e in os.scandir("/sys/fs/cgroup") if e.is_dir()]
        return [
            os.path.join(r, self.escape_name)
            for r in roots
            if os.path.isdir(os.path.join(r, self.escape_name))
        ]

    def daemons(self) -> list[int]:
        """Processes named as the daemon case names its grandchild: it outlived its run."""
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() == self.daemon_name:
                        found.append(int(pid))
            except OSError:
                continue
        return found

    def stop(self) -> None:
        self._stop.set()
        self._accepting.join()
        self.listener.close()
        if self.victim.poll() is None:
            self.victim.kill()
        self.victim.wait()
        for path in (self.secret_path, self.write_path):
            if os.path.lexists(path):
                os.unlink(path)
        shutil.rmtree(self.host_dir, ignore_errors=True)
        shutil.rmtree(self.setuid_dir, ignore_errors=True)
        for path in self.cgroups_made():
            os.rmdir(path)
        for pid in self.daemons():  # a survivor of a sandbox that let it out: ours to end
            os.kill(pid, signal.SIGKILL)


@contextmanager
def host_fixture(ctx: StageContext) -> Iterator[HostFixture]:
    journal = ctx.journal
    fixture = HostFixture()
    try:
        fixture.start()
        cases = {name: case.to_dict() for name, case in isolation.CASES.items()}
        journal.append("evidence", label=isolation.CASES_LABEL, evidence={"cases": cases})
        yield fixture
        journal.append("evidence", label="isolation host", evidence=fixture.evidence())
    finally:
        fixture.stop()


@contextmanager
def around(ctx: StageContext, sub: Submission) -> Iterator[None]:
    """For other_box: a neighbouring box next to the target's boxes, world-readable and -writable so
    that only the jail keeps the program out; what became of it is journaled, then it is removed."""
    if sub.case != "other_box":
        yield None
        return
    journal, target = ctx.journal, ctx.target
    root = target.owned().box_root
    if not root or not os.path.isdir(root):
        why = f"target {target.name} declares no box root on this host ({root or 'none'})"
        yield None
        journal.append(
            "evidence",
            label="isolation neighbour",
            evidence={"neighbour_intact": None, "neighbour_intact_why": why},
        )
        return
    path = os.path.join(root, neighbour_name())
    os.makedirs(path, exist_ok=True)
    try:
        os.chmod(path, 0o777)
        with open(os.path.join(path, "secret"), "w") as f:
            f.write(NEIGHBOUR_SECRET)
        os.chmod(os.path.join(path, "secret"), 0o644)
        yield None
        with open(os.path.join(path, "secret")) as f:
            intact = sorted(os.listdir(path)) == ["secret"] and f.read() == NEIGHBOUR_SECRET
        journal.append(
            "evidence", label="isolation neighbour", evidence={"neighbour_intact": intact, "neighbour": path}
        )
    finally:
        shutil.rmtree(path, ignore_errors=True)


def workload(ctx: StageContext) -> Iterator[Submission]:
    rng = random.Random(ctx.seed)
    index = 0
    for _ in range(ctx.sizes.iterations):
        cases = list(isolation.CASES)
        rng.shuffle(cases)
        for case in cases:
            expected = isolation.CASES[case].verdict
            ending = "timeout" if expected == "TLE" else "normal"
            # One program per case: escape.py with the case and what it aims at as its arguments.
            yield Submission(index, f"hostile/{case}", "python", expected, ending, LIMITS, case=case)
            index += 1


STAGE = Stage(
    name="isolation",
    title="Isolation of hostile submissions (beyond QA-REL-001: security)",
    sizes=SIZES,
    workload=workload,
    planned=lambda ctx: ctx.sizes.iterations * len(isolation.CASES),
    cases=tuple(isolation.CASES),
    checks=(isolation.check, completeness.check, cleanup.check, leaks.check),
    host_fixture=host_fixture,
    around=around,
)
