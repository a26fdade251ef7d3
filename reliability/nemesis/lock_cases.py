"""The locks stage's two sub-cases, run on its box once the contention runs are over (stages/locks.py).

Faults come from outside, through the target contract only:

"lock holder killed": a holder in another process (nemesis/lock_holder.py: the same target made again
    from Target.loaded_as) takes the box and runs a long marker. Once its program is in the box
    (box_pids), the process(es) of the holder that have the box's lock file open are SIGKILLed (the
    holder process alone when the lock file is unknown); its program is left orphaned. Then the box is
    asked for again: init, and after a refusal the target's recover (what a judge does for a box whose
    holder died) and init again, until STALE_BOUND_S (env RELIABILITY_STALE_LOCK_BOUND_S). The marker
    run that gets the box must be alone in it, and no program of the dead holder may still be alive.
"lock file corrupted": with the box free, its lock file (corrupt_lock.lock_file_of) is filled with
    garbage, a truncated record, then nothing; each time two contenders race for the box (a helper
    process and the stage). At most one runs at a time (windows apart, the marker says alone), each
    one runs or is refused with a cause (never a crash), and afterwards the lock file is valid or free.
Each returns the evidence dict the locks check reads: ok, summary, lines (or skipped).
"""

from __future__ import annotations

import json
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


def _one_line(record) -> str:
    return (record if isinstance(record, str) else json.dumps(record, sort_keys=True))[:300]


def marker(python3: str, hold_s: float) -> Prepared:
    """programs/locks/marker.py held `hold_s` seconds: prints "alone" unless another run's marker is there."""
    command = [python3, "-I", "-S", "marker.py", f"{hold_s:g}"]
    return Prepared(command, {str(MARKER): "marker.py"}, expected_stdout="alone\n")


def bound_s() -> float:
    try:
        return float(os.environ.get(BOUND_ENV, STALE_BOUND_S))
    except ValueError:
        return STALE_BOUND_S


def _baseline(target: Target, box: int, before: dict, owned) -> tuple[list[str], list[str]]:
    """(problems, lines): recover the box and compare the host with `before`."""
    cmp = aftermath.recover_and_compare(target, box, before, owned)
    problems = []
    if cmp["recover_error"]:
        problems.append(f"recover failed: {cmp['recover_error']}")
    if cmp["new"]:
        problems.append(f"not back to baseline, new since before: {cmp['new']}")
    if cmp["state_files"]:
        problems.append(f"state files invalid: {cmp['state_files']}")
    done = f"failed: {cmp['recover_error']}" if cmp["recover_error"] else "; ".join(cmp["recover"])
    lines = [f"recover at the end: {done or 'nothing to remove'}"]
    if cmp["gone"]:
        lines.append(f"gone since before (taken by recover): {cmp['gone']}")
    return problems, lines


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
    lines: list[str] = []
    problems: list[str] = []
    tree: list[tuple[int, int]] = []
    recovered_s = None
    skipped = ""
    helper = lock_holder.Helper(target, box, "hold", hold.command, hold.files, HOLD_LIMITS)
    killed = False
    try:
        orphans, tree, killed_at = _kill_holder(target, box, helper, lines)
        killed = True
        recovered_s = _take_again(target, box, prepared, orphans, killed_at, lines, problems)
    except _NoHolder as e:
        problems.append(str(e))
    except _CannotKill as e:
        skipped = str(e)
    finally:
        if not killed:  # no holder was killed: end everything the helper started, then recover below
            lock_holder.kill(lock_holder.descendants(helper.pid))
        helper.stop()
    lines += [f"audit: {_one_line(r)}" for r in audit_trail.since(audit_before)] or [
        "audit: no new record (or the target keeps no audit file)"
    ]
    more, baseline = _baseline(target, box, before, owned)
    problems += more + _settle(tree)
    lines += baseline
    if problems:
        return {"ok": False, "summary": "; ".join(problems)[:600], "lines": lines}
    if skipped:
        return {"skipped": skipped, "lines": lines}
    return {
        "ok": True,
        "summary": f"box {box} taken again {recovered_s:.2f} s after its holder was SIGKILLed "
        f"(bound {bound_s():g} s); the new run was alone; host back to baseline",
        "lines": lines,
        "recovered_s": round(recovered_s or 0.0, 3),
    }


