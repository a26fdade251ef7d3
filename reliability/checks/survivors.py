"""What a killed supervisor's processes did on their own, from the crash event's `after_kill` record.

The crash stage watches the killed supervisor's descendants and the box's processes for a grace period
after the kill, before the pipeline kills or cleans anything (nemesis/supervisor_kill.py). Two
judgements come from it:
- left running: a process still alive when the grace ended was left behind by the sandbox itself,
  whatever the pipeline's cleanup did with it afterwards;
- limits: a survivor that used more CPU than the run's limit, or lived past its wall limit (its own
  age, from its start time: a slow sandbox CLI's own start-up is not held against it), ran
  unbounded once its supervisor was gone.
"""

from __future__ import annotations

import fnmatch

SLACK_CPU_S = 0.25  # CPU a survivor may still burn after the kill: the kill itself takes a moment
SLACK_WALL_S = 0.5


def _who(p: dict) -> str:
    return f"process {p['pid']} ({p['name']}) uid {p['uid']}" + (
        f" cgroup {p['cgroup']}" if p["cgroup"] else ""
    )


def left_running(after_kill: dict) -> list[str]:
    """One line per process still alive when the grace period after the kill ended."""
    grace = after_kill.get("grace_s", 0)
    return [
        f"{_who(p)} still running {grace:g} s after the supervisor was killed "
        f"({p['cpu_s'] - p['cpu_at_kill']:.2f} s of CPU since)"
        for p in after_kill.get("processes", [])
        if p["alive_at_end"]
    ]


def over_limits(after_kill: dict) -> list[str]:
    """One line per survivor that ran past the run's CPU or wall limit after the supervisor died."""
    limits = after_kill.get("limits")
    if not limits:
        return []
    out = []
    for p in after_kill.get("processes", []):
        cpu_after = p["cpu_s"] - p["cpu_at_kill"]
        lived = p.get("age_s", 0.0)
        if p["cpu_s"] > limits["cpu_s"] + SLACK_CPU_S and cpu_after > SLACK_CPU_S:
            out.append(
                f"{_who(p)} used {p['cpu_s']:.2f} s of CPU against a limit of {limits['cpu_s']:g} s, "
                f"{cpu_after:.2f} s of it after the supervisor died"
            )
        if lived > limits["wall_s"] + SLACK_WALL_S:
            out.append(
                f"{_who(p)} was alive {lived:.2f} s after it started against a wall limit of "
                f"{limits['wall_s']:g} s ({p['alive_s']:.2f} s after the supervisor died)"
            )
    return out


def unfinished_cleanup(items: list[str], box_paths: list[str]) -> tuple[list[str], list[str]]:
    """(kept, excused): of what a killed cleanup command left, the box's own mount, cgroups and
    directory are what that cleanup was killed before removing, not something the sandbox left by
    itself: they are recover's job ("recovered to baseline" judges that). Processes, fds and anything
    outside the box's own paths stay counted."""
    kept, excused = [], []
    for item in items:
        path = item.rsplit(" ", 1)[-1]
        own = any(
            fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(path, p.rstrip("/") + "/*") for p in box_paths
        )
        (excused if own and not item.startswith(("process", "zombie", "fd", "orphan")) else kept).append(item)
    return kept, excused
