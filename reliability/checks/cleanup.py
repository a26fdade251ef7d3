"""Cleanup integrity (QA-REL-001 sections 1 and 4): every cleanup succeeded, and no box was quarantined."""

from __future__ import annotations

from reliability.checks.base import CheckResult, failed, passed, skipped
from reliability.history import History

CLEANUP = "no cleanup failures"
QUARANTINE = "no quarantines"


def check(history: History) -> list[CheckResult]:
    return [_cleanups(history), _quarantines(history)]


def _cleanups(history: History) -> CheckResult:
    cleanups = history.cleanups
    ran = history.results
    if not cleanups and not ran:
        return skipped(CLEANUP, "nothing ran, so nothing was cleaned up")
    problems = [line for c in cleanups for line in failures(c)]
    cleaned = {c["index"] for c in cleanups}
    # A run whose cleanup was never recorded may have left anything behind: that is not a success.
    problems += [
        f"box {r['box']} index {i}: ran, but no cleanup was recorded"
        for i, r in sorted(ran.items())
        if i not in cleaned
    ]
    if problems:
        return failed(CLEANUP, f"{len(problems)} cleanup failures in {len(cleanups)} cleanups", problems)
    return passed(CLEANUP, f"{len(cleanups)} cleanups, all ok")


def failures(event: dict) -> list[str]:
    outcome = event["outcome"]
    where = f"box {event['box']} index {event['index']}"
    bad_steps = [s for s in outcome.get("steps", []) if not s["ok"]]
    lines = [f"{where}: step {s['name']} failed: {s.get('error') or 'no error given'}" for s in bad_steps]
    if outcome["ok"] and bad_steps:
        lines.append(f"{where}: cleanup reported ok although a step failed")
    if not outcome["ok"] and not bad_steps:
        lines.append(f"{where}: cleanup failed: {outcome.get('error') or 'no error given'}")
    return lines


def _quarantines(history: History) -> CheckResult:
    events = history.of_type("quarantine")
    if events:
        return failed(
            QUARANTINE,
            f"{len(events)} box quarantine(s)",
            [f"box {e['box']}: {e['reason']}" for e in events],
        )
    return passed(QUARANTINE, "no box was quarantined")
