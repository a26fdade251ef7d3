"""The playbooks parse (`ansible-playbook --syntax-check`) and pass ansible-lint where it is installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PLAYBOOKS = Path(__file__).resolve().parents[2] / "reliability" / "fleet" / "playbooks"
NAMES = ("provision.yml", "reliability.yml", "stop.yml")
INVENTORIES = sorted((PLAYBOOKS / "inventory").glob("*.yml"))


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"skipped: {name} is not installed (pip install '.[fleet]')")
    return path


@pytest.mark.parametrize("inventory", INVENTORIES, ids=lambda p: p.name)
def test_playbook_syntax(inventory: Path) -> None:
    done = subprocess.run(
        [
            _tool("ansible-playbook"),
            "--syntax-check",
            "-i",
            str(inventory),
            *(str(PLAYBOOKS / n) for n in NAMES),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_syntax_check_catches_a_broken_playbook(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("- hosts: all\n  tasks:\n    - ansible.builtin.command:\n      no_such_keyword: 1\n")
    done = subprocess.run(
        [_tool("ansible-playbook"), "--syntax-check", "-i", str(INVENTORIES[0]), str(broken)],
        capture_output=True,
    )
    assert done.returncode != 0


def test_ansible_lint() -> None:
    done = subprocess.run(
        [_tool("ansible-lint"), "--offline", "-q", *(str(PLAYBOOKS / n) for n in NAMES)],
        capture_output=True,
        text=True,
        cwd=PLAYBOOKS.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr
