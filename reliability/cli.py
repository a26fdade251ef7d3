"""One entry point: run stages, re-derive reports, gate, replay a submission, drive the built-in sandbox."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from reliability import __version__
from reliability.errors import NeedsRoot, UsageError
from reliability.profiles import DEFAULT_PROFILE, PROFILES


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
    p.add_argument("--target", default="builtin", help="sandbox under test (default: builtin)")
    p.add_argument("--target-option", action="append", default=[], metavar="KEY=VALUE", help="target setting")


def _cmd_run(args) -> int:
    from reliability import stages
    from reliability.execute import RunOptions, execute, resume_run
    from reliability.metrics import check_prefix

    if args.resume and args.stages:
        raise UsageError("--resume RUN_DIR continues that run's stage: give no STAGE with it")
    if not args.resume and not args.stages:
        raise UsageError("give at least one STAGE (or --resume RUN_DIR)")
    if args.metrics_port is not None and not 0 < args.metrics_port < 65536:
        raise UsageError(f"--metrics-port must be 1-65535, got {args.metrics_port}")
    check_prefix(args.metrics_prefix)
    selected = [stages.get(name) for name in args.stages]  # all names checked before anything runs
    if args.target == "builtin" and os.geteuid() != 0:
        raise NeedsRoot("the built-in sandbox (tmpfs box mounts, cgroups, box uids)")
    opts = RunOptions(
        profile=args.profile,
        seed=args.seed,
        overrides={
            "duration_s": args.duration,
            "submissions": args.submissions,
            "iterations": args.iterations,
            "concurrency": args.concurrency,
            "grace_s": args.grace,
        },
        runs_dir=Path(args.runs),
        reports_dir=Path(args.reports),
        target=args.target,
        target_options=_target_options(args.target_option),
        box_base=args.box_base,
        metrics_port=args.metrics_port,
        pushgateway=args.pushgateway,
        metrics_prefix=args.metrics_prefix,
    )
    if args.resume:
        return 0 if resume_run(Path(args.resume), opts).ok else 1
    ok = True
    for stage in selected:
        ok = execute(stage, opts).ok and ok
    return 0 if ok else 1


def _cmd_report(args) -> int:
    from reliability.analyze import analyze, write_reports
    from reliability.report.summary import print_summary

    analysis = analyze(Path(args.run_dir))
    path = write_reports(analysis, Path(args.reports))
    print_summary(analysis)
    print(f"JUnit report: {path}")
    if args.html is not None:
        from reliability.report.html import write_html_for_cli

        print(f"HTML report: {write_html_for_cli(analysis, args.html, Path(args.reports))}")
    return 0 if analysis.ok else 1


def _cmd_gate(args) -> int:
    from reliability.gate import format_table, gate

    reports = Path(args.reports_dir)
    if not reports.is_dir():
        print(f"gate: FAILED: {reports} does not exist or is not a directory")
        return 1
    expect = [s for s in args.expect.split(",") if s] if args.expect else None
    result = gate(reports, expect=expect)
    print(format_table(result))  # the table lists the reasons too
    print(f"gate: {'PASSED' if result.ok else 'FAILED'}")
    return 0 if result.ok else 1


def _cmd_replay(args) -> int:
    from reliability.replay import replay

    return replay(
        Path(args.run_dir),
        args.index,
        target=args.target,
        target_options=_target_options(args.target_option),
        box=args.box,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="reliability", description=__doc__)
    parser.add_argument("--version", action="version", version=f"reliability {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run stages and write JUnit reports")
    run.add_argument("stages", nargs="*", metavar="STAGE")
    run.add_argument("--profile", default=DEFAULT_PROFILE, choices=PROFILES)
    run.add_argument("--seed", type=int, help="replay a run exactly (printed at the start of every run)")
    run.add_argument("--duration", type=float, help="stress: run at least this many seconds")
    run.add_argument("--submissions", type=int, help="stress: run at least this many submissions")
    run.add_argument("--iterations", type=int, help="leaks: executions across the four endings")
    run.add_argument("--concurrency", type=int, help="worker threads, one box each")
    run.add_argument(
        "--grace", type=float, help="crash: seconds to watch what a killed supervisor left before cleaning"
    )
    run.add_argument("--runs", default="runs", help="where run directories (histories) go")
    run.add_argument("--reports", default="reports", help="where JUnit reports go")
    run.add_argument("--box-base", type=int, default=0, help="first box number the workers use")
    run.add_argument("--resume", metavar="RUN_DIR", help="continue a run whose pipeline or host died")
    run.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on 127.0.0.1:PORT")
    run.add_argument("--pushgateway", metavar="URL", help="push the metrics there at the end of each stage")
    run.add_argument("--metrics-prefix", default="rustbox", help="metric name prefix (default: rustbox)")
    _add_target_flags(run)
    run.set_defaults(func=_cmd_run)

    report = sub.add_parser("report", help="re-derive checks and reports from a run's history")
    report.add_argument("run_dir")
    report.add_argument("--reports", default="reports")
    report.add_argument(
        "--html", nargs="?", const="", metavar="PATH", help="also write HTML (default: REPORTS/STAGE.html)"
    )
    report.set_defaults(func=_cmd_report)

    gate = sub.add_parser("gate", help="fail on any failed, missing or empty report")
    gate.add_argument("reports_dir")
    gate.add_argument("--expect", help="comma-separated stages that must have a report")
    gate.set_defaults(func=_cmd_gate)

    replay = sub.add_parser("replay", help="run one submission of a recorded run again")
    replay.add_argument("run_dir")
    replay.add_argument("index", type=int)
    replay.add_argument("--box", type=int, help="box to use (default: the one it ran in)")
    _add_target_flags(replay)
    replay.set_defaults(func=_cmd_replay)

    from reliability.refbox.cli import register

    register(sub)
    from reliability.targets.check import register as register_target

    register_target(sub)
    from reliability.fleet.cli import register as register_fleet

    register_fleet(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"reliability: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("reliability: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`report RUN | head`): not an error of ours. Point stdout at /dev/null
        # so the interpreter's final flush does not raise again, and exit as a shell would on SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
