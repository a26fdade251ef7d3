"""The runs a comparison reads: found under the paths given, one per stage, and refused when a baseline
and a candidate run of a stage did not run the same thing.

A path is a run directory (it holds history.jsonl) or any directory holding run directories at any
depth (a reports/ or runs/ directory, a downloaded artifact). Several runs of one stage: the newest
(by its stage_start) is compared, and the others are named, so nobody wonders which one was used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reliability.analyze import analyze
from reliability.errors import UsageError
from reliability.history import HISTORY_FILE
from reliability.report.analysis import Analysis

# What must be equal for two runs of a stage to measure the same thing; a different target version or
# pipeline version is what a comparison is for.
IDENTITY = {"profile": "profile", "target": "target", "seed": "workload seed"}


@dataclass(frozen=True)
class Side:
    """One side of the comparison: the newest analysed run of each stage, and the runs left out."""

    path: Path
    runs: dict[str, Analysis]
    ignored: list[str]

    @property
    def version(self) -> str:
        """The pipeline version of the newest run (what a release is named by when none is given)."""
        newest = max(self.runs.values(), key=lambda a: a.history.stage_start["t"])
        return newest.history.stage_start["pipeline_version"]


def run_dirs(path: Path) -> list[Path]:
    if (path / HISTORY_FILE).is_file():
        return [path]
    return sorted(p.parent for p in path.rglob(HISTORY_FILE) if p.is_file())


def load(path: str | Path, what: str) -> Side:
    """The runs under `path`; UsageError (one line, exit 2) when there is none or one cannot be read."""
    path = Path(path)
    if not path.is_dir():
        raise UsageError(f"{what} {path}: no such directory")
    dirs = run_dirs(path)
    if not dirs:
        raise UsageError(f"{what} {path}: no run directory ({HISTORY_FILE}) in it")
    newest: dict[str, Analysis] = {}
    ignored = []
    for run_dir in dirs:
        analysis = analyze(run_dir)  # HistoryError, an unknown stage: one line, exit 2
        held = newest.get(analysis.stage)
        if held is not None:
            older, analysis = sorted((held, analysis), key=_started)
            ignored.append(f"{older.stage}: {older.history.run_dir} (an older run of the stage)")
        newest[analysis.stage] = analysis
    return Side(path, newest, ignored)


def _started(analysis: Analysis) -> float:
    return analysis.history.stage_start["t"]


def mismatches(baseline: Side, candidate: Side) -> list[str]:
    """Why a stage's two runs are not the same measurement: another profile, target, or workload (seed
    and sizes). Empty when every stage in both compares like with like."""
    out = []
    for stage in sorted(set(baseline.runs) & set(candidate.runs)):
        base = baseline.runs[stage].history.stage_start
        cand = candidate.runs[stage].history.stage_start
        for key, what in IDENTITY.items():
            if base[key] != cand[key]:
                out.append(f"{stage}: {what} {base[key]} in the baseline, {cand[key]} in the candidate")
        if base["config"] != cand["config"]:
            differ = sorted(k for k in set(base["config"]) | set(cand["config"]) if
                            base["config"].get(k) != cand["config"].get(k))  # fmt: skip
            sizes = ", ".join(f"{k} {base['config'].get(k)} vs {cand['config'].get(k)}" for k in differ)
            out.append(f"{stage}: the workload's sizes differ ({sizes})")
    return out
