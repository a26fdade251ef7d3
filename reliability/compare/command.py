"""`reliability compare BASELINE CANDIDATE`: exit 0 when nothing is worse (or there is no baseline and
that is allowed), 1 on a regression, 2 on bad input (one line, before anything is written)."""

from __future__ import annotations

import argparse
from pathlib import Path

from reliability.compare import output, runs
from reliability.errors import UsageError


def register(sub) -> None:
    p = sub.add_parser("compare", help="compare a release candidate's runs with the last release's")
    p.add_argument(
        "baseline", help="run directory, or a directory holding run directories (the last release)"
    )
    p.add_argument("candidate", help="run directory, or a directory holding run directories")
    p.add_argument(
        "--reports", default="reports", help=f"write {output.XML} and {output.JSON} here (default: reports)"
    )
    p.add_argument(
        "--baseline-name", help="what the suite calls the baseline (default: its pipeline version)"
    )
    p.add_argument(
        "--allow-mismatch",
        action="store_true",
        help="compare runs of different profiles, targets or workloads (seed, sizes) anyway",
    )
    p.add_argument(
        "--skip-without-baseline",
        action="store_true",
        help=f"no BASELINE directory or no run in it: write a skipped suite {output.NO_BASELINE_SUITE!r}, exit 0",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from reliability.compare.judge import compare

    reports = Path(args.reports)
    if reports.exists() and not reports.is_dir():
        raise UsageError(f"--reports {reports} is not a directory")
    candidate = runs.load(args.candidate, "candidate")
    baseline_path = Path(args.baseline)
    if args.skip_without_baseline and not (baseline_path.is_dir() and runs.run_dirs(baseline_path)):
        reason = f"no baseline: {baseline_path} holds no run (no release has published its runs yet)"
        props = {"baseline_path": str(baseline_path), "candidate_path": str(candidate.path)}
        xml, _ = output.write(reports, output.NO_BASELINE_SUITE, output.no_baseline(reason), props, [])
        print(f"compare: SKIPPED: {reason}\nJUnit: {xml}")
        return 0
    baseline = runs.load(baseline_path, "baseline")
    differ = runs.mismatches(baseline, candidate)
    if differ and not args.allow_mismatch:
        raise UsageError(
            f"not the same measurement, refused: {differ[0]}"
            + (f" (and {len(differ) - 1} more)" if len(differ) > 1 else "")
            + "; give --allow-mismatch to compare anyway"
        )
    findings = compare(baseline, candidate)
    name = args.baseline_name or baseline.version
    notes = [f"compared although: {d}" for d in differ] + [
        f"left out: {i}" for i in baseline.ignored + candidate.ignored
    ]
    props = _properties(name, baseline, candidate)
    xml, summary = output.write(reports, output.suite_name(name), findings, props, notes)
    for f in findings:
        print(f"[{f.result.status.upper():7}] {f.result.name}: {f.result.message}")
    for note in notes:
        print(f"note: {note}")
    verdict = output.status(findings)
    print(f"compare: {verdict.upper()} ({output.suite_name(name)}); JUnit: {xml}; summary: {summary}")
    return 1 if verdict == "failed" else 0


def _properties(name: str, baseline: runs.Side, candidate: runs.Side) -> dict:
    def side(s: runs.Side) -> dict:
        return {
            stage: {
                "run_dir": str(a.history.run_dir),
                "pipeline_version": a.history.stage_start["pipeline_version"],
                "target_version": a.history.stage_start["target_version"],
                "profile": a.history.stage_start["profile"],
                "target": a.history.stage_start["target"],
                "seed": a.history.stage_start["seed"],
            }
            for stage, a in sorted(s.runs.items())
        }

    return {
        "baseline": name,
        "baseline_path": str(baseline.path),
        "candidate_path": str(candidate.path),
        "candidate_version": candidate.version,
        "baseline_runs": side(baseline),
        "candidate_runs": side(candidate),
    }
