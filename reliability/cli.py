"""One entry point: run stages, re-derive reports, gate, compare with a baseline, replay a submission, drive
the built-in sandbox."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from reliability import __version__, bounds
from reliability.errors import NeedsRoot, UsageError, one_line
from reliability.profiles import DEFAULT_PROFILE, PROFILES, check_overrides
from reliability.stages import NAMES as STAGE_NAMES

# What a resumed run takes from its history: given again with --resume, each would be ignored.
RESUME_FIXED = {
    "profile": "--profile",
    "seed": "--seed",
    "duration": "--duration",
    "submissions": "--submissions",
    "iterations": "--iterations",
    "concurrency": "--concurrency",
    "grace": "--grace",
    "box_base": "--box-base",
    "runs": "--runs",
    "target": "--target",
    "target_option": "--target-option",
    "artifact_version": "--artifact-version",
}


class Parser(argparse.ArgumentParser):
    """Bad usage is one line and exit code 2, never a usage dump or a traceback."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _target_options(pairs: list[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--target-option wants KEY=VALUE, got {pair!r}")
        options[key] = value
    return options


def _add_target_flags(p: argparse.ArgumentParser) -> None:
    # default None, read as builtin: `run --resume` must tell a --target given from none
    p.add_argument("--target", help="sandbox under test (default: builtin)")
    p.add_argument("--target-option", action="append", default=[], metavar="KEY=VALUE", help="target setting")


def _cmd_run(args) -> int:
    from reliability import stages
    from reliability.execute import RunOptions, execute, preflight, resume_run
    from reliability.metrics import check_prefix

    if args.resume and args.stages:
        raise UsageError("--resume RUN_DIR continues that run's stage: give no STAGE with it")
    if not args.resume and not args.stages:
        raise UsageError("give at least one STAGE (or --resume RUN_DIR)")
    if args.resume:
        given = [flag for key, flag in RESUME_FIXED.items() if getattr(args, key) not in (None, [])]
        if given:
            raise UsageError(
                f"--resume goes on with the run's own settings (from its history): drop {', '.join(given)}"
            )
    if args.metrics_port is not None:
        bounds.check("--metrics-port", args.metrics_port, 1, bounds.MAX_PORT)
    if args.seed is not None:
        bounds.check("--seed", args.seed, 0, bounds.MAX_SEED)
    if args.box_base is not None:  # the target's own range is checked once it is loaded (preflight)
        bounds.check("--box-base", args.box_base, 0, bounds.MAX_BOX_NUMBER)
    overrides = check_overrides(
        {
            "duration_s": args.duration,
            "submissions": args.submissions,
            "iterations": args.iterations,
            "concurrency": args.concurrency,
            "grace_s": args.grace,
        }
    )
    check_prefix(args.metrics_prefix)
    from reliability import artifact

    artifact_version = None if args.resume else artifact.resolve(args.artifact_version)
    selected = [
        stages.get(name) for name in stages.expand(args.stages)
    ]  # all names checked before anything runs
    target = args.target or "builtin"
    if target == "builtin" and os.geteuid() != 0:
        raise NeedsRoot("the built-in sandbox (tmpfs box mounts, cgroups, box uids)")
    opts = RunOptions(
        profile=args.profile or DEFAULT_PROFILE,
        seed=args.seed,
        overrides=overrides,
        runs_dir=Path(args.runs or "runs"),
        reports_dir=Path(args.reports),
        target=target,
        target_options=_target_options(args.target_option),
        box_base=args.box_base or 0,
        metrics_port=args.metrics_port,
        pushgateway=args.pushgateway,
        metrics_prefix=args.metrics_prefix,
        artifact_version=artifact_version,
    )
    if args.resume:
        return 0 if resume_run(Path(args.resume), opts).ok else 1
    preflight(selected, opts)
    analyses = []
    for i, stage in enumerate(selected):
        analyses.append(execute(stage, opts))
        if (analyses[-1].history.stage_end or {}).get("interrupted") and selected[i + 1 :]:
            # Ctrl-C (or SIGTERM) stops the pipeline, not only the stage it came in.
            rest = ", ".join(s.name for s in selected[i + 1 :])
            print(f"reliability: interrupted during {stage.name}: not run: {rest}", file=sys.stderr)
            break
    if len(selected) > 1:  # several stages end with one table of them all
        from reliability.report.scorecard import report_scorecard

        print(f"scorecard: {report_scorecard(analyses, [s.name for s in selected], opts.reports_dir)}")
    return 0 if all(a.ok for a in analyses) else 1


