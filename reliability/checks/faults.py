"""Cleanup failure checks (QA-REL-001 section 4), from the "cleanup fault" evidence of the faults stage.

Leftovers are "explained" when each is of a kind that the failed step or a later one would have removed
(the cleanup stops at the first step failing for good); anything else was lost silently. The stage-wide
leak check is not used here: the injected failures leave things until recover, by design. "Reported"
also means the run's own result says so: verdict IE naming the step (nothing reported as success).
A case whose fault did not take effect (its `effect`, as the nemesis saw it: no host-visible mount to
hold busy, no box cgroup to occupy) tested nothing: it is skipped with that fact, never failed or passed.
"""

from __future__ import annotations

from reliability.checks.aftermath import clean_cleanup_leftovers, probe_problems, recovery_problems
from reliability.checks.base import CheckResult, failed, not_measured, passed, skipped
from reliability.history import History

REPORTED = "cleanup failure reported"
QUARANTINED = "box quarantined on cleanup failure"
EXPLAINED = "leftovers explained by the failed step"
RECOVERED = "recovered to baseline after cleanup failure"
HEALTHY = "worker healthy after cleanup failure"
NAMES = (REPORTED, QUARANTINED, EXPLAINED, RECOVERED, HEALTHY)
ALL = {"processes", "zombies", "fds", "mounts", "cgroups", "temp_dirs"}
# What a cleanup stopped at this step may leave: what this step and the later ones remove.
MAY_LEAVE = {
    "reap": ALL - {"processes"},
    "close fds": {"fds", "mounts", "cgroups", "temp_dirs"},
    "unmount": {"mounts", "cgroups", "temp_dirs"},
    "remove cgroup": {"cgroups", "temp_dirs"},
    "remove temp dirs": {"temp_dirs"},
}


LABEL = "cleanup fault"  # the faults stage's evidence label, one event per injected case


def not_injected(e: dict) -> str:
    """Why the cleanup fault of case `e` was not injected ('' when it was and took effect)."""
    if "skipped" in e:
        return e["skipped"]
    taken = e.get("effect") or {"took_effect": True}  # histories from before effects were recorded
    return "" if taken["took_effect"] else f"the fault did not take effect: {taken['fact']}"


def injected_cleanup_failures(history: History) -> set[int]:
    """Indexes of the runs whose cleanup failure the stage injected and that took effect."""
    return {
        e["evidence"]["index"]
        for e in history.of_type("evidence")
        if e["label"] == LABEL and not not_injected(e["evidence"])
    }


def _verdict_problem(history: History, e: dict) -> str:
    """'' when the run's own result says the cleanup failed: verdict IE, naming the step."""
    event = history.results.get(e["index"])
    if event is None:
        return "no result recorded for the run"
    res = event["result"]
    if res["verdict"] != "IE" or e["step"] not in res.get("message", ""):
        return (
            f"the run's verdict is {res['verdict']} ({res.get('message', '')!r}) although its cleanup "
            f"failed at {e['step']}: must be IE naming the step"
        )
    return ""


def check(history: History) -> list[CheckResult]:
    events = [e["evidence"] for e in history.of_type("evidence") if e["label"] == LABEL]
    done = [e for e in events if not not_injected(e)]
    skips = [f"{e['step']}: {not_injected(e)}" for e in events if not_injected(e)]
    if not done:
        reason = (
            "; ".join(sorted(set(skips))) or "no cleanup fault was injected (the run did not get that far)"
        )
        return [skipped(name, reason, skips) for name in NAMES]
    problems: dict[str, list[str]] = {name: [] for name in NAMES}
    explained = clean_cleanup_leftovers(history)
    for e in done:
        at, outcome = f"{e['step']} (index {e['index']}, box {e['box']}, {e['how']})", e["outcome"]
        if outcome is None:
            problems[REPORTED].append(f"{at}: no cleanup ran")
        elif outcome["ok"]:
            problems[REPORTED].append(f"{at}: cleanup said ok although {e['step']} was made to fail")
        elif e["step"] not in outcome["error"]:
            problems[REPORTED].append(f"{at}: the error does not name the step: {outcome['error']!r}")
        if verdict_problem := _verdict_problem(history, e):
            problems[REPORTED].append(f"{at}: {verdict_problem}")
        if outcome is not None and not outcome["quarantined"]:
            problems[QUARANTINED].append(f"{at}: not quarantined (cleanup ok {outcome['ok']})")
        may = MAY_LEAVE.get(e["step"], ALL)
        for kind, items in e["left"]["leaks"].items():
            if kind not in may:
                problems[EXPLAINED] += [f"{at}: {kind} not explained by the step: {i}" for i in items]
        problems[EXPLAINED] += [f"{at}: {line}" for line in e["left"]["state_files"]]
        problems[RECOVERED] += recovery_problems(at, e["recovered"], explained)
        problems[HEALTHY] += probe_problems(at, e["probe"])
    summary = f"{len(done)} injected failures: {', '.join(e['step'] for e in done)}"
    summary += f"; skipped: {'; '.join(skips)}" if skips else ""
    summary += not_measured(history, (e["step"] for e in events))
    evidence = [
        f"{e['step']}: cleanup error {e['outcome'] and e['outcome']['error']!r}; left "
        f"{sorted(e['left']['leaks'])}; recover: {'; '.join(e['recovered']['recover'])}"
        for e in done
    ]
    return [
        failed(
            name,
            f"{len(problems[name])} problem(s) in {len(done)} injections",
            problems[name] + [f"skipped {s}" for s in skips],
        )
        if problems[name]
        else passed(name, summary, evidence)
        for name in NAMES
    ]
