"""Each verdict from real runs in a real box: /bin/sh, python3 -c and a C program."""

# ruff: noqa: F811 - the fixtures are imported from refbox_fixtures and named as test arguments
from __future__ import annotations

import dataclasses
import os
import signal

import pytest
from refbox_fixtures import LIMITS, box, c_program, refbox  # noqa: F401 - fixtures

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts tmpfs, creates cgroups: needs root")

TIGHT_MEMORY = dataclasses.replace(LIMITS, mem_mb=48)
SHORT_WALL = dataclasses.replace(LIMITS, wall_s=0.5)
# Other test sessions share the 2 cores: a generous wall limit keeps a CPU spin a CPU-limit case.
LONG_WALL = dataclasses.replace(LIMITS, wall_s=30.0)


def test_ok_from_shell_keeps_stdout_and_runs_as_the_box_uid(refbox, box):
    result = refbox.run(box, ["/bin/sh", "-c", "echo hello; id -u; pwd"], LIMITS)
    assert result.verdict == "OK", result
    assert result.stdout.splitlines() == ["hello", str(60000 + box), "/box"]  # the box, as the jail shows it
    assert result.exit_code == 0 and result.signal is None


def test_ok_from_python(refbox, box):
    result = refbox.run(box, ["python3", "-c", "print(6 * 7)"], LIMITS)
    assert (result.verdict, result.stdout) == ("OK", "42\n"), result
    assert result.peak_mem_kb > 0


def test_ok_from_c_program_copied_into_the_box(refbox, box, c_program):
    result = refbox.run(box, ["./prog", "hello"], LIMITS, {c_program: "prog"})
    assert (result.verdict, result.stdout) == ("OK", "hello from C\n"), result
    st = os.stat(os.path.join(refbox.box_dir(box), "prog"))
    assert (st.st_uid, st.st_mode & 0o111) == (60000 + box, 0o111)  # owned by the box, still executable


@pytest.mark.parametrize(
    "command",
    [["./prog", "spin"], ["python3", "-c", "while True: pass"], ["/bin/sh", "-c", "while :; do :; done"]],
    ids=["c", "python", "sh"],
)
def test_cpu_spin_is_tle_by_cpu(refbox, box, c_program, command):
    result = refbox.run(box, command, LONG_WALL, {c_program: "prog"})
    assert result.verdict == "TLE", result
    assert result.message.startswith("cpu time limit exceeded"), result.message
    assert result.cpu_s >= LIMITS.cpu_s


def test_sleeping_past_the_wall_limit_is_tle_by_wall(refbox, box):
    result = refbox.run(box, ["sleep", "30"], SHORT_WALL)
    assert result.verdict == "TLE", result
    assert result.message.startswith("wall time limit exceeded"), result.message
    assert result.cpu_s < SHORT_WALL.cpu_s


@pytest.mark.parametrize(
    "command",
    [["./prog", "alloc"], ["python3", "-c", "s = 'x' * (400 << 20)"]],
    ids=["c", "python"],
)
def test_allocating_and_touching_memory_is_mle_from_the_oom_record(refbox, box, c_program, command):
    result = refbox.run(box, command, TIGHT_MEMORY, {c_program: "prog"})
    assert result.verdict == "MLE", result
    assert result.raw["oom_kill"] >= 1
    assert result.peak_mem_kb >= 40 * 1024  # close to the 48 MiB limit when killed


@pytest.mark.parametrize(
    "command, code",
    [
        (["/bin/sh", "-c", "exit 3"], 3),
        (["python3", "-c", "raise SystemExit(4)"], 4),
        (["python3", "-c", "raise ValueError('uncaught')"], 1),
    ],
    ids=["sh", "python-exit", "python-exception"],
)
def test_non_zero_exit_is_re_with_the_exit_code(refbox, box, command, code):
    result = refbox.run(box, command, LIMITS)
    assert (result.verdict, result.exit_code, result.signal) == ("RE", code, None), result


@pytest.mark.parametrize(
    "mode, sig", [("segv", signal.SIGSEGV), ("abort", signal.SIGABRT)], ids=["segfault", "abort"]
)
def test_death_by_signal_is_re_with_the_signal(refbox, box, c_program, mode, sig):
    result = refbox.run(box, ["./prog", mode], LIMITS, {c_program: "prog"})
    assert (result.verdict, result.signal, result.exit_code) == ("RE", sig, None), result


def test_shell_killing_itself_is_re_by_signal(refbox, box):
    result = refbox.run(box, ["/bin/sh", "-c", "kill -TERM $$"], LIMITS)
    assert (result.verdict, result.signal) == ("RE", signal.SIGTERM), result


@pytest.mark.parametrize(
    "command",
    [["./prog", "flood"], ["python3", "-c", "import sys\nwhile True: sys.stdout.write('x' * 4096)"]],
    ids=["c-sigxfsz", "python-efbig"],
)
def test_writing_past_the_output_limit_is_ole(refbox, box, c_program, command):
    result = refbox.run(box, command, LIMITS, {c_program: "prog"})
    assert result.verdict == "OLE", result
    assert result.raw["output_bytes"] == LIMITS.output_kb * 1024
    assert len(result.stdout) == 4096  # only the first 4 KiB is kept


def test_process_limit_makes_fork_fail(refbox, box):
    script = (
        "import os, time\nfailed = 0\nfor _ in range(20):\n"
        "    try:\n        if os.fork() == 0:\n            time.sleep(5); os._exit(0)\n"
        "    except OSError:\n        failed += 1\nprint(failed)"
    )
    result = refbox.run(box, ["python3", "-c", script], dataclasses.replace(LIMITS, processes=5))
    assert result.verdict == "OK", result
    assert int(result.stdout) >= 20 - 5  # at most 4 children beside the program itself


def test_tle_outranks_mle_and_re(refbox, box, c_program):
    # Spins until the CPU limit, then would crash: the limit came first, so the verdict is TLE.
    result = refbox.run(box, ["/bin/sh", "-c", "./prog spin; exit 9"], LONG_WALL, {c_program: "prog"})
    assert result.verdict == "TLE", result


def test_missing_program_is_ie_with_the_cause(refbox, box):
    result = refbox.run(box, ["no-such-program-here"], LIMITS)
    assert result.verdict == "IE"
    assert "no-such-program-here" in result.message and "No such file" in result.message


def test_run_in_a_box_never_initialised_is_ie(refbox):
    result = refbox.run(999, ["/bin/true"], LIMITS)
    assert result.verdict == "IE" and "never initialised" in result.message


def test_environment_is_minimal(refbox, box):
    os.environ["REFBOX_SECRET_FOR_TEST"] = "leak"
    try:
        result = refbox.run(box, ["/usr/bin/env"], LIMITS)
    finally:
        del os.environ["REFBOX_SECRET_FOR_TEST"]
    names = sorted(line.split("=", 1)[0] for line in result.stdout.splitlines())
    assert names == ["HOME", "LANG", "PATH"], result.stdout
