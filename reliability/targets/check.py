"""`reliability target check FILE|isolate|rustbox`: validate a target file, then run one OK submission.

Exit codes: 0 the file is valid and the live run passed (or was skipped, with the reason printed);
1 the live run failed (not OK, wrong output, or cleanup failed); 2 the file is invalid (bad input).
"""

from __future__ import annotations

import argparse
import shutil

from reliability.errors import UsageError
from reliability.targets.base import Limits, TargetError
from reliability.targets.described import PROFILE_DIR, description_for, require_programs
from reliability.targets.description import Description

SHIPPED = {"isolate": ("isolate-1.yml", "isolate-2.yml"), "rustbox": ("rustbox.yml",)}
CHECK_LIMITS = Limits(cpu_s=2.0, wall_s=5.0, mem_mb=256, processes=64, output_kb=1024)
OK_PROGRAM = "cpp/ok_sum"  # smallest and quickest of the catalog's OK programs


def register(subparsers) -> None:
    target = subparsers.add_parser("target", help="work with described sandboxes (docs/targets.md)")
    actions = target.add_subparsers(dest="target_action", metavar="{check}")
    actions.required = True
    check = actions.add_parser("check", help="validate a target file and run one OK submission through it")
    check.add_argument("file", help="a target file (.yml), or isolate / rustbox for the shipped profiles")
    check.add_argument("--box", type=int, default=0, help="box number for the live run (default 0)")
    check.add_argument("--target-option", action="append", default=[], metavar="KEY=VALUE")
    check.add_argument("--no-run", action="store_true", help="validate the file only")
    check.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    options = {}
    for pair in args.target_option:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--target-option wants KEY=VALUE, got {pair!r}")
        options[key] = value
    if not 0 <= args.box < 1000:
        raise UsageError(f"--box must be from 0 to 999, got {args.box}")
    if args.file in SHIPPED:
        descs = [description_for(PROFILE_DIR / f, options) for f in SHIPPED[args.file]]
        program = args.file
    else:
        descs = [description_for(args.file, options)]
        program = None
    for desc in descs:
        print(f"{desc.source}: valid target file ({desc.name})")
    if args.no_run:
        print("live run: skipped: --no-run")
        return 0
    if program and not shutil.which(program):
        print(f"live run: skipped: {program} is not on PATH")
        return 0
    if program == "isolate":
        from reliability.targets.isolate import isolate_description

        descs = [isolate_description(options)]
    require_programs(descs[0])
    return live_run(descs[0], args.box)


def live_run(desc: Description, box: int) -> int:
    """Init box `box`, run one OK program, clean up; print each step; 0 only if all went right."""
    from reliability.targets.command import command_target
    from reliability.workload.prepare import prepare_programs

    prepared = prepare_programs([OK_PROGRAM])[OK_PROGRAM]
    if isinstance(prepared, str):
        print(f"live run: skipped: {OK_PROGRAM} cannot be built here: {prepared}")
        return 0
    target = command_target(desc)
    print(f"version: {target.version()}")
    try:
        target.start()
    except UsageError as e:
        print(f"start: FAILED: {e}")
        return 1
    if "start" in desc.doc["commands"]:  # and stop, once the box is cleaned: the runs go between them
        print("start: ok")
    try:
        try:
            target.init(box)
        except TargetError as e:
            print(f"init: FAILED: {e}")
            return 1
        try:
            result = target.run(box, prepared.command, CHECK_LIMITS, prepared.files)
        finally:
            outcome = target.cleanup(box)
    finally:
        target.stop()
        target.close()
    right_output = prepared.expected_stdout is None or result.stdout == prepared.expected_stdout
    print(
        f"run: {result.verdict} (cpu {result.cpu_s:.3f} s, wall {result.wall_s:.3f} s){' ' + result.message if result.message else ''}"
    )
    if result.verdict == "OK" and not right_output:
        print(f"run: wrong output: {result.stdout[:200]!r}, expected {prepared.expected_stdout!r}")
    print(f"cleanup: {'ok' if outcome.ok else 'FAILED: ' + outcome.error}")
    ok = result.verdict == "OK" and right_output and outcome.ok
    print(f"target check: {'PASSED' if ok else 'FAILED'}")
    return 0 if ok else 1
