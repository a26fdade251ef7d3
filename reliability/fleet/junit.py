"""A host's fate in the play as a JUnit suite, so the gate sees an unreachable host or a failed play
as an error, never as a missing (and so silently absent) report."""

from __future__ import annotations

from pathlib import Path

from junit_xml import TestCase, TestSuite, to_xml_report_string

FLEET_SUITE = "fleet"


def write_host_suite(
    reports_dir: Path, host: str, problem: str | None, playbook: str, properties: dict | None = None
) -> Path:
    """reports/<host>/fleet.xml: one testcase that passed, or one error naming the host and why."""
    case = TestCase(f"{playbook} on {host}", classname="reliability.fleet")
    if problem:
        case.add_error_info(message=f"{host}: {problem}", output=problem)
    suite = TestSuite(FLEET_SUITE, [case], hostname=host, properties=properties or None)
    path = reports_dir / host / "fleet.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_xml_report_string([suite], encoding="utf-8"), encoding="utf-8")
    return path
