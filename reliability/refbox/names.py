"""What a box root and a cgroup name may be: a mistyped one must not mount or create anything elsewhere
(`--root relative/dir` would mount a tmpfs under the current directory, `--cgroup-name ../x` would leave
the cgroup hierarchy)."""

from __future__ import annotations

import os
import re

from reliability.errors import UsageError

_CGROUP_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


def check_cgroup_name(name: str, flag: str = "--cgroup-name") -> str:
    parts = name.split("/")
    if not all(_CGROUP_PART.fullmatch(part) for part in parts):
        raise UsageError(
            f"{flag} {name!r}: want names of letters, digits, '_', '-', '.' (not first), joined by '/'"
        )
    return name


def check_box_root(root: str, flag: str = "--root") -> str:
    if not os.path.isabs(root) or os.path.normpath(root) == "/":
        raise UsageError(f"{flag} {root!r}: want an absolute directory other than /")
    if os.path.exists(root) and not os.path.isdir(root):
        raise UsageError(f"{flag} {root}: exists and is not a directory")
    return root
