"""A fleet's reports: reports/<host>/<stage>.xml, and every host's suites merged into one JUnit file.

The merged file carries a mark so that the gate, which reads every *.xml under reports/, skips it:
its suites are already counted in the per-host files.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

MERGED_MARK = "reliability-fleet-merged"


def host_of_file(relative: str | os.PathLike) -> str:
    """A fleet report lives under reports/<host>/; a file at the top belongs to no host ("-")."""
    parts = Path(relative).parts
    return parts[0] if len(parts) > 1 else "-"


def is_merged(path: Path) -> bool:
    try:
        return ET.parse(path).getroot().get("name") == MERGED_MARK
    except (ET.ParseError, OSError):
        return False  # unreadable: let the gate read it and fail on it


def write_merged_junit(reports_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Every suite of every host in one <testsuites>, each suite's hostname set to its host."""
    root = Path(reports_dir)
    merged = ET.Element("testsuites", name=MERGED_MARK)
    for path in sorted(root.rglob("*.xml")):
        if is_merged(path):
            continue
        host = host_of_file(path.relative_to(root))
        try:
            top = ET.parse(path).getroot()
        except (ET.ParseError, OSError):
            continue  # the gate reports it; the merged file only carries what is readable
        for suite in [top] if top.tag == "testsuite" else top.findall(".//testsuite"):
            if host != "-":
                suite.set("hostname", host)
            merged.append(suite)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(merged).write(out, encoding="utf-8", xml_declaration=True)
    return out
