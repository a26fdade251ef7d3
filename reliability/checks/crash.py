"""Crash recovery checks (QA-REL-001 section 3), from the "crash" events of the crash stage.

"left nothing behind by itself" and "recovered to baseline" are separate: a sandbox may leave things
after its supervisor dies and still clean them up with its recover (or the other way round).

A phase the target cannot be killed at (no supervisor pid, or not observable) is a skip with the
reason. A phase observed from outside that the command got through before the observer saw it
("missed") injected no crash: it is left out of every check, and "supervisor killed at every phase"
is then skipped, never passed, since not every phase was tried. A target that reports its phases
and never reached one (the failpoint pause guarantees it does) fails that check.
"""

from __future__ import annotations

from reliability.checks.aftermath import probe_problems, recovery_problems
from reliability.checks.base import CheckResult, failed, passed, skipped
from reliability.history import History

KILLED = "supervisor killed at every phase"
LEFT = "left nothing behind by itself"
STATE = "state files valid after a crash"
RECOVERED = "recovered to baseline"
HEALTHY = "worker healthy after recovery"
NAMES = (KILLED, LEFT, STATE, RECOVERED, HEALTHY)


def check(history: History) -> list[CheckResult]:
    events = history.of_type("crash")
    missed = [e for e in events if "skipped" not in e and not e["killed"] and e.get("missed")]
    done = [e for e in events if "skipped" not in e and e not in missed]
    skips = [f"{e['phase']} (index {e['index']}): {e['skipped']}" for e in events if "skipped" in e]
    skips += [f"{e['phase']} (index {e['index']}): not killed, {e['missed']}" for e in missed]
    if not done:
        reason = "; ".join(sorted(set(skips))) or "no crash was injected (the run did not get that far)"
        return [skipped(name, reason) for name in NAMES]
    where = {id(e): f"{e['phase']} (index {e['index']}, box {e['box']})" for e in done}
    problems = {name: [] for name in NAMES}
    for e in done:
        at = where[id(e)]
        if not e["killed"]:
            problems[KILLED].append(f"{at}: the supervisor never reached the phase")
        for kind, items in e["left"]["leaks"].items():
            problems[LEFT] += [f"{at}: {kind}: {item}" for item in items]
        problems[STATE] += [f"{at}: {line}" for line in e["left"]["state_files"]]
        rec = e["recovered"]
        problems[RECOVERED] += recovery_problems(at, rec)
        problems[RECOVERED] += [f"{at}: after recover: {line}" for line in rec["state_files"]]
        problems[HEALTHY] += probe_problems(at, e["probe"])
    phases = sorted({e["phase"] for e in done})
    summary = f"{len(done)} crashes at {', '.join(phases)}" + (
        f"; skipped: {'; '.join(skips)}" if skips else ""
    )
    out = []
    for name in NAMES:
        if name == KILLED and missed and not problems[name]:
            why = "; ".join(f"{e['phase']} (index {e['index']}): {e['missed']}" for e in missed)
            out.append(skipped(name, f"not every phase was killed: {why}", [summary]))
        elif problems[name]:
            out.append(
                failed(name, f"{len(problems[name])} problem(s) in {len(done)} crashes", problems[name])
            )
        else:
            evidence = [
                f"{where[id(e)]}: killed pid {e['killed'].get('pid')} ({e['killed'].get('how')}); "
                f"recover: {'; '.join(e['recovered']['recover']) or 'nothing left'}"
                for e in done
            ]
            out.append(passed(name, summary, evidence + [f"skipped {s}" for s in skips]))
    return out
