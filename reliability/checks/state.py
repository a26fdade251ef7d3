"""State corruption checks (QA-REL-001 section 8), from the "state corruption" evidence of the state stage.

The plan's four assertions (corruption detected, state quarantined, service continues, a clear audit
trail) and the recovery afterwards are separate checks: a sandbox may refuse a bad file yet keep no
record of it, or quarantine a box and never bring it back. Every judgement comes from the history:
what the stage wrote, what the damaged box's run got, what the file and the audit files looked like
afterwards; the case list counted against is the one recorded in stage_start. A target with no per-box state file has every check skipped with the reason.
"""

from __future__ import annotations

from reliability.checks.aftermath import probe_problems, recovery_problems
from reliability.checks.base import CheckResult, failed, not_measured, passed, skipped
from reliability.history import History

LABEL = "state corruption"
DETECTED = "damage detected (no silent use of a bad state file)"
QUARANTINED = "damaged box quarantined"
SERVING = "other boxes kept serving"
AUDIT = "audit trail records the damage"
RECOVERED = "recovered and healthy after recover"
NAMES = (DETECTED, QUARANTINED, SERVING, AUDIT, RECOVERED)
# Words with which a refusal names the damage it found (a target's own wording varies).
NAMING = ("state", "corrupt", "quarantin", "schema", "json", "missing")


def _untaken_skipped(e: dict) -> dict:
    """A damage that did not take (the file read back without it) tested nothing: a skip with the fact."""
    if "skipped" in e or e["written"].get("took_effect", True):
        return e
    return {**e, "skipped": f"the damage did not take effect: {e['written']['fact']}"}


def check(history: History) -> list[CheckResult]:
    events = [e["evidence"] for e in history.of_type("evidence") if e["label"] == LABEL]
    events = [_untaken_skipped(e) for e in events]
    done = [e for e in events if "skipped" not in e]
    skips = [
        f"{e['case']} (index {e['index']}, box {e['box']}): {e['skipped']}" for e in events if "skipped" in e
    ]
    if not done:
        reason = "; ".join(sorted({s.split(": ", 1)[1] for s in skips})) or "no state case ran"
        return [skipped(name, reason, skips) for name in NAMES]
    measured = sorted({e["case"] for e in done})
    summary = f"{len(done)} damaged state files ({', '.join(measured)})"
    if history.cases is None:
        summary += "; the history records no case list, so what was not measured is unknown"
    summary += not_measured(history, measured)  # the run's own list: the same after the code moved on
    config = history.stage_start.get("config", {})
    planned = config.get("iterations", 0) * len(history.cases or measured)
    if len(events) < planned:  # cut short by the stage's time cap (duration_s), or a narrowed workload
        summary += f"; {len(events)} of {planned} planned cases ran (time cap {config.get('duration_s')} s)"
    summary += f"; skipped: {'; '.join(skips)}" if skips else ""
    target = history.stage_start["target"]
    out = [
        _judge(DETECTED, done, _detected, summary),
        _judge(QUARANTINED, done, _quarantined, summary),
        _judge(SERVING, done, _serving, summary),
    ]
    if not any(e["audit_files"] for e in done):
        out.append(skipped(AUDIT, f"target {target} declares no audit files: no audit trail to read"))
    else:
        out.append(_judge(AUDIT, done, _audited, summary))
    out.append(_judge(RECOVERED, done, _recovered, summary))
    return out


def _judge(name: str, done: list[dict], judge, summary: str) -> CheckResult:
    problems: list[str] = []
    good: list[str] = []
    for e in done:
        bad, fine = judge(_at(e), e)
        problems += bad
        good += [fine] if fine and not bad else []
    if problems:
        return failed(name, f"{len(problems)} problem(s) in {len(done)} damaged state files", problems)
    return passed(name, summary, good)


def _at(e: dict) -> str:
    return f"box {e['box']}, case {e['case']} (index {e['index']}), file {e['file']}"


def _refused(run: dict) -> bool:
    return bool(run["init_error"]) or (run["result"] is not None and run["result"]["verdict"] == "IE")


