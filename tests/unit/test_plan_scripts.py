"""The plan's four scripts run the installed `reliability` (or this checkout through a python3 that has
the dependencies); without either they say what to do, in one line with exit code 2, instead of
Python's "No module named ..."."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

NAMES = ("stress_test.sh", "concurrent_stress.sh", "resource_exhaustion.sh", "leak_check_stress.sh")
SCRIPTS = [Path(__file__).resolve().parents[1] / "scripts" / name for name in NAMES]


def _bin_with_python(tmp_path: Path, flags: str) -> Path:
    """A bin dir whose python3 is this interpreter with `flags` (-S -I: without its site-packages, as
    the system python3 is when the venv is not activated)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").write_text(f'#!/bin/sh\nexec {sys.executable} {flags} "$@"\n')
    (bin_dir / "python3").chmod(0o755)
    return bin_dir


def _run(script: Path, bin_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.run(["bash", str(script), *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_without_the_installed_command_or_its_dependencies_the_script_says_so(script, tmp_path):
    done = _run(script, _bin_with_python(tmp_path, "-S -I"), "--duration", "nan")
    assert done.returncode == 2
    assert done.stderr.strip().endswith(
        "the reliability command is not installed: activate its venv, or run "
        f"'pip install .' in {script.parents[2]}"
    ), done.stderr
    assert "No module named" not in done.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_with_the_dependencies_the_script_reaches_reliability(script, tmp_path):
    done = _run(script, _bin_with_python(tmp_path, ""), "--seed", "-1")
    assert done.returncode == 2 and "--seed must be from 0" in done.stderr, done.stderr