def _cmd_report(args) -> int:
    from reliability.analyze import analyze, refuse_to_replace_newer, write_reports
    from reliability.report.summary import print_summary

    if args.release:
        return _cmd_release(args)
    if args.expect is not None or args.allow_skipped is not None:
        raise UsageError("--expect and --allow-skipped go with --release (the gate of a release page)")

    analysis = analyze(Path(args.run_dir))
    if args.reports is None:  # next to the run: the gate's reports/ keeps the newest run's verdict
        reports = Path(args.run_dir)
    else:
        reports = Path(args.reports)
        if reports.exists() and not reports.is_dir():
            raise UsageError(f"--reports {reports} is not a directory")
        refuse_to_replace_newer(analysis, reports)
    path = write_reports(analysis, reports)
    print_summary(analysis)
    print(f"JUnit report: {path}")
    if args.html is not None:
        from reliability.report.html import write_html_for_cli

        html_dir = reports  # like the JUnit: next to the run unless --reports says where
        print(f"HTML report: {write_html_for_cli(analysis, args.html, html_dir)}")
    return 0 if analysis.ok else 1


def _cmd_release(args) -> int:
    """The release page: the gate's result over REPORTS_DIR, then every stage's run, analysed again."""
    from reliability.analyze import analyze
    from reliability.gate import gate
    from reliability.report import release

    reports = Path(args.run_dir)
    if args.reports is not None:
        raise UsageError("--release reads REPORTS_DIR and writes nothing there but the page: drop --reports")
    if not reports.is_dir():
        raise UsageError(f"{reports}: no such reports directory")
    result = gate(reports, expect=_gate_expect(args), allow_skipped=_gate_allowed(args))
    stages = []
    for row in release.stage_rows(result):
        host = release.host_label(result, row)
        run_dir = release.find_run_dir(result, reports, row)
        if run_dir is None:
            stages.append(release.StageReport(row, host, None, release.why_no_run(result, row)))
            continue
        try:
            stages.append(release.StageReport(row, host, analyze(run_dir), ""))
        except (UsageError, OSError, ValueError) as exc:  # an unreadable history: say so, show the rest
            stages.append(release.StageReport(row, host, None, f"{run_dir}: {exc}"))
    page = release.render_release(result, reports, stages)
    try:
        path = release.write_release(page, reports, args.html)
    except OSError as exc:
        raise UsageError(f"cannot write the release page: {exc.strerror or exc}") from None
    print(f"release page: {path}")
    from reliability.report.markdown import release_markdown
    from reliability.report.summary import append_to_step_summary

    append_to_step_summary(lambda: release_markdown(result, reports))
    print(f"gate: {'PASSED' if result.ok else 'FAILED'} ({len(result.reasons)} reason(s))")
    return 0 if result.ok else 1


def _gate_expect(args) -> list[str] | None:
    """The stages named; "all" stands for every stage, as in `run all`; other names (a fleet's "fleet")
    as they are."""
    named = [s for s in (args.expect or "").split(",") if s]
    return [n for s in named for n in (STAGE_NAMES if s == "all" else [s])] or None


def _gate_allowed(args) -> set[str]:
    return {s for s in (args.allow_skipped or "").split(",") if s}


def _add_gate_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--expect", help="comma-separated stages that must have a report (all: every stage)")
    p.add_argument(
        "--allow-skipped",
        nargs="?",
        const="*",
        metavar="STAGES",
        help="pass a suite whose testcases were all skipped: these comma-separated stages, or any without STAGES",
    )


def _cmd_gate(args) -> int:
    from reliability.gate import format_markdown, format_table, gate

    reports = Path(args.reports_dir)
    if args.summary and not Path(args.summary).parent.is_dir():
        raise UsageError(f"--summary {args.summary}: no such directory {Path(args.summary).parent}")
    # a missing directory is a reason too: the summary says so
    result = gate(reports, expect=_gate_expect(args), allow_skipped=_gate_allowed(args))
    if args.summary:  # appended: a CI step summary file ($GITHUB_STEP_SUMMARY) collects every step's
        with open(args.summary, "a", encoding="utf-8") as f:
            f.write(format_markdown(result))
    if not reports.is_dir():
        print(f"gate: FAILED: {reports} does not exist or is not a directory")
        return 1
    print(format_table(result))  # the table lists the reasons too
    print(f"gate: {'PASSED' if result.ok else 'FAILED'}")
    return 0 if result.ok else 1


