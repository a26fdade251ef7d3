"""What the crash and faults checks both read: how recover went, and the probe run after it."""

from __future__ import annotations


def recovery_problems(at: str, recovered: dict) -> list[str]:
    """Recover's own error, and every difference between the host after recover and the baseline."""
    problems = [f"{at}: recover failed: {recovered['recover_error']}"] if recovered["recover_error"] else []
    for label, diff in (("new", recovered["new"]), ("gone", recovered["gone"])):
        problems += [f"{at}: {label} {kind}: {item}" for kind, items in diff.items() for item in items]
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
