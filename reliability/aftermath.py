"""After a fault: what the target left by itself, its recover, baseline equivalence, a probe run.

Shared by the crash and faults stages. `before` is a host snapshot taken before the faulted
execution's init; everything is compared against it with probes.diff, narrowed to the box's `owned`
(its uid, the target's cgroups, box root and mounts). Orphans are found by all three of the probes'
rules: cgroup membership, box uid, and descent from the pipeline; and, after a killed supervisor, by
parent: its descendants recorded at the kill (`orphans`, see nemesis/supervisor_kill.py) that are still
alive, since once orphaned they hang from init and may run as root outside every box cgroup.

Once per stage (`clean_box_cleanup`, from the stage's host fixture), before its first case, the target's cleanup of the stage's box,
never initialised, is probed: what it leaves there (isolate 1.10.1's `--cleanup` of a box that does
not exist makes the empty box directory) is recorded once, so the checks report it as its own finding
and take exactly that, no more, out of every case's "recovered to baseline".
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

from reliability import probes
from reliability.history import Journal
from reliability.probes import state_files
from reliability.probes.host import read_process
from reliability.targets.base import Limits, Owned, Target, TargetError
from reliability.workload.prepare import prepare_programs

PROBE_PROGRAM = "python/ok_sum"
PROBE_LIMITS = Limits(cpu_s=2.0, wall_s=10.0, mem_mb=128, processes=16, output_kb=64)
CLEAN_CLEANUP = "clean-box cleanup"  # the label of its evidence event (checks/aftermath.py judges it)
DIR_ENTRIES_KEPT = 20


def snapshot(owned: Owned) -> dict:
    return probes.snapshot(owned, os.getpid())


def left_behind(before: dict, owned: Owned, orphans: Sequence[dict] = ()) -> dict:
    """What is new since `before` (leaks by kind), which of `orphans` live on, and which state files
    fail their schema, now."""
    leaks = probes.diff(before, snapshot(owned), owned, os.getpid())
    out = {k: v for k, v in leaks.to_dict().items() if v and k != "noise"}
    _add_orphans(out, orphans)
    return {"leaks": out, "state_files": state_files.problems(owned)}


def alive_orphans(orphans: Sequence[dict]) -> list[str]:
    """Those of `orphans` (pid, name, uid, starttime, parent) still alive: same pid and start time."""
    out = []
    for o in orphans:
        proc = read_process(o["pid"])
        if proc is None or proc["starttime"] != o["starttime"] or proc["status"] == "Z":
            continue
        out.append(
            f"process {o['pid']} ({proc['name']}) uid {proc['uid']} parent {proc['ppid']}: "
            f"below the killed supervisor (child of {o['parent']} at the kill)"
        )
    return out


def _add_orphans(leaks: dict, orphans: Sequence[dict]) -> None:
    """Orphans not already listed as leaked processes (by the uid or cgroup rules) go under "orphans"."""
    listed = {item.split()[1] for item in leaks.get("processes", [])}
    extra = [line for line in alive_orphans(orphans) if line.split()[1] not in listed]
    if extra:
        leaks["orphans"] = extra


def contents(leaks: dict) -> dict[str, list[str]]:
    """The entries now of each new temp or box dir in `leaks` (first few): the empty directory a cleanup
    leaves is not the same finding as a box directory a crash left full."""
    out = {}
    for item in leaks.get("temp_dirs", []):
        path = item.split(" ", 2)[-1]  # "temp dir PATH", "box dir PATH"
        try:
            out[item] = sorted(os.listdir(path))[:DIR_ENTRIES_KEPT]
        except OSError:  # gone again, or a file
            continue
    return out


def clean_box_cleanup(journal: Journal, target: Target, box: int) -> dict:
    """Once per stage run (stages/clean_box.py calls it as the first case begins): the target's cleanup of `box` as the stage found it (before any init), and
    what that left on the host, as an evidence event. Facts only: whether any of the box's own paths
    existed before (then the box was not clean), the cleanup's outcome, what is new and what is gone,
    the state files against their schema. Then, once observed, the target's recover of the box, so the
    cases start from a box the target itself made usable (a cleanup may also damage its state).

    Returns the snapshot taken before the probe: the first case's baseline, so what the probe left and
    its recover did not remove is still seen as new there, never taken as the norm."""
    owned = target.owned([box])
    before = snapshot(owned)
    outcome = target.cleanup(box)
    after = snapshot(owned)
    new = probes.diff(before, after, owned, os.getpid()).to_dict()
    gone = probes.diff(after, before, owned, os.getpid()).to_dict()
    left = {k: v for k, v in new.items() if v and k != "noise"}
    evidence = {"box": box, "present_before": before["box_paths"], "cleanup": outcome.to_dict(), "left": left}
    evidence.update(contents=contents(left), gone={k: v for k, v in gone.items() if v and k != "noise"})
    evidence["state_files"] = state_files.problems(owned)
    try:
        evidence.update(recover=target.recover(box), recover_error="")
    except TargetError as e:  # the failure is a fact of the probe, not the pipeline's
        evidence.update(recover=[], recover_error=str(e))
    journal.append("evidence", label=CLEAN_CLEANUP, evidence=evidence)
    return before


def recover_and_compare(
    target: Target, box: int, before: dict, owned: Owned, orphans: Sequence[dict] = ()
) -> dict:
    """Run the target's recover for `box`, then compare the host with `before` both ways (and which
    of `orphans` still live: recover must end them too)."""
    try:
        recovered, error = target.recover(box), ""
    except TargetError as e:  # the failure is the evidence
        recovered, error = [], str(e)
    after = snapshot(owned)
    new = probes.diff(before, after, owned, os.getpid())
    gone = probes.diff(after, before, owned, os.getpid())  # what recover took that was there before
    still_new = {k: v for k, v in new.to_dict().items() if v and k != "noise"}
    _add_orphans(still_new, orphans)
    return {
        "recover": recovered,
        "recover_error": error,
        "new": still_new,
        "gone": {k: v for k, v in gone.to_dict().items() if v and k != "noise"},
        "contents": contents(still_new),
        "state_files": state_files.problems(owned),
    }


@functools.cache
def probe_program():
    """The probe program, prepared once per process: preparing it costs a second or more each time."""
    return prepare_programs([PROBE_PROGRAM])[PROBE_PROGRAM]


def probe(target: Target, box: int) -> dict:
    """One OK submission in the same box: the worker is healthy if it gets OK with the right output."""
    prepared = probe_program()
    if isinstance(prepared, str):
        return {"skipped": prepared}
    try:
        target.init(box)
    except (TargetError, ValueError) as e:  # ValueError: a box number the target does not have
        return {"verdict": "IE", "message": f"init failed: {e}", "stdout_ok": False, "cleanup_ok": False}
    result = target.run(box, prepared.command, PROBE_LIMITS, prepared.files)
    outcome = target.cleanup(box)
    return {
        "verdict": result.verdict,
        "message": result.message,
        "stdout_ok": result.stdout == prepared.expected_stdout,
        "cleanup_ok": outcome.ok,
        "cleanup_error": outcome.error,
    }