def _cmd_replay(args) -> int:
    from reliability.replay import replay

    return replay(
        Path(args.run_dir),
        args.index,
        target=args.target or "builtin",
        target_options=_target_options(args.target_option),
        box=args.box,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="reliability", description=__doc__)
    parser.add_argument("--version", action="version", version=f"reliability {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run stages and write JUnit reports")
    run.add_argument(
        "stages",
        nargs="*",
        metavar="STAGE",
        help=f"one or more of: {', '.join(STAGE_NAMES)}, or all (ends with a scorecard)",
    )
    run.add_argument("--profile", choices=PROFILES, help=f"sizes of the stages (default: {DEFAULT_PROFILE})")
    run.add_argument("--seed", type=int, help="replay a run exactly (printed at the start of every run)")
    run.add_argument("--duration", type=float, help="stress: run at least this many seconds")
    run.add_argument("--submissions", type=int, help="stress: run at least this many submissions")
    run.add_argument("--iterations", type=int, help="leaks: executions across the four endings")
    run.add_argument("--concurrency", type=int, help="worker threads, one box each")
    run.add_argument(
        "--grace", type=float, help="crash: seconds to watch what a killed supervisor left before cleaning"
    )
    run.add_argument("--runs", help="where run directories (histories) go (default: runs)")
    run.add_argument("--reports", default="reports", help="where JUnit reports go")
    run.add_argument("--box-base", type=int, help="first box number the workers use (default: 0)")
    run.add_argument("--resume", metavar="RUN_DIR", help="continue a run whose pipeline or host died")
    run.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on 127.0.0.1:PORT")
    run.add_argument("--pushgateway", metavar="URL", help="push the metrics there at the end of each stage")
    run.add_argument("--metrics-prefix", default="rustbox", help="metric name prefix (default: rustbox)")
    run.add_argument(
        "--artifact-version",
        help="the deployed artifact's version, into every report's properties "
        "(default: $RELIABILITY_ARTIFACT_VERSION)",
    )
    _add_target_flags(run)
    run.set_defaults(func=_cmd_run)

    report = sub.add_parser(
        "report", help="re-derive checks and reports from a run's history, or a release candidate's page"
    )
    report.add_argument("run_dir", metavar="RUN_DIR", help="a run directory; with --release, REPORTS_DIR")
    report.add_argument(
        "--reports", help="write STAGE.xml here (default: into RUN_DIR; never over a newer run's report)"
    )
    report.add_argument(
        "--html",
        nargs="?",
        const="",
        metavar="PATH",
        help="also write HTML (default: STAGE.html next to the JUnit: the run directory without --reports;"
        " with --release, REPORTS_DIR/release.html)",
    )
    report.add_argument(
        "--release",
        action="store_true",
        help="one page for a release candidate: the gate over REPORTS_DIR, its failures, the comparison"
        " with the baseline (regression.xml), then every stage",
    )
    _add_gate_flags(report)
    report.set_defaults(func=_cmd_report)

    gate = sub.add_parser("gate", help="fail on any failed, missing or empty report")
    gate.add_argument("reports_dir")
    _add_gate_flags(gate)
    gate.add_argument(
        "--summary", metavar="FILE", help="also append the verdict as Markdown (e.g. $GITHUB_STEP_SUMMARY)"
    )
    gate.set_defaults(func=_cmd_gate)

    replay = sub.add_parser("replay", help="run one submission of a recorded run again")
    replay.add_argument("run_dir")
    replay.add_argument("index", type=int)
    replay.add_argument("--box", type=int, help="box to use (default: the one it ran in)")
    replay.add_argument("--target", help="must be the recorded target (default: the recorded one)")
    replay.add_argument(
        "--target-option", action="append", default=[], metavar="KEY=VALUE", help="target setting"
    )
    replay.set_defaults(func=_cmd_replay)

    from reliability.compare.command import register as register_compare

    register_compare(sub)
    from reliability.refbox.cli import register

    register(sub)
    from reliability.targets.check import register as register_target

    register_target(sub)
    from reliability.fleet.cli import register as register_fleet

    register_fleet(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return one_line(lambda: args.func(args), "reliability")
