"""The C init (refbox/boxinit.py) and the Python one build the same jail; the C one is built once and
cached, and an entry others could have written is never run as root."""

# ruff: noqa: F811 - the fixtures are imported from refbox_fixtures and named as test arguments
from __future__ import annotations

import os
import shutil
import signal

import pytest
from refbox_fixtures import LIMITS, box, c_program, refbox  # noqa: F401 - fixtures

from reliability.refbox import boxinit_build

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


def run_with(refbox, number: int, c_init: bool, command: list[str], files: dict | None = None):
    refbox.c_init = c_init
    try:
        return refbox.run(number, command, LIMITS, files)
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
def test_both_inits_report_the_program_ending_and_setup_errors(refbox, box, c_program, c_init):
    files = {c_program: "prog"}
    aborted = run_with(refbox, box, c_init, ["./prog", "abort"], files)
    assert (aborted.verdict, aborted.signal) == ("RE", signal.SIGABRT), aborted
    spun = run_with(refbox, box, c_init, ["./prog", "spin"], files)
    assert spun.verdict == "TLE", spun
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
