"""rustbox as a target: its judge CLI of early 2026 (JSON result, box locks, instances.json).

Box N's lock is <lock_root>/box-N.lock (profile owns/lock_files, `{box}`), one JSON line following
schemas/rustbox/lock.schema.json: CommandTarget.lock_file(box) and owned().file_rules give both.
"""

from __future__ import annotations

import shutil

from reliability.errors import UsageError
from reliability.targets.described import PROFILE_DIR, description_for
from reliability.targets.description import Description

PROFILE = PROFILE_DIR / "rustbox.yml"


def rustbox_description(options: dict[str, str] | None = None) -> Description:
    if not shutil.which("rustbox"):
        raise UsageError("target rustbox: rustbox is not on PATH (install it, or choose another --target)")
    return description_for(PROFILE, options)
