"""The locks stage's two sub-cases, run on its box once the contention runs are over (stages/locks.py).

Faults come from outside, through the target contract only:

"lock holder killed": a holder in another process (nemesis/lock_holder.py: the same target made again
    from Target.loaded_as) takes the box and runs a long marker. Once its program is in the box
    (box_pids), the process(es) of the holder that have the box's lock file open are SIGKILLed (the
    holder process alone when the lock file is unknown); its program is left orphaned. Then the box is
    asked for again: init, and after a refusal the target's recover (what a judge does for a box whose
    holder died) and init again, until STALE_BOUND_S (env RELIABILITY_STALE_LOCK_BOUND_S). The marker
    run that gets the box, and whether the dead holder's program was still alive meanwhile, are
    recorded.
"lock file corrupted": with the box free, its lock file (corrupt_lock.lock_file_of) is filled with
    garbage, a truncated record, then nothing; each time two contenders race for the box (a helper
    process and the stage), and what each did and what the lock file held afterwards are recorded.
Each returns raw facts (a timeline, the refusals, the runs' answers, the audit records, what recover
found) as the evidence of one event; checks/lock_subcases.py alone judges them.
"""

from __future__ import annotations

import os
import time

from reliability import aftermath
from reliability.nemesis import audit_trail, corrupt_lock, lock_holder
from reliability.runner import Prepared
from reliability.targets.base import Limits, Target, TargetError
from reliability.workload.catalog import PROGRAMS_DIR

MARKER = PROGRAMS_DIR / "locks" / "marker.py"
LIMITS = Limits(cpu_s=2.0, wall_s=10.0, mem_mb=128, processes=8, output_kb=64)  # as the stage's runs
BOUND_ENV = "RELIABILITY_STALE_LOCK_BOUND_S"
STALE_BOUND_S = 10.0  # a dead holder's box must be usable again within this
HOLD_S = 60.0  # the holder's program: far longer than the sub-case, so it is still there when killed
HOLD_LIMITS = Limits(cpu_s=30.0, wall_s=HOLD_S + 30.0, mem_mb=128, processes=8, output_kb=64)
START_S = 30.0  # a helper must report (made the target, took the box) within this
IN_BOX_S = 10.0  # the holder's program must be in the box within this
RETRY_S = 0.1
SETTLE_S = 5.0  # the dead holder's other processes must be gone this long after the recovery


def marker(python3: str, hold_s: float) -> Prepared:
    """programs/locks/marker.py held `hold_s` seconds: prints "alone" unless another run's marker is there."""
    command = [python3, "-I", "-S", "marker.py", f"{hold_s:g}"]
    return Prepared(command, {str(MARKER): "marker.py"}, expected_stdout="alone\n")


def bound_s() -> float:
    try:
        return float(os.environ.get(BOUND_ENV, STALE_BOUND_S))
    except ValueError:
        return STALE_BOUND_S


# -- the holder SIGKILLed ---------------------------------------------------------------------------
class _NoHolder(Exception):
    """The holder never got to hold the box with its program in it: nothing was killed."""


class _CannotKill(Exception):
    """The target gives no way to see its box's processes: the sub-case cannot run on it."""


def stale_lock(target: Target, box: int, prepared: Prepared) -> dict:
    owned = target.owned([box])
    before = aftermath.snapshot(owned)
    audit_before = audit_trail.mark(target)
    hold = marker(prepared.command[0], HOLD_S)
    facts: dict = {"box": box, "bound_s": bound_s(), "timeline": []}
    tree: list[tuple[int, int]] = []
    helper = lock_holder.Helper(target, box, "hold", hold.command, hold.files, HOLD_LIMITS)
    killed = False
    try:
        orphans, tree, killed_at = _kill_holder(target, box, helper, facts["timeline"])
        killed = True
        facts.update(
            _take_again(target, box, prepared, orphans, killed_at, facts["bound_s"], facts["timeline"])
        )
    except _NoHolder as e:
        facts["holder_error"] = str(e)
    except _CannotKill as e:
        facts["skipped"] = str(e)
    finally:
        if not killed:  # no holder was killed: end everything the helper started, then recover below
            lock_holder.kill(lock_holder.descendants(helper.pid))
        helper.stop()
    facts["audit"] = audit_trail.since(audit_before)
    facts["recovery"] = aftermath.recover_and_compare(target, box, before, owned)
    facts["holder_left"] = _settle(tree)
    return facts


