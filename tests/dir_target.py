"""A described sandbox of plain directories (mkdir, rm): for a test that needs a target file whose
run or cleanup command misbehaves in one chosen way, and no real sandbox."""

from __future__ import annotations

from pathlib import Path

import yaml

from reliability.targets import load
from reliability.targets.base import Target


def dir_target(tmp_path: Path, name: str, run: list[str], cleanup: list[str], **extra) -> Target:
    """The target `name`: init makes the box directory; `run` and `cleanup` as given (argv
    templates); `extra` adds top-level keys of the description (e.g. quarantine)."""
    doc = {
        "format": 1,
        "name": name,
        "options": {"root": str(tmp_path / "boxes")},
        "commands": {"init": ["mkdir", "-p", "{box_dir}"], "run": run, "cleanup": cleanup},
        "files": {"copy_to": "{box_dir}/{name}"},
        "result": {"format": "exit_status"},
        "owns": {"box_root": "{root}", "box_dir": "{root}/{box}"},
        **extra,
    }
    path = tmp_path / f"{name}.yml"
    path.write_text(yaml.safe_dump(doc))
    return load(str(path))
