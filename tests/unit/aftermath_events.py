"""What the crash and faults stages record after a fault, for a sandbox that does everything right."""

from __future__ import annotations

OK_PROBE = {"verdict": "OK", "message": "", "stdout_ok": True, "cleanup_ok": True, "cleanup_error": ""}


def recovered(**change) -> dict:
    return {"recover": ["box 3"], "recover_error": "", "new": {}, "gone": {}, "state_files": [], **change}


def left(**leaks) -> dict:
    return {"leaks": dict(leaks), "state_files": []}
