"""What the crash and faults checks both read: how recover went, the probe run after it, and what a
cleanup of a clean box leaves (probed once per stage, aftermath.clean_box_cleanup).

What the cleanup of a clean box leaves is one finding of its own ("cleanup of a clean box leaves
nothing"). Recover ends with a cleanup, so the same leftover would otherwise show under every case's
"recovered to baseline" and bury the findings of the crash or fault itself: there exactly what the
probe showed (the same item, a directory with the same entries) is taken out, nothing more.
"""

from __future__ import annotations

from reliability.checks.base import CheckResult, failed, passed, skipped
from reliability.history import History

CLEAN_CLEANUP_LABEL = "clean-box cleanup"  # aftermath.CLEAN_CLEANUP, the probe's evidence label
CLEAN_CLEANUP = "cleanup of a clean box leaves nothing"
Explained = dict[tuple[str, str], "list[str] | None"]  # (kind, item) -> the directory's entries, if one


def _clean_probes(history: History) -> list[dict]:
    return [e["evidence"] for e in history.of_type("evidence") if e["label"] == CLEAN_CLEANUP_LABEL]


def clean_cleanup_leftovers(history: History) -> Explained:
    """What the cleanup of a box that was clean when probed left: these explain the same leftover later."""
    out: Explained = {}
    for probe in _clean_probes(history):
        if probe["present_before"]:
            continue  # the box was not clean: what its cleanup left says nothing of a clean one
        for kind, items in probe["left"].items():
            out.update({(kind, item): probe["contents"].get(item) for item in items})
    return out


def clean_cleanup_check(history: History) -> list[CheckResult]:
    probes = _clean_probes(history)
    if not probes:
        return [skipped(CLEAN_CLEANUP, "not probed: no case of the stage ran")]
    clean = [p for p in probes if not p["present_before"]]
    if not clean:
        found = sorted({path for p in probes for path in p["present_before"]})
        return [skipped(CLEAN_CLEANUP, f"the box was not clean when probed: {', '.join(found)} existed")]
    left = [f"{item}" for p in clean for items in p["left"].values() for item in items]
    left += [line for p in clean for line in p.get("state_files", [])]
    said = [f"box {p['box']}: cleanup ok {p['cleanup']['ok']} {p['cleanup']['error']}".strip() for p in clean]
    if left:
        items = sorted(set(left))
        entries = [f"{item}: entries {p['contents'].get(item)}" for p in clean for item in p["contents"]]
        return [failed(CLEAN_CLEANUP, f"cleanup of a clean box leaves {', '.join(items)}", entries + said)]
    return [passed(CLEAN_CLEANUP, f"cleanup of clean box {clean[0]['box']} left nothing", said)]


def recovery_problems(at: str, recovered: dict, explained: Explained | None = None) -> list[str]:
    """Recover's own error, and every difference between the host after recover and the baseline,
    except a new item that is exactly what the cleanup of a clean box leaves (`explained`)."""
    explained = explained or {}
    contents = recovered.get("contents", {})
    problems = [f"{at}: recover failed: {recovered['recover_error']}"] if recovered["recover_error"] else []
    for label, diff in (("new", recovered["new"]), ("gone", recovered["gone"])):
        for kind, items in diff.items():
            for item in items:
                key = (kind, item)
                if label == "new" and key in explained and explained[key] == contents.get(item):
                    continue
                problems.append(f"{at}: {label} {kind}: {item}")
    return problems


def probe_problems(at: str, probe: dict) -> list[str]:
    """Empty when the box ran its probe submission after recover with the right verdict and output."""
    if "skipped" in probe:
        return [f"{at}: probe not run: {probe['skipped']}"]
    if probe["verdict"] == "OK" and probe["stdout_ok"] and probe["cleanup_ok"]:
        return []
    detail = f"{probe['message']} {probe.get('cleanup_error', '')}".strip()
    return [
        f"{at}: probe got {probe['verdict']} (stdout ok {probe['stdout_ok']}, cleanup ok "
        f"{probe['cleanup_ok']}) {detail}".strip()
    ]
