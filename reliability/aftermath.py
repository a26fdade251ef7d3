"""After a fault: what the target left by itself, its recover, baseline equivalence, a probe run.

Shared by the crash and faults stages. `before` is a host snapshot taken before the faulted
execution's init; everything is compared against it with probes.diff, narrowed to the box's `owned`
(its uid, the target's cgroups, box root and mounts). Orphans are found by all three of the probes'
rules: cgroup membership, box uid, and descent from the pipeline.
"""

from __future__ import annotations

import os

from reliability import probes
from reliability.probes import state_files
from reliability.targets.base import Limits, Owned, Target, TargetError
from reliability.workload.prepare import prepare_programs

PROBE_PROGRAM = "python/ok_sum"
PROBE_LIMITS = Limits(cpu_s=2.0, wall_s=10.0, mem_mb=128, processes=16, output_kb=64)


def snapshot(owned: Owned) -> dict:
    return probes.snapshot(owned, os.getpid())


def left_behind(before: dict, owned: Owned) -> dict:
    """What is new since `before` (leaks by kind) and which state files fail their schema, now."""
    leaks = probes.diff(before, snapshot(owned), owned, os.getpid())
    out = {k: v for k, v in leaks.to_dict().items() if v and k != "noise"}
    return {"leaks": out, "state_files": state_files.problems(owned.state_files)}


def recover_and_compare(target: Target, box: int, before: dict, owned: Owned) -> dict:
    """Run the target's recover for `box`, then compare the host with `before` both ways."""
    try:
        recovered, error = target.recover(box), ""
    except TargetError as e:  # the failure is the evidence
        recovered, error = [], str(e)
    after = snapshot(owned)
    new = probes.diff(before, after, owned, os.getpid())
    gone = probes.diff(after, before, owned, os.getpid())  # what recover took that was there before
    return {
        "recover": recovered,
        "recover_error": error,
        "new": {k: v for k, v in new.to_dict().items() if v and k != "noise"},
        "gone": {k: v for k, v in gone.to_dict().items() if v and k != "noise"},
        "state_files": state_files.problems(owned.state_files),
    }


def probe(target: Target, box: int) -> dict:
    """One OK submission in the same box: the worker is healthy if it gets OK with the right output."""
    prepared = prepare_programs([PROBE_PROGRAM])[PROBE_PROGRAM]
    if isinstance(prepared, str):
        return {"skipped": prepared}
    try:
        target.init(box)
    except TargetError as e:
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
