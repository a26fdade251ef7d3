"""JUnit XML: one testsuite per stage, one testcase per check, so any CI shows the plan's assertions."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from junit_xml import TestCase, TestSuite, to_xml_report_string

from reliability.checks.base import CheckResult


def build_suite(
    stage: str, checks: list[CheckResult], properties: Mapping[str, object], classname: str = ""
) -> TestSuite:
    cases = []
    for check in checks:
        case = TestCase(check.name, classname=classname or f"reliability.{stage}", elapsed_sec=0.0)
        evidence = "\n".join(check.evidence)
        if check.status == "failed":
            case.add_failure_info(message=check.message, output=evidence or check.message)
        elif check.status == "skipped":
            case.add_skipped_info(message=check.message, output=evidence or None)
        else:
            case.stdout = "\n".join([check.message, *check.evidence]) or None
        cases.append(case)
    props = {str(k): str(v) for k, v in properties.items()}
    return TestSuite(stage, cases, hostname=props.get("host"), properties=props)


def write_suite(
    path: str | os.PathLike,
    stage: str,
    checks: list[CheckResult],
    properties: Mapping[str, object],
    classname: str = "",
) -> Path:
    """Write the stage's suite to `path` atomically: a reader never sees half a report."""
    suite = build_suite(stage, checks, properties, classname)
    return write_atomically(path, to_xml_report_string([suite], encoding="utf-8"))


def write_atomically(path: str | os.PathLike, text: str) -> Path:
    """Replace `path` with `text` in one rename, after an fsync."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
