"""Lock integrity (QA-REL-001 section 7): no two executions ever overlap in one box.

Two witnesses, because either alone can be fooled: the history's timestamps and the marker each program
leaves in the box (the box's own view). A target may make a contender wait for the lock inside run(), so
the pipeline's interval (init to result) includes the wait; the program itself ran within the last
wall_s seconds the target reports, so its window is [max(started, ended - wall_s), ended].
An execution the target refused (verdict IE) did not run; it must say why.

"no overlapping runs in one initialised box" judges the run-level case (nemesis/run_contention.py):
the box initialised once, then several workers run in it at once, as judges use a box. Runs that
overlap, a marker that saw another run, or a refusal without a cause fail it; refusals and retries
are counted in its evidence. It needs no lock capability: a sandbox without a run lock fails it. The
stale-lock and corrupt-lock sub-cases (nemesis/lock_cases.py records their facts after the contention
runs, one "evidence" event each; checks/lock_subcases.py judges them) need a target with locks;
without them they are skipped, never passed. A sub-case that failed in the pipeline itself (its facts
hold the error) fails: it measured nothing.
"""

from __future__ import annotations

from reliability.checks import lock_subcases
from reliability.checks.base import CheckResult, failed, passed, skipped
from reliability.checks.overlap import overlapping
from reliability.history import History

OVERLAP = "no overlapping executions in one box (history timestamps)"
MARKER = "no other run seen in the box (in-box marker)"
REFUSALS = "refused executions give a cause"
STALE = "stale lock of a killed holder recovered"
CORRUPT = "corrupt lock file handled"
RUN_LOCK = "no overlapping runs in one initialised box"
SUBCASES = {"lock holder killed": STALE, "lock file corrupted": CORRUPT}
JUDGES = {STALE: lock_subcases.stale_lock, CORRUPT: lock_subcases.corrupt_lock}
RUN_CONTENTION = "runs in one initialised box"  # the evidence label (nemesis/run_contention.py)


def check(history: History) -> list[CheckResult]:
    ran = [r for r in history.of_type("result") if r["result"]["verdict"] != "IE"]
    return [_overlap(history, ran), _marker(ran), _refusals(history), run_lock(history), *_subcases(history)]


def run_lock(history: History) -> CheckResult:
    found = [e["evidence"] for e in history.of_type("evidence") if e["label"] == RUN_CONTENTION]
    if not found:
        return skipped(RUN_LOCK, f"not run: no {RUN_CONTENTION!r} evidence in the history")
    ev = found[-1]
    if ev.get("skipped"):
        return skipped(RUN_LOCK, ev["skipped"])
    if "runs" not in ev:  # the case itself failed (a pipeline error, see stages/locks.py _guarded)
        return failed(RUN_LOCK, ev.get("error", "the case recorded no runs"), ev.get("traceback", []))
    runs = ev["runs"]
    box = ev["box"]
    went = [r for r in runs if r["verdict"] != "IE"]
    if not went:
        return failed(
            RUN_LOCK, f"none of {len(runs)} runs got into box {box}: run-level locking not measured"
        )
    at = {id(r): f"worker {r['worker']} run {r['run']}" for r in runs}
    problems = overlapping(
        (box, max(r["started"], r["ended"] - r["wall_s"]), r["ended"], at[id(r)]) for r in went
    )
    problems += [
        f"{at[id(r)]}: verdict {r['verdict']}, stdout {r['stdout'].strip()[:200]!r}"
        for r in went
        if r["verdict"] != "OK" or r["stdout"].strip() != "alone"
    ]
    refused = [r for r in runs if r["verdict"] == "IE"]
    problems += [f"{at[id(r)]}: refused without a cause" for r in refused if not r["message"]]
    retries = sum(r["refusals"] for r in runs)
    counts = (
        f"{len(went)} of {len(runs)} runs by {ev['workers']} workers got into box {box}; "
        f"{retries} refusal(s) retried, {len(refused)} refused for good"
    )
    causes = sorted({c for r in runs for c in r["refused_because"]} | {r["message"] for r in refused})[:10]
    if problems:
        return failed(RUN_LOCK, f"{len(problems)} problem(s): {counts}", problems + causes)
    return passed(RUN_LOCK, f"one run at a time: {counts}", causes)


