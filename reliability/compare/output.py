"""The comparison's reports: the JUnit suite "regression vs <baseline>" (one testcase per stage and rule,
so the gate and any CI read it like a stage's suite) and the same findings as JSON beside it, with the
numbers behind each, for a release page."""

from __future__ import annotations

import json
from pathlib import Path

from reliability.checks.base import skipped
from reliability.compare.findings import Finding
from reliability.report.junit import write_atomically, write_suite

XML = "regression.xml"
JSON = "regression.json"
FORMAT = 1  # of the JSON summary; raised when a reader would misread the new one
NO_BASELINE_SUITE = "regression (no baseline)"  # the gate may allow this suite's skip by its name
CLASSNAME = "reliability.regression"


def suite_name(baseline: str) -> str:
    return f"regression vs {baseline}"


def status(findings: list[Finding]) -> str:
    statuses = {f.result.status for f in findings}
    return "failed" if "failed" in statuses else "passed" if "passed" in statuses else "skipped"


def write(
    reports: Path, suite: str, findings: list[Finding], properties: dict, notes: list[str]
) -> tuple[Path, Path]:
    """(the XML, the JSON), each replaced atomically."""
    flat = {k: v for k, v in properties.items() if not isinstance(v, (dict, list))}  # JUnit's are strings
    xml = write_suite(reports / XML, suite, [f.result for f in findings], flat, CLASSNAME)
    summary = {
        "format": FORMAT,
        "suite": suite,
        "status": status(findings),
        **properties,
        "notes": notes,
        "cases": [f.to_dict() for f in findings],
    }
    text = json.dumps(summary, indent=1, default=str) + "\n"  # str: whatever JSON has no type for
    return xml, write_atomically(reports / JSON, text)


def no_baseline(reason: str) -> list[Finding]:
    """The one finding of a comparison without a baseline: skipped with the reason, never passed."""
    return [Finding("-", "baseline", skipped("compared with the baseline", reason))]
