"""Every program, built for real and run directly (no sandbox), shows the behaviour its outcome needs.

Runs are as close to a box as a test can be without the sandbox: cwd = a fresh directory holding only
the built files, a minimal environment, an unprivileged uid, and for OK and MLE a real cgroup with
the tightest limits the generator may pick (OK) or a 640 MB limit (MLE).
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from reliability.workload import catalog
from reliability.workload.build import Builder, Built
from reliability.workload.generator import (
    MIN_CPU_S,
    MIN_MEM_MB,
    MIN_PROCESSES,
    MLE_CPU_S_PER_MB,
    MLE_MARGIN,
    MLE_START_CPU_S,
)
from reliability.workload.toolchain import detect_all

BOX_UID = 65534  # nobody
BOX_PATH = "/usr/local/bin:/usr/bin:/bin"
SAFETY_TIMEOUT_S = 120  # only against a hang; no assertion depends on it
MLE_LIMIT_MB = 640

# How each runtime error ends: an exit status, or minus the signal.
RE_STATUS = {
    "cpp/re_segv": -signal.SIGSEGV,
    "cpp/re_abort": -signal.SIGABRT,
    "cpp/re_exit": 3,
    "java/re_exception": 1,
    "java/re_exit": 3,
    "python/re_exception": 1,
    "python/re_exit": 3,
}

TOOLCHAINS = detect_all()


def _programs(behaviour: str) -> list:
    return [pytest.param(p, id=p.id) for p in catalog.PROGRAMS if p.behaviour == behaviour]


@pytest.fixture(scope="module")
def built() -> Iterator[dict[str, Built]]:
    cache = tempfile.mkdtemp(prefix=f"wl-programs-cache-{os.getpid()}-")
    try:
        result, _skipped = Builder(cache, TOOLCHAINS).build_all(catalog.PROGRAMS)
        yield result
    finally:
        shutil.rmtree(cache)


def _built_or_skip(built: dict[str, Built], program: catalog.Program) -> Built:
    if program.id not in built:
        pytest.skip(TOOLCHAINS[program.language].missing)
    return built[program.id]


class TestCgroup:
    """A memory + pids cgroup of our own (v1 on this machine, v2 on CI runners), removed afterwards."""

    __test__ = False  # not a test class

    def __init__(self, mem_mb: int, pids: int):
        name = f"wl-test-{os.getpid()}-{time.monotonic_ns()}"
        if os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes"):
            self.dirs = [f"/sys/fs/cgroup/memory/{name}", f"/sys/fs/cgroup/pids/{name}"]
            settings = {
                self.dirs[0]: {"memory.limit_in_bytes": mem_mb << 20},
                self.dirs[1]: {"pids.max": pids},
            }
            self._oom, self._peak = "memory.oom_control", "memory.max_usage_in_bytes"
        else:
            self.dirs = [f"/sys/fs/cgroup/{name}"]
            settings = {self.dirs[0]: {"memory.max": mem_mb << 20, "memory.swap.max": 0, "pids.max": pids}}
            self._oom, self._peak = "memory.events", "memory.peak"
        for directory, values in settings.items():
            os.mkdir(directory)
            for key, value in values.items():
                if os.path.exists(os.path.join(directory, key)):
                    Path(directory, key).write_text(str(value))

    @classmethod
    def usable(cls) -> str:
        """'' if this host can give a test its own memory and pids cgroup, else why not."""
        if os.geteuid() != 0:
            return "needs root"
        if os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes"):
            return "" if os.path.isdir("/sys/fs/cgroup/pids") else "no cgroup v1 pids hierarchy"
        try:
            enabled = Path("/sys/fs/cgroup/cgroup.subtree_control").read_text().split()
        except OSError:
            return "no cgroup memory controller"
        return "" if {"memory", "pids"} <= set(enabled) else "cgroup v2 without memory+pids enabled"

    def join(self) -> None:
        """Called in the child before exec."""
        for directory in self.dirs:
            Path(directory, "cgroup.procs").write_text(str(os.getpid()))

    def oom_kills(self) -> int:
        for line in Path(self.dirs[0], self._oom).read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        raise AssertionError(f"no oom_kill counter in {self._oom}")

    def peak_mb(self) -> float:
        return int(Path(self.dirs[0], self._peak).read_text()) / 2**20

    def remove(self) -> None:
        for directory in self.dirs:
            for _ in range(100):  # the kernel empties a cgroup a moment after its last process is reaped
                try:
                    os.rmdir(directory)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)
            else:
                raise AssertionError(f"cannot remove cgroup {directory}")


@dataclass
class BoxRun:
    """A program started in a fresh box directory as the box uid; `finish` reaps it with its rusage."""

    proc: psutil.Popen
    box: Path
    out: Path
    files: set[str] = field(default_factory=set)
    status: int | None = None
    cpu_s: float = 0.0

    def finish(self, timeout: float = SAFETY_TIMEOUT_S) -> int:
        deadline = time.monotonic() + timeout
        while self.status is None:
            pid, wait_status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(wait_status)
                self.proc.returncode = self.status  # so Popen never waits for it again
                self.cpu_s = usage.ru_utime + usage.ru_stime
            elif time.monotonic() > deadline:
                raise AssertionError(f"{self.proc.args} still running after {timeout} s")
            else:
                time.sleep(0.02)
        return self.status

    def stdout(self) -> str:
        return (self.out / "stdout").read_text()

    def stop(self) -> None:
        if self.status is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: its group id is its pid
            self.finish()


@pytest.fixture
def box_runner():
    """Start programs in boxes; whatever happens, kill them, reap them and remove boxes and cgroups."""
    runs: list[BoxRun] = []
    cgroups: list[TestCgroup] = []
    dirs: list[str] = []

    def start(b: Built, cgroup: TestCgroup | None = None) -> BoxRun:
        top = tempfile.mkdtemp(prefix=f"wl-box-{os.getpid()}-")
        dirs.append(top)
        box, out = Path(top, "box"), Path(top, "out")
        box.mkdir(mode=0o755)
        out.mkdir()
        os.chmod(top, 0o755)
        for host_path, name in b.files.items():
            shutil.copy2(host_path, box / name)
        if cgroup:
            cgroups.append(cgroup)

        def enter_box() -> None:
            if cgroup:
                cgroup.join()
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(BOX_UID)
                os.setuid(BOX_UID)

        with open(out / "stdout", "w") as stdout, open(out / "stderr", "w") as stderr:
            proc = psutil.Popen(
                b.command,
                cwd=box,
                env={"PATH": BOX_PATH, "HOME": str(box), "LANG": "C"},
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
                preexec_fn=enter_box,
            )
        run = BoxRun(proc, box, out, files=set(b.files.values()))
        runs.append(run)
        return run

    try:
        yield start
    finally:
        for run in runs:
            run.stop()
        for cgroup in cgroups:
            cgroup.remove()
        for top in dirs:
            shutil.rmtree(top)


def _cpu_s(run: BoxRun) -> float:
    times = run.proc.cpu_times()  # the whole process: every JVM thread included
    return times.user + times.system


def _cgroup_or_skip(mem_mb: int, pids: int) -> TestCgroup:
    why = TestCgroup.usable()
    if why:
        pytest.skip(why)
    return TestCgroup(mem_mb, pids)


@pytest.mark.parametrize("program", _programs("answer"))
def test_ok_prints_the_answer_under_the_tightest_limits(built, box_runner, program):
    run = box_runner(_built_or_skip(built, program), _cgroup_or_skip(MIN_MEM_MB, MIN_PROCESSES))
    assert run.finish() == 0, (run.out / "stderr").read_text()
    assert run.stdout() == program.expected_stdout
    assert run.cpu_s < MIN_CPU_S / 2  # far below the smallest CPU limit the generator picks
    assert {p.name for p in run.box.iterdir()} == run.files  # no core, hs_err, pycache or the like


@pytest.mark.parametrize("program", _programs("fail"))
def test_runtime_error_ends_non_zero_or_by_signal(built, box_runner, program):
    run = box_runner(_built_or_skip(built, program))
    assert run.finish() == RE_STATUS[program.id]
    assert run.stdout() == ""


@pytest.mark.parametrize("program", _programs("spin"))
def test_spin_burns_cpu_and_does_not_end(built, box_runner, program):
    run = box_runner(_built_or_skip(built, program))
    deadline = time.monotonic() + SAFETY_TIMEOUT_S
    while _cpu_s(run) < 1.5 and time.monotonic() < deadline:
        assert run.proc.poll() is None, f"ended with {run.proc.returncode}"
        time.sleep(0.05)
    assert _cpu_s(run) >= 1.5
    assert run.proc.poll() is None


@pytest.mark.parametrize("program", _programs("sleep"))
def test_sleeper_uses_almost_no_cpu_and_does_not_end(built, box_runner, program):
    run = box_runner(_built_or_skip(built, program))
    time.sleep(3)
    assert run.proc.poll() is None, f"ended with {run.proc.returncode}"
    assert run.proc.status() in (psutil.STATUS_SLEEPING, psutil.STATUS_DISK_SLEEP, psutil.STATUS_IDLE)
    assert _cpu_s(run) < MIN_CPU_S / 2  # start-up only (a JVM: about 0.1 s), then nothing


@pytest.mark.parametrize("program", _programs("allocate"))
def test_mle_grows_until_the_cgroup_oom_kills_it(built, box_runner, program):
    cgroup = _cgroup_or_skip(MLE_LIMIT_MB, MIN_PROCESSES)
    run = box_runner(_built_or_skip(built, program), cgroup)
    assert run.finish() == -signal.SIGKILL, (run.out / "stderr").read_text()
    assert cgroup.oom_kills() >= 1
    assert cgroup.peak_mb() >= MLE_LIMIT_MB - 40  # it really grew to the limit (past 600 MB)
    # Ranges.validate() keeps the smallest CPU limit at MLE_MARGIN times this estimate or more, so
    # an MLE run within it reaches the memory limit before the CPU limit.
    assert run.cpu_s <= MLE_MARGIN * (MLE_START_CPU_S + MLE_CPU_S_PER_MB * MLE_LIMIT_MB)
