"""Leak detection (QA-REL-001 sections 1 and 6): the host after the run holds nothing new of the sandbox's.

The probes compare the "before" and "after" snapshots in the history; this check only turns their diff
into one assertion per kind of resource. Without both snapshots nothing was measured: skipped, never passed.
"""

from __future__ import annotations

from reliability import probes
from reliability.checks.base import CheckResult, failed, passed, skipped
from reliability.errors import UsageError
from reliability.history import History
from reliability.sandbox_values import Owned

# Leaks field -> check name, in the order the plan lists them.
KINDS = {
    "processes": "no leaked processes",
    "mounts": "no leaked mounts",
    "cgroups": "no leaked cgroups",
    "fds": "no leaked fds",
    "temp_dirs": "no leaked temp dirs",
    "zombies": "no zombies",
}


def check(history: History) -> list[CheckResult]:
    missing = [label for label in ("before", "after") if label not in history.snapshots]
    if missing:
        cut = " (the run did not finish)" if history.stage_end is None else ""
        reason = (
            f"no {' or '.join(repr(m) for m in missing)} snapshot in the history{cut}: nothing to compare"
        )
        return [skipped(name, reason) for name in KINDS.values()]
    try:
        leaks = diff(history)
    except DAMAGED as exc:  # a damaged snapshot is not "no leaks"
        return [failed(name, f"snapshots cannot be compared: {exc}") for name in KINDS.values()]
    noise = leaks.noise
    out = []
    for field, name in KINDS.items():
        items = getattr(leaks, field)
        # Noise (what is not the sandbox's) is shown with the processes, so the rule can be checked by eye.
        extra = [f"noise (not counted): {n}" for n in noise] if field == "processes" else []
        if items:
            out.append(failed(name, f"{len(items)} leaked {field.replace('_', ' ')}", items + extra))
        else:
            out.append(passed(name, f"no {field.replace('_', ' ')} left behind", extra))
    return out


DAMAGED = (UsageError, KeyError, TypeError, ValueError)  # what diff() raises on a damaged snapshot


def diff(history: History) -> probes.Leaks:
    """The probes' diff of the "before" and "after" snapshots (both must be there); raises DAMAGED."""
    start = history.stage_start
    return probes.diff(
        history.snapshots["before"],
        history.snapshots["after"],
        Owned.from_dict(start["owned"]),
        start["pipeline_pid"],
    )
