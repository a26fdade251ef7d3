"""Is anything of the candidate worse than the baseline, beyond speed (latency.py)? Pure functions of
two analysed runs of one stage, each a Finding with its evidence.

- checks: a check that fails in the candidate and did not fail in the baseline;
- verdicts: a higher wrong-verdict rate, over the stage or in any group (language x expected verdict),
  by the verdict check's own rule (an IE the faults stage injected is judged by the program's verdict);
- ie: a higher rate of IE results, leaving out the IEs the stage injected on purpose;
- leftovers: more leaked items of any kind, more cleanup failures or more quarantines.
Rates, not counts, for verdicts and IE: a stage bounded by time runs more or fewer submissions.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from reliability.checks import cleanup, leaks, verdicts
from reliability.checks.base import CheckResult, failed, passed, skipped
from reliability.checks.faults import injected_cleanup_failures
from reliability.compare.findings import Finding, rate
from reliability.history import History
from reliability.report.analysis import Analysis

EVIDENCE_PER_ITEM = 5  # lines of a candidate check's own evidence shown with it


def new_failures(stage: str, baseline: Analysis, candidate: Analysis) -> Finding:
    name = f"{stage}: no check fails that did not fail in the baseline"
    before = {c.name: c.status for c in baseline.checks}
    new = [c for c in candidate.checks if c.status == "failed" and before.get(c.name) != "failed"]
    still = [c.name for c in candidate.checks if c.status == "failed" and before.get(c.name) == "failed"]
    fixed = [n for n, s in before.items() if s == "failed" and _status(candidate.checks, n) != "failed"]
    data = {
        "new_failures": [
            {"check": c.name, "baseline": before.get(c.name, "not run"), "message": c.message} for c in new
        ],
        "still_failing": still,
        "fixed": fixed,
    }
    notes = [f"still failing, as in the baseline: {n}" for n in still] + [
        f"fixed since the baseline: {n}" for n in fixed
    ]
    if new:
        evidence = []
        for c in new:
            evidence.append(f"{c.name}: {c.message} (baseline: {before.get(c.name, 'not run')})")
            evidence += [f"{c.name}: {line}" for line in c.evidence[:EVIDENCE_PER_ITEM]]
        message = f"{len(new)} check(s) fail that did not fail in the baseline: " + "; ".join(
            f"{c.name} ({c.message})" for c in new
        )
        return Finding(stage, "checks", failed(name, message, evidence + notes), data)
    return Finding(
        stage, "checks", passed(name, f"{len(candidate.checks)} checks, none newly failing", notes), data
    )


def _status(checks: list[CheckResult], name: str) -> str:
    return next((c.status for c in checks if c.name == name), "absent")


def verdict_groups(history: History) -> dict[tuple[str, str], dict]:
    """(language, expected) -> {"judged", "wrong", "mix": {verdict: count}} over the runs with a result."""
    injected = injected_cleanup_failures(history)
    out: dict[tuple[str, str], dict] = defaultdict(lambda: {"judged": 0, "wrong": 0, "mix": Counter()})
    for index, r in history.results.items():
        sub = history.submissions.get(index)
        if sub is None:
            continue
        group = out[(sub.language, sub.expected)]
        group["judged"] += 1
        group["wrong"] += verdicts.is_wrong(r, sub, injected)
        group["mix"][r["result"]["verdict"]] += 1
    return dict(out)


def wrong_verdicts(stage: str, baseline: Analysis, candidate: Analysis) -> Finding:
    name = f"{stage}: wrong-verdict rate not higher than the baseline"
    base, cand = verdict_groups(baseline.history), verdict_groups(candidate.history)
    totals = [_sum(base), _sum(cand)]
    rows, lines, worse = [], [], []
    for key in sorted(set(base) | set(cand)):
        b, c = base.get(key, _empty()), cand.get(key, _empty())
        higher = rate(c["wrong"], c["judged"]) > rate(b["wrong"], b["judged"])
        line = (
            f"{key[0]} expected {key[1]}: wrong {_frac(b)} -> {_frac(c)}; verdicts"
            f" {_mix(b['mix'])} -> {_mix(c['mix'])}"
        )
        (worse if higher else lines).append(line)
        rows.append(
            {
                "language": key[0],
                "expected": key[1],
                "baseline": _plain(b),
                "candidate": _plain(c),
                "higher": higher,
            }
        )
    overall = f"all groups: wrong {_frac(totals[0])} -> {_frac(totals[1])}"
    higher = rate(totals[1]["wrong"], totals[1]["judged"]) > rate(totals[0]["wrong"], totals[0]["judged"])
    data = {
        "baseline": _plain(totals[0]),
        "candidate": _plain(totals[1]),
        "higher": higher or bool(worse),
        "groups": rows,
    }
    if not totals[1]["judged"] or not totals[0]["judged"]:
        return Finding(stage, "verdicts", skipped(name, f"nothing to judge on both sides ({overall})"), data)
    if higher or worse:
        wrong_of_candidate = [e for c in candidate.checks if c.name == verdicts.NAME for e in c.evidence]
        message = "wrong verdicts rose: " + "; ".join(([overall] if higher else []) + worse)
        return Finding(
            stage, "verdicts", failed(name, message, worse + [overall] + lines + wrong_of_candidate), data
        )
    return Finding(stage, "verdicts", passed(name, overall, lines), data)


def _empty() -> dict:
    return {"judged": 0, "wrong": 0, "mix": Counter()}


def _sum(groups: dict) -> dict:
    total = _empty()
    for g in groups.values():
        total["judged"] += g["judged"]
        total["wrong"] += g["wrong"]
        total["mix"].update(g["mix"])
    return total


def _plain(g: dict) -> dict:
    return {
        "judged": g["judged"],
        "wrong": g["wrong"],
        "rate": rate(g["wrong"], g["judged"]),
        "mix": dict(sorted(g["mix"].items())),
    }


def _frac(g: dict) -> str:
    return f"{g['wrong']}/{g['judged']} ({rate(g['wrong'], g['judged']):.2%})"


def _mix(mix: Counter) -> str:
    return " ".join(f"{v} {n}" for v, n in sorted(mix.items())) or "none"


def internal_errors(history: History) -> tuple[int, int, list[str]]:
    """(IE results not injected by the stage, results, one line for each such IE)."""
    injected = injected_cleanup_failures(history)
    results = history.results
    ie = [
        f"index {i} box {r['box']}: {r['result'].get('message') or 'no message'}"
        for i, r in sorted(results.items())
        if r["result"]["verdict"] == "IE" and i not in injected
    ]
    return len(ie), len(results), ie


def ie_rate(stage: str, baseline: Analysis, candidate: Analysis) -> Finding:
    name = f"{stage}: IE rate not higher than the baseline"
    (nb, tb, _), (nc, tc, lines) = internal_errors(baseline.history), internal_errors(candidate.history)
    data = {
        "baseline": {"ie": nb, "results": tb, "rate": rate(nb, tb)},
        "candidate": {"ie": nc, "results": tc, "rate": rate(nc, tc)},
    }
    summary = f"IE {nb}/{tb} ({rate(nb, tb):.2%}) -> {nc}/{tc} ({rate(nc, tc):.2%}), injected IEs left out"
    if not tb or not tc:
        return Finding(stage, "ie", skipped(name, f"no results on both sides: {summary}"), data)
    if rate(nc, tc) > rate(nb, tb):
        return Finding(stage, "ie", failed(name, f"the IE rate rose: {summary}", lines), data)
    return Finding(stage, "ie", passed(name, summary), data)


def leftovers(history: History) -> tuple[dict[str, int | None], dict[str, list[str]]]:
    """({kind: count, None when not measured}, {kind: the items}): leaks by kind, cleanup failures and
    quarantines, as the leak and cleanup checks see them."""
    counts: dict[str, int | None] = {}
    items: dict[str, list[str]] = {}
    try:
        found = leaks.diff(history) if {"before", "after"} <= set(history.snapshots) else None
    except leaks.DAMAGED:
        found = None
    for field in leaks.KINDS:
        kind = "zombies" if field == "zombies" else f"leaked {field.replace('_', ' ')}"
        items[kind] = list(getattr(found, field)) if found else []
        counts[kind] = len(items[kind]) if found else None
    items["cleanup failures"] = [line for c in history.cleanups for line in cleanup.failures(c)]
    counts["cleanup failures"] = sum(1 for c in history.cleanups if not c["outcome"]["ok"])
    items["quarantines"] = [f"box {e['box']}: {e['reason']}" for e in history.of_type("quarantine")]
    counts["quarantines"] = len(items["quarantines"])
    return counts, items


def more_leftovers(stage: str, baseline: Analysis, candidate: Analysis) -> Finding:
    name = f"{stage}: no more leaks, cleanup failures or quarantines than the baseline"
    (base, _), (cand, items) = leftovers(baseline.history), leftovers(candidate.history)
    data = {"baseline": base, "candidate": cand}
    lines, worse, unmeasured, items_shown = [], [], [], []
    for kind in cand:
        b, c = base[kind], cand[kind]
        if b is None or c is None:
            unmeasured.append(
                f"{kind}: not measured ({'baseline' if b is None else 'candidate'} has no snapshots)"
            )
        elif c > b:
            worse.append(f"{kind}: {b} -> {c}")
            items_shown += [f"{kind}: {item}" for item in items[kind][:EVIDENCE_PER_ITEM]]
        else:
            lines.append(f"{kind}: {b} -> {c}")
    if worse:
        return Finding(
            stage,
            "leftovers",
            failed(
                name,
                "more than in the baseline: " + "; ".join(worse),
                worse + items_shown + lines + unmeasured,
            ),
            data,
        )
    if not lines:
        return Finding(stage, "leftovers", skipped(name, "nothing measured on both sides", unmeasured), data)
    return Finding(stage, "leftovers", passed(name, "; ".join(lines), unmeasured), data)