def overlaps(ran: list[dict]) -> list[str]:
    """One line per execution that began before an earlier one in the same box had ended."""
    return overlapping((r["box"], *window(r), r["index"]) for r in ran)


def window(r: dict) -> tuple[float, float]:
    """When the program ran, at the latest start the history allows (see the module docstring)."""
    return max(r["started"], r["ended"] - r["result"].get("wall_s", r["ended"] - r["started"])), r["ended"]


def _overlap(history: History, ran: list[dict]) -> CheckResult:
    boxes = [r["box"] for r in history.of_type("result")]
    if not ran:
        return failed(OVERLAP, f"no execution ran ({len(boxes)} refused): lock integrity not measured")
    if len(boxes) == len(set(boxes)):
        return skipped(OVERLAP, "no box was used twice: there was no contention to measure")
    lines = overlaps(ran)
    if lines:
        return failed(OVERLAP, f"{len(lines)} overlapping executions (split brain)", lines)
    return passed(OVERLAP, f"{len(ran)} executions in {len(set(boxes))} box(es), none overlapping")


def _marker(ran: list[dict]) -> CheckResult:
    if not ran:
        return failed(MARKER, "no execution ran: nothing to witness")
    bad = [
        f"box {r['box']} index {r['index']}: verdict {r['result']['verdict']}, stdout "
        f"{r['result'].get('stdout', '').strip()[:300]!r}"
        for r in ran
        if r["result"]["verdict"] != "OK" or r["result"].get("stdout", "").strip() != "alone"
    ]
    if bad:
        return failed(MARKER, f"{len(bad)} of {len(ran)} executions saw another run or failed", bad)
    return passed(MARKER, f"{len(ran)} executions, each alone in its box")


def _refusals(history: History) -> CheckResult:
    refused = [r for r in history.of_type("result") if r["result"]["verdict"] == "IE"]
    silent = [
        f"box {r['box']} index {r['index']}: IE without a cause"
        for r in refused
        if not r["result"].get("message")
    ]
    if silent:
        return failed(REFUSALS, f"{len(silent)} refusals without a cause", silent)
    causes = sorted({r["result"]["message"][:160] for r in refused})
    return passed(REFUSALS, f"{len(refused)} refused, each with a cause", causes[:20])


def _subcases(history: History) -> list[CheckResult]:
    if "locks" not in history.stage_start["capabilities"]:
        return [skipped(name, "target has no locks") for name in SUBCASES.values()]
    found = {e["label"]: e["evidence"] for e in history.of_type("evidence")}
    return [_subcase(name, found.get(label), label) for label, name in SUBCASES.items()]


def _subcase(name: str, facts: dict | None, label: str) -> CheckResult:
    if facts is None:
        return skipped(name, f"not run: no {label!r} evidence in the history")
    if "error" in facts:  # the sub-case itself failed in the pipeline (stages/locks.py _guarded)
        return failed(name, facts["error"], facts.get("traceback", []))
    if "ok" in facts:  # recorded by a pipeline that judged the sub-case itself, before facts were kept
        said = f"{facts['summary']} (as judged when the run was recorded: its facts were not kept)"
        return (passed if facts["ok"] else failed)(name, said, facts.get("lines", []))
    if "timeline" not in facts and "kinds" not in facts:  # skipped before anything was done
        return skipped(name, facts.get("skipped", "no facts recorded"))
    problems, lines = JUDGES[name](facts)
    if problems:
        return failed(name, "; ".join(problems)[:600], lines)
    if facts.get("skipped"):
        return skipped(name, facts["skipped"], lines)
    return passed(name, _summary(name, facts), lines)


def _summary(name: str, facts: dict) -> str:
    if name == STALE:
        return (
            f"box {facts['box']} taken again {facts['taken_after_s']:.2f} s after its holder was SIGKILLed "
            f"(bound {facts['bound_s']:g} s); the new run was alone; host back to baseline"
        )
    return (
        "garbage, truncated and empty lock files handled: one run at a time, each alone or refused with a "
        "cause, the lock file valid or free afterwards"
    )
