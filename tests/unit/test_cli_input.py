"""Bad input is one line on stderr and exit code 2, refused before anything runs: numbers out of their
bounds (NaN, infinity, zero, absurd sizes), options --resume cannot honour, files that are not what
they should be, names that would reach outside the box root or the cgroup hierarchy."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from pathlib import Path

import pytest

from reliability import bounds, cli
from reliability.errors import UsageError
from reliability.fleet import ansible as fleet_runner
from reliability.profiles import check_overrides
from reliability.stages import NAMES, all_stages


def one_line_error(capsys, argv: list[str]) -> str:
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "flags, bound",
    [
        (["--duration", "nan"], "--duration must be a finite number from 1 to 2678400, got nan"),
        (["--duration", "inf"], "--duration must be a finite number"),
        (["--duration", "1e12"], "--duration must be from 1 to 2678400"),
        (["--duration", "0"], "--duration must be from 1"),
        (["--submissions", "0"], "--submissions must be from 1 to 10000000, got 0"),
        (["--submissions", "100000000000000000000"], "--submissions must be from 1 to 10000000"),
        (["--iterations", "0"], "--iterations must be from 1 to 1000000, got 0"),
        (["--concurrency", "0"], "--concurrency must be from 1 to"),
        (["--concurrency", "100000"], "--concurrency must be from 1 to 1000, got 100000"),
        (["--seed", "-3"], "--seed must be from 0 to"),
        (["--box-base", "-1"], "--box-base must be from 0"),
        (["--metrics-port", "0"], "--metrics-port must be from 1 to 65535"),
    ],
)
def test_run_refuses_a_number_out_of_its_bound_naming_the_bound(capsys, tmp_path, flags, bound):
    err = one_line_error(capsys, ["run", "stress", "--runs", str(tmp_path / "runs"), *flags])
    assert bound in err
    assert not (tmp_path / "runs").exists()


def test_zero_submissions_iterations_and_concurrency_are_refused_alike():
    for key in ("submissions", "iterations", "concurrency"):
        with pytest.raises(UsageError, match=f"--{key} must be from 1 to"):
            check_overrides({key: 0})


def test_the_concurrency_bound_follows_the_process_limit(monkeypatch):
    monkeypatch.setattr(bounds.resource, "getrlimit", lambda which: (60, 60))
    assert bounds.max_concurrency() == 30
    with pytest.raises(UsageError, match="--concurrency must be from 1 to 30, got 31"):
        check_overrides({"concurrency": 31})


@pytest.mark.parametrize(
    "flags",
    [
        ["--seed", "5"],
        ["--profile", "smoke"],
        ["--submissions", "3"],
        ["--concurrency", "3"],
        ["--box-base", "7"],
        ["--target", "isolate"],
        ["--target-option", "quota_mb=8"],
        ["--runs", "elsewhere"],
    ],
)
def test_resume_refuses_an_option_it_cannot_honour(capsys, tmp_path, flags):
    err = one_line_error(capsys, ["run", "--resume", str(tmp_path), *flags])
    assert f"drop {flags[0]}" in err


def test_a_binary_target_file_is_bad_input_not_a_traceback(capsys, tmp_path):
    binary = tmp_path / "sandbox.yml"
    binary.write_bytes(open(sys.executable, "rb").read(4096))
    for argv in (["run", "stress", "--target", str(binary)], ["target", "check", str(binary)]):
        assert "not text (UTF-8 YAML expected)" in one_line_error(capsys, argv)


def test_box_init_refuses_a_cgroup_name_leaving_its_hierarchy(capsys):
    for name in ("../../evil", "a/../b", ".hidden", "a//b", ""):
        err = one_line_error(capsys, ["box", "init", "--box", "1", "--cgroup-name", name])
        assert "--cgroup-name" in err


def test_box_init_refuses_a_relative_root_and_makes_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for root in ("relative/dir", "/"):
        assert "--root" in one_line_error(capsys, ["box", "init", "--box", "1", "--root", root])
    assert os.listdir(tmp_path) == []


@pytest.mark.root  # the built-in target is loaded (and refused) only as root
def test_builtin_target_options_are_checked_like_the_box_flags(capsys, tmp_path):
    for option in ("cgroup_name=../x", "box_root=rel"):
        err = one_line_error(capsys, ["run", "stress", "--runs", str(tmp_path), "--target-option", option])
        assert f"--target-option {option.split('=')[0]}" in err


@pytest.mark.parametrize(
    "flags, bound",
    [
        (["--time", "nan"], "--time must be a finite number"),
        (["--time", "inf"], "--time must be a finite number"),
        (["--wall-time", "-1"], "--wall-time must be from"),
        (["--mem", "0"], "--mem must be from 1"),
        (["--quota-mb", "0"], "--quota-mb must be from 1"),
    ],
)
def test_box_run_refuses_a_limit_out_of_its_bound(capsys, flags, bound):
    assert bound in one_line_error(capsys, ["box", "run", "--box", "1", *flags, "--", "/bin/true"])


def test_box_run_of_a_program_that_does_not_exist_says_so(capsys, tmp_path):
    for program in ("/nonexistent/prog", "./not-copied", "no-such-command-anywhere"):
        err = one_line_error(capsys, ["box", "run", "--box", "1", "--root", str(tmp_path), "--", program])
        assert f"no program {program!r}" in err


def test_run_help_lists_every_stage_name(capsys):
    assert set(NAMES) == set(all_stages())
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "one or more of: " + ", ".join(NAMES) in out


def _executable(path, text: str = "#!/bin/sh\nexit 0\n"):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_ansible_tools_are_found_next_to_this_python_when_the_venv_is_not_activated(tmp_path, monkeypatch):
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    _executable(venv_bin / "ansible-inventory")
    monkeypatch.setattr(fleet_runner.sys, "executable", str(venv_bin / "python3"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert fleet_runner.ansible_tool("ansible-inventory") == str(venv_bin / "ansible-inventory")
    assert os.environ["PATH"].split(os.pathsep)[0] == str(venv_bin)  # ansible-runner finds it too


def test_a_missing_ansible_tool_is_named(capsys, tmp_path, monkeypatch):
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("localhost ansible_connection=local\n")
    monkeypatch.setattr(fleet_runner.sys, "executable", str(tmp_path / "python3"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    err = one_line_error(capsys, ["fleet", "run", "-i", str(inventory), "--stages", "stress"])
    assert "the fleet needs ansible-inventory" in err


def test_a_reports_dir_the_user_cannot_write_is_refused_before_the_run():
    """As a user without root, a root-owned ./reports is found up front, not after the stage ran."""
    from reliability.execute import check_writable_dir

    locked = Path(tempfile.mkdtemp(prefix="locked-"))  # in /tmp: reachable by nobody, writable by root alone
    locked.chmod(0o755)
    pid = os.fork()
    if pid == 0:  # the child drops to nobody, as a non-root operator is
        code = 1
        try:
            os.setgid(65534)
            os.setuid(65534)
            check_writable_dir("--reports", locked / "reports")
        except UsageError as exc:
            code = (
                0
                if str(exc) == f"--reports {locked / 'reports'}: cannot write in {locked} (permission denied)"
                else 4
            )
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    check_writable_dir("--reports", locked / "reports")  # root may
    locked.rmdir()
