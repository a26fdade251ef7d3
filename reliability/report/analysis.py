"""An analysed run: its history and the checks' results, and the suite properties naming the run.

The reports render an Analysis; producing one (reliability/analyze.py) needs the stage registry, which
the reports may not import (they must never reach the runner, pyproject.toml's import contracts).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from reliability.checks.base import CheckResult
from reliability.history import History


@dataclass
class Analysis:
    stage: str
    history: History
    checks: list[CheckResult]

    @property
    def ok(self) -> bool:
        return not any(c.status == "failed" for c in self.checks)


def properties(analysis: Analysis) -> dict[str, object]:
    """The suite's JUnit properties: what ran, where, with which seed, and when."""
    start = analysis.history.stage_start
    end = analysis.history.stage_end
    return {
        "stage": analysis.stage,
        "profile": start["profile"],
        "seed": start["seed"],
        "target": start["target"],
        "target_version": start["target_version"],
        "host": start["host"],
        "pipeline_version": start["pipeline_version"],
        "run_dir": str(analysis.history.run_dir),
        "started": _iso(start["t"]),
        "ended": _iso(end["t"]) if end else "interrupted",
        # the deploy under test, when one was named (reliability/artifact.py)
        **({"artifact_version": start["artifact_version"]} if start.get("artifact_version") else {}),
    }


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