def _kill_holder(target: Target, box: int, helper, timeline: list[str]):
    """Wait for the holder's program in the box, SIGKILL the holder; (orphans, its tree, when)."""
    event = helper.read(START_S)
    if not event or not event.get("ok"):
        why = (event or {}).get("error") or helper.stderr_tail() or "no report"
        raise _NoHolder(f"the holder could not take box {box}: {why}")
    deadline = time.monotonic() + IN_BOX_S
    while not target.box_pids(box) and time.monotonic() < deadline and helper.proc.poll() is None:
        time.sleep(0.02)
    time.sleep(0.3)  # the marker has left its file in the box
    orphans = [i for i in map(lock_holder.identity, target.box_pids(box)) if i]
    if not orphans and helper.proc.poll() is None:
        raise _CannotKill(
            f"target {target.name} shows no process in box {box} (box_pids) while its holder runs: "
            "the holder cannot be caught mid-run"
        )
    if not orphans:
        why = helper.stderr_tail() or f"exit {helper.proc.poll()}"
        raise _NoHolder(f"the holder's program never showed in box {box}: {why}")
    tree = [i for i in map(lock_holder.identity, lock_holder.descendants(helper.pid)) if i]
    lock_file, _ = corrupt_lock.lock_file_of(target, box)
    holders = lock_holder.lock_holders(helper.pid, lock_file)
    if holders:
        who = "the holder's processes with the lock file open"
    else:  # the lock file unknown: the whole holder side (the helper and its sandbox command) dies
        who, holders = "the holder's processes outside the box", lock_holder.outside(helper.pid, orphans)
    killed = lock_holder.kill(holders)
    killed_at = time.monotonic()
    timeline.append(
        f"SIGKILLed {who} {killed} (helper {helper.pid}), its program {[p for p, _ in orphans]} "
        f"left running in box {box}"
    )
    if helper.pid in killed:
        helper.proc.wait()
    return orphans, tree, killed_at


def _take_again(target, box, prepared, orphans, killed_at, bound: float, timeline: list[str]) -> dict:
    """Ask for the box until the bound: init at once (the next claimant may recover the lock itself);
    after a refusal the target's recover (a judge's answer to a dead holder), then init again. Once
    taken, run the marker there, noting which programs of the dead holder were alive meanwhile."""
    refusals: list[tuple[float, str]] = []
    took = False
    while True:
        try:
            target.init(box)
            took = True
            break
        except TargetError as e:
            refusals.append((time.monotonic() - killed_at, f"init refused: {e}"))
        if time.monotonic() - killed_at > bound:
            break
        try:
            removed = target.recover(box)
            refusals.append((time.monotonic() - killed_at, f"recover: {'; '.join(removed) or 'nothing'}"))
        except TargetError as e:
            refusals.append((time.monotonic() - killed_at, f"recover failed: {e}"))
        time.sleep(RETRY_S)
    waited = round(time.monotonic() - killed_at, 3)
    timeline += _dedup(refusals)
    facts: dict = {"took": took, "taken_after_s": waited, "last_refusal": refusals[-1][1] if refusals else ""}
    if not took:
        return facts
    timeline.append(f"box {box} taken again {waited:.2f} s after the kill (bound {bound:g} s)")
    try:
        alive_before = [p for p, s in orphans if lock_holder.same_alive((p, s))]
        result = target.run(box, prepared.command, LIMITS, prepared.files)
        alive_after = [p for p, s in orphans if lock_holder.same_alive((p, s))]
    finally:
        outcome = target.cleanup(box)
    facts["new_run"] = {"result": result.to_dict(), "cleanup": outcome.to_dict()}
    facts["holder_program_alive"] = sorted(set(alive_before + alive_after))
    return facts


