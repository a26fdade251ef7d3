"""A process's CPU time, state and session from /proc/PID/stat: what a snapshot does not keep.

Used to follow the processes a killed supervisor left (CPU they burn after its death) and to name
the members of a command's session before the pipeline kills it.
"""

from __future__ import annotations

import os

TICKS = os.sysconf("SC_CLK_TCK")


def process_stat(pid: int) -> dict | None:
    """pid, name, state, session, starttime and cpu_s (user + system) of `pid`; None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    close = stat.rfind(b")")  # the name may hold spaces and parentheses
    fields = stat[close + 2 :].split()
    return {
        "pid": pid,
        "name": stat[stat.find(b"(") + 1 : close].decode(errors="replace"),
        "state": fields[0].decode(),
        "session": int(fields[3]),
        "starttime": int(fields[19]),
        "cpu_s": (int(fields[11]) + int(fields[12])) / TICKS,
    }


def uptime_s() -> float:
    """Seconds since boot, the clock of a process's starttime (starttime / TICKS)."""
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def session_members(session: int, zombies: bool = False) -> list[dict]:
    """Every process of `session` now; zombies only if asked (nothing to kill there, but not yet gone)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := process_stat(int(entry))) and st["session"] == session:
            if zombies or st["state"] != "Z":
                out.append(st)
    return out
