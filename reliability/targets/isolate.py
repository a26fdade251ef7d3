"""IOI isolate as a target: the shipped profile for 1.x (cgroup v1, no locks) or 2.x (cgroup v2, box
locks), chosen by what `isolate --version` says.

For the crash stage the supervisor is isolate's keeper, the `isolate --run` process the pipeline
starts for the box (CommandTarget.supervisor_pid: the run command while it runs); the box's inside
process and the program are its children, found by the box cgroup and uid. Phases are observed from
outside (nemesis/supervisor_kill.py). tests/integration/test_isolate_live.py runs it where installed.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from reliability.errors import UsageError
from reliability.targets.command import call
from reliability.targets.described import PROFILE_DIR, description_for
from reliability.targets.description import Description

PROFILES = {1: PROFILE_DIR / "isolate-1.yml", 2: PROFILE_DIR / "isolate-2.yml"}


def major_version(text: str) -> int | None:
    """The major version in isolate's --version text ("The process isolator 1.10.1 ..."), if any."""
    m = re.search(r"\b(\d+)\.(\d+)(?:\.\d+)?\b", text)
    return int(m.group(1)) if m else None


def profile_for(major: int) -> Path:
    return PROFILES[1] if major <= 1 else PROFILES[2]


def isolate_description(options: dict[str, str] | None = None) -> Description:
    if not shutil.which("isolate"):
        raise UsageError("target isolate: isolate is not on PATH (install it, or choose another --target)")
    c = call(["isolate", "--version"], 10.0)
    major = major_version(c.stdout + "\n" + c.stderr)
    if major is None:
        raise UsageError(f"target isolate: cannot tell the version from `isolate --version`: {c.why()}")
    return description_for(profile_for(major), options)