def _kill_holder(target: Target, box: int, helper, lines: list[str]):
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
    lines.append(
        f"SIGKILLed {who} {killed} (helper {helper.pid}), its program {[p for p, _ in orphans]} "
        f"left running in box {box}"
    )
    if helper.pid in killed:
        helper.proc.wait()
    return orphans, tree, killed_at


def _take_again(target, box, prepared, orphans, killed_at, lines, problems) -> float | None:
    """Ask for the box until the bound: init at once (the next claimant may recover the lock itself);
    after a refusal the target's recover (a judge's answer to a dead holder), then init again. Once
    taken, run the marker there: it must be alone, and no program of the dead holder alive."""
    bound = bound_s()
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
    recovered_s = time.monotonic() - killed_at
    lines += _dedup(refusals)
    if not took:
        problems.append(
            f"box {box} still refused {recovered_s:.1f} s after its holder was SIGKILLed "
            f"(bound {bound:g} s): {refusals[-1][1] if refusals else 'no cause'}"
        )
        return None
    lines.append(f"box {box} taken again {recovered_s:.2f} s after the kill (bound {bound:g} s)")
    if recovered_s > bound:
        problems.append(f"box {box} taken again only after {recovered_s:.1f} s (bound {bound:g} s)")
    try:
        alive_before = [p for p, s in orphans if lock_holder.same_alive((p, s))]
        result = target.run(box, prepared.command, LIMITS, prepared.files)
        alive_after = [p for p, s in orphans if lock_holder.same_alive((p, s))]
    finally:
        outcome = target.cleanup(box)
    lines.append(
        f"new run: verdict {result.verdict}, stdout {result.stdout.strip()[:200]!r}"
        + (f", message {result.message[:200]!r}" if result.message else "")
        + f"; cleanup {'ok' if outcome.ok else 'failed: ' + outcome.error}"
    )
    if alive_before or alive_after:
        problems.append(
            f"the dead holder's program {sorted(set(alive_before + alive_after))} was still alive while "
            f"the new run had box {box} (overlap)"
        )
    stale_files = _markers(result.stdout) if not (alive_before or alive_after) else set()
    if result.verdict == "OK" and stale_files and "changed" not in result.stdout:
        problems.append(
            f"the new run in box {box} found marker files of the dead holder's run {sorted(stale_files)}: "
            "the box was given out again without being cleaned"
        )
    elif result.verdict != "OK" or result.stdout.strip() != "alone":
        problems.append(
            f"the new run in box {box} did not run alone: verdict {result.verdict}, stdout "
            f"{result.stdout.strip()[:200]!r} {result.message[:200]}"
        )
    if not outcome.ok:
        problems.append(f"cleanup of the new run failed: {outcome.error}")
    return recovered_s


