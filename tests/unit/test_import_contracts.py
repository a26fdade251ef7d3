"""The layers hold (pyproject.toml's [tool.importlinter] contracts), and the check really fails on a
deliberate bad import: a copy of the package with one module that breaks a contract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter", reason="skipped: no import-linter (pip install '.[dev]')")

REPO = Path(__file__).resolve().parents[2]
# lint-imports as the console script runs it, from this interpreter (no PATH lookup)
LINT = [
    sys.executable,
    "-c",
    "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())",
]


def _lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}  # the copy's package, not the one under test
    return subprocess.run(LINT, cwd=root, env=env, capture_output=True, text=True)


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(REPO / "reliability", root / "reliability", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_repository_keeps_every_contract():
    done = _lint(REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "contract"),
    [
        ("checks/sneaky.py", "from reliability.runner import Runner", "checks judge the history alone"),
        ("refbox/sneaky.py", "from reliability.history import Journal", "refbox, the reference sandbox"),
        ("report/sneaky.py", "import reliability.runner", "reports render what the checks decided"),
    ],
)
def test_a_deliberate_bad_import_breaks_its_contract(tmp_path, module, bad_import, contract):
    root = _copy(tmp_path)
    (root / "reliability" / module).write_text(f'"""Breaks a layer on purpose."""\n\n{bad_import}\n')
    done = _lint(root)
    assert done.returncode != 0
    assert f"reliability.{module[:-3].replace('/', '.')} -> " in done.stdout
    assert "1 broken" in done.stdout, done.stdout[-3000:]
    flat = " ".join(done.stdout.split())  # contract names wrap at the terminal's width
    assert f"{contract}" in flat.split(" BROKEN")[0].rsplit(" KEPT", 1)[-1], flat[-3000:]
