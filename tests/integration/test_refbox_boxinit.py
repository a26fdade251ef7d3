"""The C supervisor and init (refbox/boxinit.py: boxsup.c, boxinit.c) and the Python ones build the
same jail and report every ending alike; the C binary is built once and cached, and an entry others
could have written is never run as root. Without a compiler the Python supervisor runs, through the
fork server where the pipeline starts one."""

# ruff: noqa: F811 - the fixtures are imported from refbox_fixtures and named as test arguments
from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import struct

import pytest
from refbox_fixtures import LIMITS, box, c_program, refbox  # noqa: F401 - fixtures

from reliability.refbox import boxinit_build, forkserver

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="namespaces, mounts and cgroups need root"),
    pytest.mark.skipif(not shutil.which("gcc"), reason="gcc is not installed"),
]

# Everything the program can see of its jail that does not vary from run to run: identity,
# capabilities, seccomp, signals, pid, hostname, the root, every mount point with its flags, limits, env, open fds.
PROBE = (
    "grep -E '^(Uid|Gid|Groups|Cap...|NoNewPrivs|Seccomp|SigBlk|SigIgn):' /proc/self/status; echo pid=$$; "
    "hostname; ls -a /; cut -d' ' -f5,6 /proc/self/mountinfo; ulimit -a; env | sort; ls /proc/$$/fd"
)


def run_with(refbox, number: int, c_init: bool, command: list[str], files: dict | None = None, limits=LIMITS):
    refbox.c_init = c_init
    try:
        return refbox.run(number, command, limits, files)
    finally:
        refbox.c_init = True


def test_c_init_is_the_default_and_builds_here():
    assert boxinit_build.path() is not None
    assert os.access(boxinit_build.path(), os.X_OK)


def test_c_and_python_init_build_the_same_jail(refbox, box):
    c = run_with(refbox, box, True, ["/bin/sh", "-c", PROBE])
    python = run_with(refbox, box, False, ["/bin/sh", "-c", PROBE])
    assert (c.verdict, python.verdict) == ("OK", "OK"), (c, python)
    assert "Seccomp:\t2" in c.stdout and "pid=2" in c.stdout and "/proc rw,nosuid,nodev,noexec" in c.stdout
    assert c.stdout == python.stdout
    init = run_with(refbox, box, True, ["/bin/cat", "/proc/1/comm"])
    assert init.stdout.startswith("boxinit"), init  # the C init really was pid 1 above


@pytest.mark.parametrize("c_init", [True, False], ids=["c", "python"])
def test_a_signal_the_pipeline_ignores_is_at_its_default_in_the_program(refbox, box, c_init):
    """exec keeps an ignored signal ignored. A pipeline that ignores SIGQUIT (or any signal) when it
    starts a run must not pass that on: a program that cannot be ended by it is judged differently.
    The Python path used to reset five signals only, so a SIGQUIT ignored in this process reached
    the program (the jail comparison above failed on it once in a full test run)."""
    ignored = (signal.SIGQUIT, signal.SIGUSR1, signal.SIGTERM, signal.SIGRTMIN + 3)
    before = {sig: signal.signal(sig, signal.SIG_IGN) for sig in ignored}
    try:
        out = run_with(refbox, box, c_init, ["/bin/grep", "^SigIgn:", "/proc/self/status"])
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    assert (out.verdict, out.stdout) == ("OK", "SigIgn:\t0000000000000000\n"), out


@pytest.mark.parametrize("c_init", [True, False], ids=["c", "python"])
def test_both_supervisors_report_the_program_ending_and_setup_errors(refbox, box, c_program, c_init):
    files = {c_program: "prog"}
    hello = run_with(refbox, box, c_init, ["./prog"], files)
    assert (hello.verdict, hello.stdout, hello.exit_code) == ("OK", "hello from C\n", 0), hello
    assert hello.raw["run_cgroup_removed"] is True and hello.peak_mem_kb > 0, hello.raw
    aborted = run_with(refbox, box, c_init, ["./prog", "abort"], files)
    assert (aborted.verdict, aborted.signal) == ("RE", signal.SIGABRT), aborted
    # A wall limit the CPU one is sure to meet first, however little of a core a loaded host gives.
    spun = run_with(refbox, box, c_init, ["./prog", "spin"], files, dataclasses.replace(LIMITS, wall_s=30.0))
    assert spun.verdict == "TLE" and spun.message.startswith("cpu time limit exceeded ("), spun
    assert spun.cpu_s >= LIMITS.cpu_s and spun.raw["processes_killed"] >= 1, spun
    slept = run_with(refbox, box, c_init, ["/bin/sleep", "30"])
    assert slept.verdict == "TLE" and slept.message.startswith("wall time limit exceeded ("), slept
    assert LIMITS.wall_s <= slept.wall_s < LIMITS.wall_s + 2, slept
    alloc = run_with(refbox, box, c_init, ["./prog", "alloc"], files)
    assert alloc.verdict == "MLE" and alloc.raw["oom_kill"] >= 1, alloc
    flood = run_with(refbox, box, c_init, ["./prog", "flood"], files)
    assert flood.verdict == "OLE", flood
    missing = run_with(refbox, box, c_init, ["no-such-program-here"])
    assert missing.verdict == "IE" and "exec no-such-program-here" in missing.message, missing
    assert "No such file" in missing.message


