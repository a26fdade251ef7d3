from __future__ import annotations

import xml.etree.ElementTree as ET

from reliability.checks.base import failed, passed, skipped
from reliability.report.junit import write_suite

CHECKS = [
    passed("all verdicts correct", "120 verdicts correct"),
    failed("no leaked mounts", "1 leaked mounts", ["mount tmpfs on /run/refbox/3"]),
    failed(
        "no cleanup failures",
        "2 cleanup failures",
        ["box 1 index 4: step unmount failed: EBUSY", "box 2 index 9: x"],
    ),
    skipped("languages covered", "java: 40 skipped: javac not found", ["java: 40 skipped: javac not found"]),
]


def test_written_suite_parses_with_the_right_counts_and_contents(tmp_path):
    path = write_suite(tmp_path / "reports" / "stress.xml", "stress", CHECKS, {"seed": 7, "profile": "smoke"})
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite.get("name") == "stress"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "4",
        "2",
        "0",
        "1",
    )
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props == {"seed": "7", "profile": "smoke"}

    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert list(cases) == [c.name for c in CHECKS]
    assert {c.get("classname") for c in cases.values()} == {"reliability.stress"}
    failure = cases["no cleanup failures"].find("failure")
    assert failure.get("message") == "2 cleanup failures"
    assert failure.text.splitlines() == CHECKS[2].evidence
    assert cases["languages covered"].find("skipped").get("message") == "java: 40 skipped: javac not found"
    assert cases["all verdicts correct"].find("failure") is None
    assert cases["all verdicts correct"].find("skipped") is None


def test_control_characters_from_a_target_do_not_break_the_xml(tmp_path):
    check = failed("all verdicts correct", "1 of 1 verdicts wrong", ["target said 'bad\x00\x07bytes'"])
    path = write_suite(tmp_path / "leaks.xml", "leaks", [check], {})
    case = ET.parse(path).getroot().find("testsuite/testcase")
    assert case.find("failure").get("message") == "1 of 1 verdicts wrong"


def test_rewriting_replaces_the_report_whole_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "stress.xml"
    write_suite(path, "stress", CHECKS, {})
    write_suite(path, "stress", CHECKS[:1], {})
    assert ET.parse(path).getroot().find("testsuite").get("tests") == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["stress.xml"]
