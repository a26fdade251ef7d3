"""Lock integrity (QA-REL-001 section 7): no two executions ever overlap in one box.

Two witnesses, because either alone can be fooled: the history's timestamps and the marker each program
leaves in the box (the box's own view). A target may make a contender wait for the lock inside run(), so
the pipeline's interval (init to result) includes the wait; the program itself ran within the last
wall_s seconds the target reports, so its window is [max(started, ended - wall_s), ended].
An execution the target refused (verdict IE) did not run; it must say why. The stale-lock and
corrupt-lock sub-cases (faults/lock_cases.py, run after the contention runs, one "evidence" event each)
need a target with locks; without them they are skipped, never passed.
"""

from __future__ import annotations

from reliability.checks.base import CheckResult, failed, passed, skipped
from reliability.checks.overlap import overlapping
from reliability.history import History

OVERLAP = "no overlapping executions in one box (history timestamps)"
MARKER = "no other run seen in the box (in-box marker)"
REFUSALS = "refused executions give a cause"
STALE = "stale lock of a killed holder recovered"
CORRUPT = "corrupt lock file handled"
SUBCASES = {"lock holder killed": STALE, "lock file corrupted": CORRUPT}


def check(history: History) -> list[CheckResult]:
    ran = [r for r in history.of_type("result") if r["result"]["verdict"] != "IE"]
    return [_overlap(history, ran), _marker(ran), _refusals(history), *_subcases(history)]


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
    results = []
    for label, name in SUBCASES.items():
        ev = found.get(label)
        if ev is None:
            results.append(skipped(name, f"not run: no {label!r} evidence in the history"))
        elif ev.get("skipped"):
            results.append(skipped(name, ev["skipped"]))
        elif ev.get("ok"):
            results.append(passed(name, ev["summary"], ev.get("lines", [])))
        else:
            results.append(failed(name, ev["summary"], ev.get("lines", [])))
    return results