def _settle(tree: list[tuple[int, int]]) -> list[str]:
    """The dead holder's processes (the helper and what it started) must all be gone: wait a moment,
    then end any left by pid and say so."""
    deadline = time.monotonic() + SETTLE_S
    left = [i for i in tree if lock_holder.same_alive(i)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [i for i in left if lock_holder.same_alive(i)]
    if not left:
        return []
    lock_holder.kill([pid for pid, _ in left])
    return [f"processes of the dead holder still alive after recovery (killed now): {[p for p, _ in left]}"]


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
    lines: list[str] = []
    problems: list[str] = []
    leftover = _leftover_markers(target, box, prepared, lines)
    current = audit_trail.read(path)
    for kind, data in corrupt_lock.corruptions(current, box).items():
        with corrupt_lock.corrupted(path, data):
            outcome = _race(target, box, prepared)
            ok, state = corrupt_lock.after_state(target, path, data)
        ran = [c for c in outcome if c.get("ran")]
        said = ", ".join(_describe(c) for c in outcome)
        lines.append(f"{kind}: {said}; {state}")
        bad = race_problems(outcome, leftover)
        if not ok:
            bad.append(state)
        if not ran and not bad:
            probe = aftermath.probe(target, box)  # both refused with a cause: is the box usable?
            lines.append(f"{kind}: neither ran; a probe afterwards got {probe.get('verdict')}")
            if probe.get("verdict") != "OK":
                bad.append(f"box {box} unusable after both were refused: {probe}")
        problems += [f"{kind}: {b}" for b in bad]
    lines += [f"audit: {_one_line(r)}" for r in audit_trail.since(audit_before)] or [
        "audit: no new record (or the target keeps no audit file)"
    ]
    more, baseline = _baseline(target, box, before, owned)
    problems += more
    lines += baseline
    if problems:
        return {"ok": False, "summary": "; ".join(problems)[:600], "lines": lines}
    return {
        "ok": True,
        "summary": "garbage, truncated and empty lock files handled: one run at a time, each alone or "
        "refused with a cause, the lock file valid or free afterwards",
        "lines": lines,
    }


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


def _window(c: dict) -> tuple[float, float]:
    """When the program ran, at the latest start the record allows (as checks/locks.window)."""
    return max(c["ran_from"], c["ended"] - c["result"]["wall_s"]), c["ended"]


def _describe(c: dict) -> str:
    if "crashed" in c:
        return f"{c['who']} crashed ({c['crashed'][:200]})"
    if not c.get("ran"):
        return f"{c['who']} refused ({c.get('cause', '')[:200]})"
    r = c["result"]
    return f"{c['who']} ran: {r['verdict']} {r['stdout'].strip()[:80]!r}" + (
        f" {r['message'][:120]!r}" if r["message"] else ""
    )


def _leftover_markers(target: Target, box: int, prepared: Prepared, lines: list[str]) -> set[str]:
    """Markers already in the box with nobody running (files of a run killed earlier that the target
    did not remove): one marker run alone first, so the race's runs are judged on new markers only."""
    try:
        target.init(box)
    except TargetError as e:
        lines.append(f"before the race: box {box} refused ({e})")
        return set()
    try:
        result = target.run(box, prepared.command, LIMITS, prepared.files)
    finally:
        target.cleanup(box)
    found = _markers(result.stdout)
    if found:
        lines.append(f"before the race, with the box free: leftover markers in box {box}: {sorted(found)}")
    return found


def _markers(stdout: str) -> set[str]:
    """The other runs' markers a marker run reports seeing."""
    return {w for w in stdout.split() if w.startswith("marker-")}


def _alone(stdout: str, leftover: set[str]) -> bool:
    out = stdout.strip()
    return out == "alone" or (
        out.startswith("conflict:") and "changed" not in out and _markers(out) <= leftover
    )


def race_problems(outcome: list[dict], leftover: set[str] | None = None) -> list[str]:
    leftover = leftover or set()
    bad = [f"{c['who']} crashed: {c['crashed'][:300]}" for c in outcome if "crashed" in c]
    bad += [
        f"{c['who']} refused without a cause" for c in outcome if c.get("ran") is False and not c.get("cause")
    ]
    ran = [c for c in outcome if c.get("ran")]
    for c in ran:
        r = c["result"]
        if r["verdict"] == "IE" and not r["message"]:
            bad.append(f"{c['who']} got IE without a cause")
        elif r["verdict"] != "IE" and (r["verdict"] != "OK" or not _alone(r["stdout"], leftover)):
            bad.append(f"{c['who']} did not run alone: {r['verdict']} {r['stdout'].strip()[:200]!r}")
        if not c["cleanup"]["ok"]:
            bad.append(f"{c['who']}'s cleanup failed: {c['cleanup']['error'][:200]}")
    real = [c for c in ran if c["result"]["verdict"] != "IE"]
    if len(real) == 2:
        (a0, a1), (b0, b1) = _window(real[0]), _window(real[1])
        if a0 < b1 and b0 < a1:
            bad.append(f"both ran at once (split brain): windows {a0:.3f}-{a1:.3f} and {b0:.3f}-{b1:.3f}")
    return bad
