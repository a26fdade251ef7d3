"""`reliability box init|run|cleanup|status|recover`: the refbox by hand, one JSON object per call; `box serve`,
the same commands from a resident process (refbox/server.py).

Exit codes: 0 whatever the verdict, 2 for bad usage (UsageError, NeedsRoot), 1 when the sandbox itself
failed (init, cleanup or recover could not do their job).
"""

from __future__ import annotations

import argparse
import json
import os

from reliability import bounds
from reliability.errors import NeedsRoot, UsageError, one_line
from reliability.refbox.box import DEFAULT_BOX_ROOT, DEFAULT_CGROUP_NAME, MAX_BOXES, PROGRAM_PATH, Refbox
from reliability.refbox.names import check_box_root, check_cgroup_name
from reliability.sandbox_values import Limits, TargetError

ACTIONS = ("init", "run", "cleanup", "status", "recover")
MAX_SECONDS = 24 * 3600  # a CPU time limit of a day is already no limit for a judge
# Each command is a process holding the box lock while it works: a cleanup arriving while another
# worker's init of the same box is being refused must wait its turn, not leave the box initialised.
LOCK_WAIT_S = 5.0


def register(subparsers) -> None:
    """Add the `box` command to an argparse subparsers object (its parser class is reused)."""
    box = subparsers.add_parser("box", help="drive the built-in reference sandbox by hand")
    actions = box.add_subparsers(dest="box_action", metavar="{" + ",".join((*ACTIONS, "serve")) + "}")
    actions.required = True
    for action in ACTIONS:
        p = actions.add_parser(action, help=f"{action} a box")
        p.add_argument(
            "--box", type=int, required=action not in ("recover", "status"), help=f"0..{MAX_BOXES - 1}"
        )
        p.add_argument("--root", default=DEFAULT_BOX_ROOT, help=f"box root (default {DEFAULT_BOX_ROOT})")
        p.add_argument("--cgroup-name", default=DEFAULT_CGROUP_NAME, help="parent cgroup name")
        p.add_argument("--quota-mb", type=int, default=64, help="box tmpfs size in MiB (init)")
        p.add_argument(
            "--lock-wait",
            type=float,
            default=LOCK_WAIT_S,
            metavar="SECONDS",
            help=f"wait this long for a box another command holds, then refuse it (default {LOCK_WAIT_S:g})",
        )
        if action == "run":
            _add_run_flags(p)
        if action == "recover":
            p.add_argument("--all", action="store_true", help="every box of this root (the default)")
        if action == "status":
            p.add_argument("--table", action="store_true", help="a table instead of JSON")
        p.set_defaults(func=handle)
    serve = actions.add_parser(
        "serve", help="answer box commands from a resident process (a script's client)"
    )
    serve.add_argument("--dir", required=True, help="the server's directory: its socket, pid and client link")
    serve.add_argument(
        "--stop", action="store_true", help="stop the server of --dir and remove the directory"
    )
    serve.set_defaults(func=handle_serve)


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--time", type=float, default=1.0, help="CPU time limit, seconds")
    p.add_argument("--wall-time", type=float, help="wall time limit, seconds (default 2 x time + 1)")
    p.add_argument("--mem", type=int, default=256, help="memory limit, MiB")
    p.add_argument("--processes", type=int, default=64, help="process (and thread) limit")
    p.add_argument("--output-limit", type=int, default=65536, help="largest file the program may write, KiB")
    p.add_argument("--file", action="append", default=[], metavar="SRC[:NAME]", help="copy into the box")
    p.add_argument("command", nargs="*", help="after --: the program and its arguments")


def handle(args: argparse.Namespace) -> int:
    action = args.box_action
    if args.box is not None and not 0 <= args.box < MAX_BOXES:
        raise UsageError(f"--box must be from 0 to {MAX_BOXES - 1}, got {args.box}")
    bounds.check("--quota-mb", args.quota_mb, 1, 1024 * 1024)
    bounds.check("--lock-wait", args.lock_wait, 0, MAX_SECONDS)
    if action == "recover" and args.all and args.box is not None:
        raise UsageError("box recover takes --box N or --all, not both")
    check_box_root(args.root)
    check_cgroup_name(args.cgroup_name)
    run_parts = _run_parts(args) if action == "run" else None
    if os.geteuid() != 0:
        raise NeedsRoot(f"reliability box {action} (tmpfs mounts, cgroups, box uids)")
    try:
        refbox = Refbox(
            box_root=args.root,
            cgroup_name=args.cgroup_name,
            quota_mb=args.quota_mb,
            lock_wait_s=args.lock_wait,
        )
        doc, code = _act(refbox, action, args, run_parts)
    except TargetError as e:
        doc, code = {"action": action, "box": args.box, "ok": False, "error": str(e)}, 1
    print(_table(doc["boxes"]) if action == "status" and args.table and "boxes" in doc else json.dumps(doc))
    return code


