"""What a check says: passed, failed or skipped, one line why, and the evidence behind it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from reliability.history import History

STATUSES = ("passed", "failed", "skipped")

# A run with thousands of bad items must still give a readable report; the history keeps them all.
MAX_EVIDENCE = 200


@dataclass(frozen=True)
class CheckResult:
    name: str  # the assertion, e.g. "no leaked mounts"; one JUnit testcase
    status: str  # one of STATUSES
    message: str  # one line: what was found, or why it could not be measured
    evidence: list[str] = field(default_factory=list)  # one item per line

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"check status {self.status!r} is not one of {STATUSES}")
        object.__setattr__(self, "message", one_line(self.message))
        object.__setattr__(self, "evidence", [one_line(e, limit=2000) for e in self.evidence])


def one_line(text: str, limit: int = 500) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def capped(lines: Iterable[str], limit: int = MAX_EVIDENCE) -> list[str]:
    """The first `limit` lines, and a last line saying how many more there were."""
    items = list(lines)
    if len(items) <= limit:
        return items
    return items[:limit] + [f"... and {len(items) - limit} more (all are in the history)"]


def passed(name: str, message: str = "", evidence: Iterable[str] = ()) -> CheckResult:
    return CheckResult(name, "passed", message, capped(evidence))


def failed(name: str, message: str, evidence: Iterable[str] = ()) -> CheckResult:
    return CheckResult(name, "failed", message, capped(evidence))


def skipped(name: str, reason: str, evidence: Iterable[str] = ()) -> CheckResult:
    return CheckResult(name, "skipped", reason, capped(evidence))


def not_measured(history: History, seen: Iterable[str]) -> str:
    """ "; not measured: a, b" for the cases of the run's own list (stage_start) that no event names (a
    run cut short, a narrowed replay), or "" (also for a history that recorded no list)."""
    seen = set(seen)
    missing = [case for case in history.cases or () if case not in seen]
    return f"; not measured: {', '.join(missing)}" if missing else ""
