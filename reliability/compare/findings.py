"""What one comparison rule says about one stage: a JUnit testcase, and the numbers behind it for the
machine-readable summary (a release page reads those, not the wording)."""

from __future__ import annotations

from dataclasses import dataclass, field

from reliability.checks.base import CheckResult


@dataclass(frozen=True)
class Finding:
    stage: str
    rule: str  # short and stable: "slowdown", "throughput", "checks", "verdicts", "ie", "leftovers"
    result: CheckResult  # named "<stage>: <assertion>"
    data: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        r = self.result
        return {
            "stage": self.stage,
            "rule": self.rule,
            "name": r.name,
            "status": r.status,
            "message": r.message,
            "evidence": list(r.evidence),
            "data": self.data,
        }


def rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