def handle_serve(args: argparse.Namespace) -> int:
    """Start (or stop) the resident server of refbox/server.py: a JSON object, exit 1 if it failed."""
    from reliability.refbox import server

    try:
        doc = server.stop(args.dir) if args.stop else server.start(args.dir)
    except (server.ServerError, OSError) as e:
        doc = {"action": "serve", "ok": False, "error": str(e)}
    print(json.dumps(doc))
    return 0 if doc["ok"] else 1


TABLE_COLUMNS = ("box", "status", "phase", "owner", "locked", "mounted", "quarantine_reason")


def _table(boxes: list[dict]) -> str:
    rows = [TABLE_COLUMNS]
    for b in boxes:
        owner = b["owner"]
        who = f"{owner['pid']}{'' if b['owner_alive'] else ' (dead)'}" if owner else "-"
        rows.append(
            (
                b["box"],
                b["status"],
                b["phase"] or "-",
                who,
                b["locked"],
                b["mounted"],
                b["quarantine_reason"] or "-",
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(TABLE_COLUMNS) - 1)]
    return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(r, widths)) + "  " + str(r[-1]) for r in rows)


def _act(refbox: Refbox, action: str, args, run_parts) -> tuple[dict, int]:
    box = args.box
    if action == "init":
        refbox.init(box)
        return {"action": "init", "box": box, "ok": True, "path": refbox.box_dir(box)}, 0
    if action == "run":
        command, limits, files = run_parts
        result = refbox.run(box, command, limits, files)
        return {"box": box, **result.to_dict()}, 0
    if action == "cleanup":
        outcome = refbox.cleanup(box)
        return {"action": "cleanup", "box": box, **outcome.to_dict()}, 0 if outcome.ok else 1
    if action == "status":
        if box is not None and not args.table:
            return refbox.status(box), 0
        from reliability.refbox.recovery import boxes_present

        numbers = [box] if box is not None else sorted(boxes_present(refbox))
        return {"action": "status", "boxes": [refbox.status(n) for n in numbers]}, 0
    removed = refbox.recover(box)
    return {"action": "recover", "box": box, "ok": True, "removed": removed}, 0


def _run_parts(args) -> tuple[list[str], Limits, dict[str, str]]:
    if not args.command:
        raise UsageError("box run needs a command after --, e.g. reliability box run --box 0 -- /bin/true")
    bounds.check("--time", args.time, 0.001, MAX_SECONDS)
    wall = args.wall_time if args.wall_time is not None else 2 * args.time + 1
    bounds.check("--wall-time", wall, 0.001, 2 * MAX_SECONDS + 1)
    bounds.check("--mem", args.mem, 1, 1024 * 1024)  # MiB: up to 1 TiB
    bounds.check("--processes", args.processes, 1, 100_000)
    bounds.check("--output-limit", args.output_limit, 1, 1024 * 1024 * 1024)  # KiB: up to 1 TiB
    files = {}
    for spec in args.file:
        src, _, name = spec.partition(":")
        name = name or os.path.basename(src)
        if not os.path.isfile(src):
            raise UsageError(f"--file {spec}: {src} is not a readable file")
        if not name or "/" in name or name in (".", ".."):
            raise UsageError(f"--file {spec}: the name in the box must be a plain file name")
        files[src] = name
    _check_program(args.command[0], args.root, args.box, set(files.values()))
    limits = Limits(args.time, wall, args.mem, args.processes, args.output_limit)
    return list(args.command), limits, files


def _check_program(program: str, root: str, box: int, copied: set[str]) -> None:
    """The program must exist where the box will look for it: an absolute path in the jail (the host's
    system directories), a relative one in the box (copied with --file, or already there), a bare name
    on the box's PATH."""
    if os.path.isabs(program):
        found = os.path.isfile(program) and os.access(program, os.X_OK)
    elif "/" in program:
        name = os.path.normpath(program)
        found = name in copied or os.path.isfile(os.path.join(root, str(box), name))
    else:
        found = any(os.access(os.path.join(d, program), os.X_OK) for d in PROGRAM_PATH.split(":"))
    if not found:
        raise UsageError(f"box run: no program {program!r} (not found or not executable)")


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None, prog: str = "refbox") -> int:
    """The box commands alone, same behaviour as the main CLI: `python -m reliability box ...` comes
    here without importing the pipeline, since a CLI sandbox script pays that start-up three times
    per execution (init, run, cleanup)."""
    parser = _OneLineParser(prog=prog)
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return one_line(lambda: args.func(args), prog)


if __name__ == "__main__":
    raise SystemExit(main())
