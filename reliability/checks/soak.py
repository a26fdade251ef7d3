"""The soak test's own pass criterion (QA-REL-001 "Soak Testing"): an IE rate below 0.01%.

Its other criteria are the stress stage's checks at soak strength: zero leaks (leaks.py), zero
quarantines (cleanup.py), degradation below 1% (degradation.py picks the soak threshold). Outside the
soak profile any IE is already a wrong verdict (verdicts.py), so this check only speaks in a soak.
"""

from __future__ import annotations

from reliability.checks.base import CheckResult, failed, passed, skipped
from reliability.history import History

NAME = "IE rate below 0.01%"
MAX_IE_RATE = 0.0001


def check(history: History) -> list[CheckResult]:
    if history.stage_start["profile"] != "soak":
        return []
    results = history.results.values()
    total = len(results)
    if not total:
        return [skipped(NAME, "no results: nothing ran")]
    ie = [r for r in results if r["result"]["verdict"] == "IE"]
    rate = len(ie) / total
    if rate >= MAX_IE_RATE:
        evidence = [f"index {r['index']} box {r['box']}: {r['result'].get('message', '')}" for r in ie]
        return [failed(NAME, f"{len(ie)} IE in {total} executions ({rate:.4%})", evidence)]
    return [passed(NAME, f"{len(ie)} IE in {total} executions ({rate:.4%})")]