def _settle(tree: list[tuple[int, int]]) -> list[int]:
    """The dead holder's processes (the helper and what it started) still alive SETTLE_S after the
    recovery; those are ended by pid (ours to end) and returned."""
    deadline = time.monotonic() + SETTLE_S
    left = [i for i in tree if lock_holder.same_alive(i)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [i for i in left if lock_holder.same_alive(i)]
    lock_holder.kill([pid for pid, _ in left])
    return [pid for pid, _ in left]


def _dedup(events: list[tuple[float, str]]) -> list[str]:
    """Each distinct refusal once, in order, with how often and when (a poll loop repeats itself)."""
    seen: dict[str, list[float]] = {}
    for t, text in events:
        seen.setdefault(text, []).append(t)
    out = []
    for text, times in list(seen.items())[:30]:
        when = f"{times[0]:.2f} s" if len(times) == 1 else f"x{len(times)}, {times[0]:.2f}-{times[-1]:.2f} s"
        out.append(f"{text[:400]} ({when} after the kill)")
    return out


# -- the lock file corrupted ------------------------------------------------------------------------
def corrupt(target: Target, box: int, prepared: Prepared) -> dict:
    path, why = corrupt_lock.lock_file_of(target, box)
    if path is None:
        return {"skipped": why}
    owned = target.owned([box])
    before = aftermath.snapshot(owned)
    audit_before = audit_trail.mark(target)
    facts: dict = {"box": box, "file": path, "before_race": _alone_run(target, box, prepared), "kinds": []}
    current = audit_trail.read(path)
    for kind, data in corrupt_lock.corruptions(current, box).items():
        with corrupt_lock.corrupted(path, data):
            # Read back before the race: damage the target undid at once (or a write that did not
            # land) tested nothing, and the check must say so instead of judging the file after.
            in_place = audit_trail.read(path) == data
            race = _race(target, box, prepared)
            after = corrupt_lock.after_facts(target, path, data)
        one = {"kind": kind, "in_place": in_place, "race": race, "lock_file_after": after}
        if not any(c.get("ran") for c in race):  # both refused: is the box usable at all?
            one["probe"] = aftermath.probe(target, box)
        facts["kinds"].append(one)
    if facts["kinds"] and not any(one["in_place"] for one in facts["kinds"]):
        facts["skipped"] = f"no damage was still in {path} when its race began: the case did not take effect"
    facts["audit"] = audit_trail.since(audit_before)
    facts["recovery"] = aftermath.recover_and_compare(target, box, before, owned)
    return facts


def _race(target: Target, box: int, prepared: Prepared) -> list[dict]:
    """Two contenders for the box at once: a helper process and this one. What each did."""
    helper = lock_holder.Helper(target, box, "contend", prepared.command, prepared.files, LIMITS)
    mine: dict = {"who": "stage"}
    try:
        ready = helper.read(START_S)
        if not ready or ready.get("event") != "ready":
            return [mine | {"crashed": f"helper never ready: {helper.stderr_tail()}"}]
        helper.go()
        mine.update(_contend(target, box, prepared))
        theirs = helper.read(START_S + LIMITS.wall_s) or {}
        if theirs.get("event") != "done":  # hung or crashed: end all it started before reaping it
            lock_holder.kill(lock_holder.descendants(helper.pid))
        code = helper.stop(wait_s=5.0)
        if theirs.get("event") != "done":
            theirs = {"crashed": f"exit {code}: {helper.stderr_tail()}"}
        theirs["who"] = "helper"
        return [mine, theirs]
    finally:
        if helper.proc.returncode is None:
            lock_holder.kill(lock_holder.descendants(helper.pid))
            helper.stop()


def _contend(target: Target, box: int, prepared: Prepared) -> dict:
    started = time.time()
    try:
        target.init(box)
    except TargetError as e:
        return {"ran": False, "cause": str(e), "started": started, "ended": time.time()}
    except Exception as e:  # a crash of the target: the evidence
        return {"crashed": f"init raised {e!r}"}
    ran_from = time.time()
    try:
        result = target.run(box, prepared.command, LIMITS, prepared.files)
    except Exception as e:
        target.cleanup(box)
        return {"crashed": f"run raised {e!r}"}
    ended = time.time()
    outcome = target.cleanup(box)
    return {
        "ran": True,
        "started": started,
        "ran_from": ran_from,
        "ended": ended,
        "result": result.to_dict(),
        "cleanup": outcome.to_dict(),
    }


def _alone_run(target: Target, box: int, prepared: Prepared) -> dict:
    """One marker run with the box free, before the race: markers it reports are files of a run killed
    earlier that the target did not remove, not of a contender."""
    try:
        target.init(box)
    except TargetError as e:
        return {"refused": str(e)}
    try:
        result = target.run(box, prepared.command, LIMITS, prepared.files)
    finally:
        target.cleanup(box)
    return {"verdict": result.verdict, "stdout": result.stdout[:2000]}
