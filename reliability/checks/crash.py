"""Crash recovery checks (QA-REL-001 section 3), from the "crash" events of the crash stage.

"left nothing behind by itself" and "recovered to baseline" are separate: a sandbox may leave things
after its supervisor dies and still clean them up with its recover (or the other way round).

A phase the target cannot be killed at (no supervisor pid, or not observable) is a skip with the
reason. A phase observed from outside that the command got through before the observer saw it
("missed"), or a kill that landed before the command began (a command started stopped, killed before
it exec'd), injected no crash into the command: it is left out of every check, and "supervisor killed
at every phase" is skipped, never passed, while any phase was never hit. How many kills of each phase
landed mid-command is in its evidence. A target that reports its phases and never reached one (the
failpoint pause guarantees it does) fails that check.

"left nothing behind by itself" counts what survived the grace period after the kill (checks/
survivors.py), before the pipeline cleaned anything, as well as what is left after the cleanup.
"limits enforced after the supervisor died" fails on a survivor that ran past its CPU or wall limit.
When a described target's cleanup command is the one killed, the box's own mount, cgroups and
directory that it did not get to remove are not counted as left by itself (they are listed apart, and
"recovered to baseline" requires recover to remove them); processes and anything else still count.
"""

from __future__ import annotations

from reliability.checks.aftermath import clean_cleanup_leftovers, probe_problems, recovery_problems
from reliability.checks.base import CheckResult, failed, not_measured, passed, skipped
from reliability.checks.survivors import left_running, over_limits, unfinished_cleanup
from reliability.history import History

KILLED = "supervisor killed at every phase"
LEFT = "left nothing behind by itself"
STATE = "state files valid after a crash"
RECOVERED = "recovered to baseline"
HEALTHY = "worker healthy after recovery"
LIMITS = "limits enforced after the supervisor died"
NAMES = (KILLED, LEFT, LIMITS, STATE, RECOVERED, HEALTHY)
BEFORE_EXEC = "before exec"


def _not_hit(e: dict) -> str:
    """Why event `e` injected no crash into the command ("" if it did)."""
    if not e["killed"]:
        return f"not killed, {e.get('missed') or 'the phase was never reached'}"
    if e["killed"].get("landed") == BEFORE_EXEC:
        return f"killed before the command began ({e['killed'].get('delay_ms', 0):g} ms after it was resumed)"
    return ""


def landings(events: list[dict]) -> list[str]:
    """Per phase: how many kills landed in the command while it ran, of how many tried."""
    out = []
    for phase in sorted({e["phase"] for e in events}):
        tried = [e for e in events if e["phase"] == phase]
        hit = [e for e in tried if not _not_hit(e)]
        out.append(f"{phase}: {len(hit)} of {len(tried)} kills landed while it ran")
    return out


def check(history: History) -> list[CheckResult]:
    events = history.of_type("crash")
    tried = [e for e in events if "skipped" not in e]
    # A phase-reporting target that never reached its phase (no kill, nothing missed) stays in `done`:
    # that fails KILLED below.
    missed = [e for e in tried if _not_hit(e) and (e["killed"] or e.get("missed"))]
    done = [e for e in tried if e not in missed]
    skips = [f"{e['phase']} (index {e['index']}): {e['skipped']}" for e in events if "skipped" in e]
    skips += [f"{e['phase']} (index {e['index']}): {_not_hit(e)}" for e in missed]
    if not done:
        reason = "; ".join(sorted(set(skips))) or "no crash was injected (the run did not get that far)"
        return [skipped(name, reason) for name in NAMES]
    where = {id(e): f"{e['phase']} (index {e['index']}, box {e['box']})" for e in done}
    explained = clean_cleanup_leftovers(history)
    problems = {name: [] for name in NAMES}
    box_paths = (history.stage_start.get("owned") or {}).get("box_paths", [])
    notes: list[str] = []  # what was excused, shown in the evidence of "left nothing behind by itself"
    for e in done:
        at = where[id(e)]
        if not e["killed"]:
            problems[KILLED].append(f"{at}: the supervisor never reached the phase")
        after_kill = e.get("after_kill") or {}
        problems[LEFT] += [f"{at}: {line}" for line in left_running(after_kill)]
        problems[LIMITS] += [f"{at}: {line}" for line in over_limits(after_kill)]
        for kind, items in e["left"]["leaks"].items():
            if e["phase"] == "cleanup" and e["killed"].get("landed"):  # a described target's cleanup command
                items, excused = unfinished_cleanup(items, box_paths)
                notes += [
                    f"{at}: {kind}: {item} (the killed cleanup command's work: recover's)" for item in excused
                ]
            problems[LEFT] += [f"{at}: {kind}: {item}" for item in items]
        problems[STATE] += [f"{at}: {line}" for line in e["left"]["state_files"]]
        rec = e["recovered"]
        problems[RECOVERED] += recovery_problems(at, rec, explained)
        problems[RECOVERED] += [f"{at}: after recover: {line}" for line in rec["state_files"]]
        problems[HEALTHY] += probe_problems(at, e["probe"])
    phases = sorted({e["phase"] for e in done})
    summary = f"{len(done)} crashes at {', '.join(phases)}" + (
        f"; skipped: {'; '.join(skips)}" if skips else ""
    )
    summary += not_measured(history, (e["phase"] for e in events))
    never = sorted({e["phase"] for e in missed} - set(phases))
    watched = [e for e in done if (e.get("after_kill") or {}).get("limits")]
    out = []
    for name in NAMES:
        if name == KILLED and never and not problems[name]:
            why = "; ".join(f"{e['phase']} (index {e['index']}): {_not_hit(e)}" for e in missed)
            out.append(skipped(name, f"never hit: {', '.join(never)}: {why}", [summary, *landings(tried)]))
        elif name == LIMITS and not watched and not problems[name]:
            out.append(skipped(name, "no crash during a run was watched after the kill", [summary]))
        elif problems[name]:
            out.append(
                failed(
                    name,
                    f"{len(problems[name])} problem(s) in {len(done)} crashes",
                    problems[name] + (notes if name == LEFT else []),  # what was excused, said either way
                )
            )
        else:
            evidence = [
                f"{where[id(e)]}: killed pid {e['killed'].get('pid')} ({e['killed'].get('how')}); "
                f"recover: {'; '.join(e['recovered']['recover']) or 'nothing left'}"
                for e in done
            ]
            if name == KILLED:
                evidence = landings(tried) + evidence
            if name == LEFT:
                evidence = notes + evidence
            out.append(passed(name, summary, evidence + [f"skipped {s}" for s in skips]))
    return out
