"""The fleet package: its playbooks ship in the wheel, and its merged JUnit is not counted twice by the gate."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from reliability.fleet.ansible import PLAYBOOKS
from reliability.fleet.merge import MERGED_MARK, write_merged_junit
from reliability.gate import gate

REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_carries_every_playbook_and_c_source_where_they_are_looked_for(tmp_path: Path) -> None:
    source = tmp_path / "src"  # a copy: building in the checkout would leave build/ and egg-info there
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "reliability", source / "reliability", ignore=ignore)
    shutil.copytree(REPO / "schemas", source / "schemas")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("reliability-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    in_wheel = {n for n in names if "/playbooks/" in n}
    shipped = {str(p.relative_to(REPO)) for p in PLAYBOOKS.rglob("*.yml")}
    assert {"reliability/fleet/playbooks/provision.yml", "reliability/fleet/playbooks/stop.yml"} <= shipped
    assert in_wheel == shipped
    # The refbox builds its C supervisor and the server's client from these on first use: without one
    # an installed refbox falls back to slower code, silently.
    c_sources = {str(p.relative_to(REPO)) for p in (REPO / "reliability" / "refbox").glob("*.c")}
    assert {"reliability/refbox/boxsup.c", "reliability/refbox/boxclient.c"} <= c_sources
    assert c_sources <= set(names)


def _suite(path: Path, name: str, failed: bool) -> None:
    body = '<failure message="bad"/>' if failed else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'<testsuite name="{name}" tests="1"><testcase name="c">{body}</testcase></testsuite>')


def test_merged_junit_names_hosts_and_the_gate_skips_it(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    _suite(reports / "h1" / "stress.xml", "stress", failed=False)
    _suite(reports / "h2" / "stress.xml", "stress", failed=True)
    merged = write_merged_junit(reports, reports / "merged.xml")
    root = merged.read_bytes().decode()
    assert MERGED_MARK in root and 'hostname="h1"' in root and 'hostname="h2"' in root
    verdict = gate(reports)
    assert [r.file for r in verdict.rows] == ["h1/stress.xml", "h2/stress.xml"]  # merged.xml not read again
    assert not verdict.ok
