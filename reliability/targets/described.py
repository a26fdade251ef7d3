"""Load a described target: the shipped isolate or rustbox profile, or an operator's target file."""

from __future__ import annotations

from pathlib import Path

from reliability.errors import UsageError
from reliability.targets.command import CommandTarget, command_target
from reliability.targets.description import Description, describe, missing_programs, read

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"


def description_for(path: str | Path, options: dict[str, str] | None = None) -> Description:
    """The validated description in the file at `path` (a UsageError names what is wrong)."""
    return describe(read(path), str(path), options)


def require_programs(desc: Description) -> None:
    """A command that does not exist is bad input: one line, exit 2, before any box is touched."""
    missing = missing_programs(desc)
    if missing:
        raise UsageError(f"target {desc.name}: not found on PATH or not executable: {', '.join(missing)}")


def load_described(name: str, options: dict[str, str] | None = None) -> CommandTarget:
    if name == "isolate":
        from reliability.targets.isolate import isolate_description

        desc = isolate_description(options)
    elif name == "rustbox":
        from reliability.targets.rustbox import rustbox_description

        desc = rustbox_description(options)
    else:
        desc = description_for(name, options)
    require_programs(desc)
    return command_target(desc)