def test_a_cached_entry_is_used_again_without_a_compile(tmp_path):
    first = boxinit_build._build(tmp_path / "cache")
    built_at = first.stat().st_mtime_ns
    assert boxinit_build._build(tmp_path / "cache") == first
    assert first.stat().st_mtime_ns == built_at


def test_an_entry_others_could_write_is_rebuilt_not_run(tmp_path):
    entry = boxinit_build._build(tmp_path / "cache")
    os.chmod(entry, 0o777)  # as if a box uid or another user could have replaced its code
    assert not boxinit_build._trusted(entry)
    rebuilt = boxinit_build._build(tmp_path / "cache")
    assert rebuilt == entry and boxinit_build._trusted(rebuilt)


def test_without_a_compiler_there_is_no_c_init_and_the_python_one_runs(refbox, box, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no gcc, no cc
    monkeypatch.setenv("RELIABILITY_BUILD_CACHE", str(tmp_path / "cache"))  # and nothing cached
    boxinit_build.path.cache_clear()
    try:
        assert boxinit_build.path() is None
        result = refbox.run(box, ["/bin/sh", "-c", "echo pid=$$; cat /proc/1/comm"], LIMITS)
    finally:
        boxinit_build.path.cache_clear()  # the next caller builds (or finds) the real one again
    assert result.verdict == "OK", result
    assert result.stdout.split("\n")[:1] == ["pid=2"]
    assert not result.stdout.split("\n")[1].startswith("boxinit")  # pid 1 is the Python init


def test_a_phase_failpoint_holds_or_fails_the_c_supervisor_as_the_python_one(refbox, box, monkeypatch):
    """The failpoints the crash stage and the tests use (phases.py) reach the C supervisor: an error at
    a phase is an IE that names it; a delay at a phase is spent there."""
    monkeypatch.setenv("REFBOX_FAILPOINTS", "phase.setup=error")
    failed = refbox.run(box, ["/bin/true"], LIMITS)
    assert (failed.verdict, failed.message) == ("IE", "supervisor: FailpointError: failpoint phase.setup")
    refbox.recover(box)
    refbox.init(box)
    monkeypatch.setenv("REFBOX_FAILPOINTS", "phase.cleanup=delay:300")
    delayed = refbox.run(box, ["/bin/true"], LIMITS)
    assert delayed.verdict == "OK", delayed
    assert refbox.read_state(box)["phase"] == "verdict"


def test_without_the_c_supervisor_the_python_one_runs_from_the_fork_server(refbox, box, monkeypatch):
    refbox.c_init = False
    forkserver.start()
    try:
        server = forkserver.current()
        result = refbox.run(box, ["/bin/sh", "-c", "echo ok"], LIMITS)
    finally:
        forkserver.stop()
        refbox.c_init = True
    assert (result.verdict, result.stdout) == ("OK", "ok\n"), result
    assert server is not None and result.raw["supervisor_pid"] != os.getpid()


def test_without_a_static_c_library_the_binary_is_linked_as_usual(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gcc = bin_dir / "gcc"  # the real compiler, refusing -static as where libc.a is not installed
    gcc.write_text(
        f'#!/bin/sh\ncase " $* " in *" -static "*) exit 1 ;; esac\nexec {shutil.which("gcc")} "$@"\n'
    )
    gcc.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    assert has_interpreter(boxinit_build._build(tmp_path / "cache"))  # linked as usual
    monkeypatch.undo()
    assert not has_interpreter(boxinit_build._build(tmp_path / "real-cache"))  # static, here


def has_interpreter(binary) -> bool:
    """Whether an ELF64 binary asks for a dynamic loader (a PT_INTERP program header)."""
    data = binary.read_bytes()
    phoff, (phentsize, phnum) = struct.unpack_from("<Q", data, 0x20)[0], struct.unpack_from("<HH", data, 0x36)
    return any(struct.unpack_from("<I", data, phoff + i * phentsize)[0] == 3 for i in range(phnum))