def _told(run: dict) -> str:
    if run["init_error"]:
        return f"init refused: {run['init_error']}"
    if run["result"] is None:
        return "no run"
    return f"{run['result']['verdict']} {run['result']['message']}".strip()


def _box_records(e: dict) -> list:
    """New audit records about the damaged box: its number in a "box" field, or its file named."""
    return [
        r for r in e["audit"] if (isinstance(r, dict) and r.get("box") == e["box"]) or e["file"] in str(r)
    ]


def _detected(at: str, e: dict) -> tuple[list[str], str]:
    run, after = e["damaged_run"], e["file_after"]
    if run["error"]:
        return [f"{at}: the target failed the pipeline's execution: {run['error']}"], ""
    if run["init_error"] == "" and run["result"] is None:
        return [f"{at}: the damaged box's submission never ran: nothing was measured"], ""
    traced = bool(e["kept_at"]) or bool(_box_records(e))
    if not _refused(run):
        if after["untouched"]:
            return [f"{at}: ran {_told(run)} on the damaged file and left it as written: used silently"], ""
        if not traced:
            return [
                f"{at}: ran {_told(run)} and the damage left no trace: not refused, not set aside, no "
                f"audit record; the file was silently replaced (now {after['bytes']} bytes)"
            ], ""
        return [], f"{at}: repaired with a trace, then ran {_told(run)}"
    named = any(word in _told(run).lower() for word in NAMING)
    if after["untouched"] and not traced and not named:
        return [
            f"{at}: refused ({_told(run)}) but nothing shows the damage was found: file left as written, "
            "nothing set aside, no audit record, the message does not name it"
        ], ""
    return [], f"{at}: refused: {_told(run)}"


def _quarantined(at: str, e: dict) -> tuple[list[str], str]:
    run, retry = e["damaged_run"], e["retry"]
    problems = []
    if not _refused(run):
        problems.append(f"{at}: the damaged box was not refused: it ran {_told(run)}")
    if "skipped" in retry:
        problems.append(f"{at}: no second run before recover: {retry['skipped']}")
    elif retry["verdict"] != "IE":
        problems.append(f"{at}: a second run before recover got {retry['verdict']}: the box served again")
    if e["written"]["bytes"] and not e["kept_at"]:
        problems.append(
            f"{at}: the bad file was not kept: no copy of the {e['written']['bytes']} written bytes "
            f"under {e['state_root']} (deleted or overwritten)"
        )
    kept = f"; kept at {', '.join(e['kept_at'])}" if e["kept_at"] else ""
    return problems, f"{at}: refused ({_told(run)}), second run refused too{kept}"


def _serving(at: str, e: dict) -> tuple[list[str], str]:
    problems = []
    for box, probe in sorted(e["others"].items()):
        problems += probe_problems(f"{at}: other box {box}", probe)
    if not e["others"]:
        problems.append(f"{at}: no other box was run")
    return problems, f"{at}: boxes {', '.join(sorted(e['others']))} ran OK meanwhile"


def _audited(at: str, e: dict) -> tuple[list[str], str]:
    if not e["audit_files"]:
        return [], f"{at}: no audit files declared"
    records = _box_records(e)
    if not records:
        return [
            f"{at}: no audit record about the box in {', '.join(e['audit_files'])} "
            f"({len(e['audit'])} new record(s) about other things)"
        ], ""
    first = records[0]
    if isinstance(first, dict):
        moved = f"; moved to {first['moved_to']}" if first.get("moved_to") else ""
        said = f"{first.get('event')}: {first.get('detail')}{moved}"
    else:
        said = str(first)
    return [], f"{at}: {said}"


def _recovered(at: str, e: dict) -> tuple[list[str], str]:
    problems = [f"{at}: before the damage: {line}" for line in probe_problems("a normal run", e["prime"])]
    rec = e["recovered"]
    problems += recovery_problems(at, rec)
    problems += [f"{at}: after recover: {line}" for line in rec["state_files"]]
    problems += probe_problems(at, e["probe"])
    return (
        problems,
        f"{at}: recover: {'; '.join(rec['recover']) or 'nothing left'}; probe {e['probe'].get('verdict')}",
    )
