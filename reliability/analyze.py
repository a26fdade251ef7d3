"""Derive everything from a history alone: checks, JUnit, summary. `reliability report RUN_DIR` uses it too."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

from reliability import stages
from reliability.checks.base import CheckResult
from reliability.errors import UsageError
from reliability.history import read
from reliability.report.analysis import Analysis, properties
from reliability.report.junit import write_suite
from reliability.report.series import rerun_command

HISTORY = "history.jsonl"


def analyze(run_dir: Path) -> Analysis:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: no such run directory")
    history = read(run_dir / HISTORY)
    stage = stages.get(history.stage_start["stage"])
    return Analysis(stage=stage.name, history=history, checks=stage.check(history))


def _with_rerun(analysis: Analysis) -> list[CheckResult]:
    """Failed checks carry the command that runs the stage again, so a CI failure is one paste away."""
    rerun = f"run the stage again: {rerun_command(analysis.history)}"
    return [replace(c, evidence=[*c.evidence, rerun]) if c.status == "failed" else c for c in analysis.checks]


def write_reports(analysis: Analysis, reports_dir: Path) -> Path:
    path = Path(reports_dir) / f"{analysis.stage}.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_suite(path, analysis.stage, _with_rerun(analysis), properties(analysis))
    return path


def refuse_to_replace_newer(analysis: Analysis, reports_dir: Path) -> None:
    """`report RUN --reports DIR` must not put an older run's verdict where the gate reads a newer one."""
    path = Path(reports_dir) / f"{analysis.stage}.xml"
    try:
        found = {p.get("name"): p.get("value") for p in ET.parse(path).getroot().iter("property")}
    except (OSError, ET.ParseError):
        return  # nothing there, or nothing a gate could pass on
    ours = properties(analysis)
    if found.get("run_dir") != ours["run_dir"] and (found.get("started") or "") > ours["started"]:
        raise UsageError(
            f"{path} is the report of a newer run ({found.get('run_dir')}, started {found.get('started')}); "
            f"not replaced: write this one elsewhere with --reports DIR"
        )
