"""Judgement of the locks stage's two sub-cases, from the facts nemesis/lock_cases.py recorded.

"lock holder killed": the box must be taken again within the bound recorded with the facts; the run
that gets it must be alone (no program of the dead holder alive, no marker of its run left in the box);
no process of the dead holder may outlive the recovery; the host is back to its baseline after recover.
"lock file corrupted": for each corruption, at most one contender runs at a time (windows apart, the
marker says alone), each runs or is refused with a cause (never a crash), the lock file is valid or
free afterwards, and when both were refused the box still serves a probe. Then the same baseline.

Each judge returns (problems, evidence lines): the lines replay what happened, from the facts alone.
"""

from __future__ import annotations

import json


def markers(stdout: str) -> set[str]:
    """The other runs' markers a marker run (programs/locks/marker.py) reports seeing."""
    return {w for w in stdout.split() if w.startswith("marker-")}


def stale_lock(facts: dict) -> tuple[list[str], list[str]]:
    box, bound = facts["box"], facts["bound_s"]
    problems = [facts["holder_error"]] if facts.get("holder_error") else []
    lines = list(facts["timeline"])
    if "took" in facts and not facts["took"]:
        problems.append(
            f"box {box} still refused {facts['taken_after_s']:.1f} s after its holder was SIGKILLed "
            f"(bound {bound:g} s): {facts['last_refusal'] or 'no cause'}"
        )
    elif facts.get("took"):
        if facts["taken_after_s"] > bound:
            problems.append(
                f"box {box} taken again only after {facts['taken_after_s']:.1f} s (bound {bound:g} s)"
            )
        more, line = _new_run(box, facts["new_run"], facts["holder_program_alive"])
        problems += more
        lines.append(line)
    lines += _audit_lines(facts["audit"])
    more, recovery = _recovery(facts["recovery"])
    problems += more
    lines += recovery
    if facts["holder_left"]:
        problems.append(
            f"processes of the dead holder still alive after recovery (killed then): {facts['holder_left']}"
        )
    return problems, lines


def _new_run(box: int, new_run: dict, alive: list[int]) -> tuple[list[str], str]:
    result, outcome = new_run["result"], new_run["cleanup"]
    stdout = result["stdout"].strip()
    line = (
        f"new run: verdict {result['verdict']}, stdout {stdout[:200]!r}"
        + (f", message {result['message'][:200]!r}" if result["message"] else "")
        + f"; cleanup {'ok' if outcome['ok'] else 'failed: ' + outcome['error']}"
    )
    problems = []
    if alive:
        problems.append(
            f"the dead holder's program {alive} was still alive while the new run had box {box} (overlap)"
        )
    stale_files = markers(result["stdout"]) if not alive else set()
    if result["verdict"] == "OK" and stale_files and "changed" not in result["stdout"]:
        problems.append(
            f"the new run in box {box} found marker files of the dead holder's run {sorted(stale_files)}: "
            "the box was given out again without being cleaned"
        )
    elif result["verdict"] != "OK" or stdout != "alone":
        problems.append(
            f"the new run in box {box} did not run alone: verdict {result['verdict']}, stdout "
            f"{stdout[:200]!r} {result['message'][:200]}"
        )
    if not outcome["ok"]:
        problems.append(f"cleanup of the new run failed: {outcome['error']}")
    return problems, line


def corrupt_lock(facts: dict) -> tuple[list[str], list[str]]:
    box = facts["box"]
    problems: list[str] = []
    lines: list[str] = []
    before = facts["before_race"]
    leftover = set()
    if "refused" in before:
        lines.append(f"before the race: box {box} refused ({before['refused']})")
    else:
        leftover = markers(before["stdout"])
        if leftover:
            lines.append(
                f"before the race, with the box free: leftover markers in box {box}: {sorted(leftover)}"
            )
    for one in facts["kinds"]:
        kind, race = one["kind"], one["race"]
        ok, state = lock_file_state(one["lock_file_after"])
        if one.get("in_place", True) is False:  # the file lost the damage before the race: not judged
            ok, state = True, "the damage was no longer in the file when the race began: its state not judged"
        lines.append(f"{kind}: {', '.join(_describe(c) for c in race)}; {state}")
        bad = race_problems(race, leftover)
        if not ok:
            bad.append(state)
        if "probe" in one:
            lines.append(f"{kind}: neither ran; a probe afterwards got {one['probe'].get('verdict')}")
            if not bad and one["probe"].get("verdict") != "OK":
                bad.append(f"box {box} unusable after both were refused: {one['probe']}")
        problems += [f"{kind}: {b}" for b in bad]
    lines += _audit_lines(facts["audit"])
    more, recovery = _recovery(facts["recovery"])
    return problems + more, lines + recovery


def lock_file_state(after: dict) -> tuple[bool, str]:
    """Is the lock file valid or free after the race? (ok, what it holds)."""
    path = after["file"]
    if after["locked"]:
        return False, f"{path} is still locked after both contenders finished"
    if not after["exists"]:
        return True, f"{path} is gone (free)"
    if not after["bytes"]:
        return True, f"{path} is empty and free"
    if "record_error" in after:
        return False, f"{path} still holds a corrupt record ({after['record_error']}): {after['preview']!r}"
    if "record" in after:
        holder = after["record"].get("holder")
        if holder is not None:
            return False, f"{path} names holder pid {holder['pid']} but nobody holds it"
        return True, f"{path} holds a valid free record"
    same = "unchanged since it was corrupted" if after["unchanged"] else "rewritten by the target"
    return True, f"{path} is free ({after['bytes']} bytes, {same}; its format is the target's own)"


def race_problems(outcome: list[dict], leftover: set[str] | None = None) -> list[str]:
    """What went wrong in a race of two contenders for one box (each ran, was refused, or crashed)."""
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


def _alone(stdout: str, leftover: set[str]) -> bool:
    out = stdout.strip()
    return out == "alone" or (
        out.startswith("conflict:") and "changed" not in out and markers(out) <= leftover
    )


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


def _audit_lines(records: list) -> list[str]:
    lines = [f"audit: {_one_line(r)}" for r in records]
    return lines or ["audit: no new record (or the target keeps no audit file)"]


def _one_line(record) -> str:
    return (record if isinstance(record, str) else json.dumps(record, sort_keys=True))[:300]


def _recovery(cmp: dict) -> tuple[list[str], list[str]]:
    """(problems, lines) of the recover at the end against the host before the sub-case."""
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
