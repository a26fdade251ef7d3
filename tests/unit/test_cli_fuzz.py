"""A property-based fuzz of the whole command line: every subcommand and every option (read from the
real parser), with values from the numbers, names and paths that broke it before. Each argv runs for
real (in process; `box` commands in a process of their own, as their box locks last as long as the
process): no traceback, an exit code in {0, 1, 2}, no hang past a bound, and no file changed outside the
output directories the argv names.

What keeps a real run from starting, or from reaching other people's boxes: every box is claimed by
this test (real flocks, in a claims directory of its own), so a `run` that passes validation is refused
by the collision check, as a second pipeline would be; box commands get this test's box root, cgroup
name and a pid-derived box; fleet commands an inventory that does not exist (a real one would reach
hosts over ssh).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from synthetic_history import HistoryBuilder, clean_runs

from reliability import box_claims, cli
from reliability.refbox.box import MAX_BOXES

pytestmark = pytest.mark.root  # box commands mount and make cgroups for real

PID = os.getpid()
BOX = 420 + PID % 60  # box numbers (uids) apart from other testers'
BOUND_S = 30  # one argv: a hang guard, not a timing assertion
BOX_CLI = [sys.executable, "-m", "reliability"]
BOX_ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}  # this checkout

INTS = ["0", "1", "-1", "2", "7", "65536", "999", "1000", "100000", "100000000000000000000", "x", "1.5"]
FLOATS = ["nan", "inf", "-inf", "0", "-3", "0.5", "1", "1e12", "1e308", "x"]
TEXTS = [
    "",
    "x",
    "stress",
    "stress,leaks",
    "../../evil",
    "a b",
    "é",
    "-",
    "9bad",
    "smoke",
    "quota_mb=8",
    "a=b",
]


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, sub in subs[0].choices.items():
        yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands(cli.build_parser()))


class Place:
    def __init__(self, root: Path):
        self.root = root
        self.inputs = root / "in"
        self.out = root / "out"
        self.cwd = root / "cwd"
        for d in (self.inputs / "dir", self.out, self.cwd):
            d.mkdir(parents=True)
        (self.inputs / "binary.yml").write_bytes(bytes(range(256)) * 8)
        (self.inputs / "garbage.yml").write_text("{[: not yaml\n")
        (self.inputs / "text").write_text("hello\n")
        b = clean_runs(HistoryBuilder(root / "history"))  # a run: `report` may write into it
        b.end()
        b.journal.close()
        self.run_dir = str(b.run_dir)
        self.boxes = root / "boxes"
        self.boxes.mkdir(mode=0o755)
        self.boxes.chmod(0o755)
        self.cgroup = f"fuzz-{PID}"

    def values(self, dest: str, kind):
        inputs = [str(self.inputs / n) for n in ("binary.yml", "garbage.yml", "text", "dir", "nope")]
        by_dest = {
            "box": [str(BOX), "-1", str(MAX_BOXES), "99999999999", "x"],
            "index": ["0", "1", "-1", "99999", "x"],
            "stages": ["stress", "leaks", "nosuch", "crash"],
            "run_dir": [self.run_dir, *inputs],
            "resume": [self.run_dir, *inputs],
            "reports_dir": [str(self.out), *inputs],
            "file": ["isolate", "rustbox", *inputs],
            "target": ["builtin", "isolate", "rustbox", "nosuch", *inputs],
            "runs": [str(self.out / "runs"), str(self.inputs / "text")],
            "reports": [str(self.out / "reports"), str(self.inputs / "text")],
            "html": [str(self.out / "page.html"), str(self.out)],
            "merged": [str(self.out / "merged.xml")],
            "summary": [str(self.out / "summary.md"), str(self.inputs / "nope" / "summary.md")],
            "command": ["/bin/true", "/nonexistent/prog", "./missing", "true", "no-such-command"],
            "pushgateway": ["http://127.0.0.1:9", "not a url"],
            "target_option": [
                "quota_mb=8",
                "quota_mb=x",
                "cgroup_name=../x",
                "nosuch=1",
                "noequals",
                "box_root=rel",
            ],
            "run_args": ["--profile", "smoke", "--nosuch"],
        }
        if dest in by_dest:
            return by_dest[dest]
        return {int: INTS, float: FLOATS}.get(kind, TEXTS + inputs[:2])

    def forced(self, path: tuple[str, ...]) -> list[str]:
        """Options that keep the argv on this test's own boxes, paths and hosts (given last: they win)."""
        if path == ("box", "serve"):  # stop only: a server started here would outlive the argv
            return ["--dir", f"{self.boxes}.serve", "--stop"]
        if path[0] == "box":
            return ["--root", str(self.boxes), "--cgroup-name", self.cgroup]
        if path[0] in ("run", "replay"):
            return [
                "--target-option",
                f"box_root={self.boxes}",
                "--target-option",
                f"cgroup_name={self.cgroup}",
            ]
        if path[0] == "fleet":
            return ["-i", str(self.inputs / "no-inventory")]
        return []


def argv_for(place: Place, draw, path: tuple[str, ...]) -> list[str]:
    parser = COMMANDS[path]
    options, positionals = [], []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        pool = place.values(action.dest, action.type)
        if action.option_strings:
            if not draw(st.sampled_from((True, False, False))):  # a third each: most argvs get deep
                continue
            flag = draw(st.sampled_from(action.option_strings))
            if action.nargs == 0:
                options.append(flag)
            elif action.nargs == "?" and draw(st.booleans()):
                options.append(flag)
            else:
                for _ in range(draw(st.integers(1, 2)) if isinstance(action, argparse._AppendAction) else 1):
                    options += [flag, draw(st.sampled_from(pool))]
        elif action.dest != "command" and (action.nargs not in ("*", "?") or draw(st.booleans())):
            count = draw(st.integers(1, 2)) if action.nargs == "*" else 1
            positionals += [draw(st.sampled_from(pool)) for _ in range(count)]
    argv = [*path, *positionals, *options, *place.forced(path)]
    if path == ("box", "run") and draw(st.booleans()):
        argv += ["--", draw(st.sampled_from(place.values("command", None)))]
    return argv


def tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if not p.is_symlink()}


def but_the_release_page(files: dict[str, tuple[int, int]], argv: list[str]) -> dict[str, tuple[int, int]]:
    """`report --release DIR` writes DIR/release.html: DIR is an output the argv names, for that file."""
    if argv[:1] != ["report"] or "--release" not in argv:
        return files
    return {p: v for p, v in files.items() if p not in (argv[1], f"{argv[1]}/release.html")}


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    p = Place(tmp_path_factory.mktemp("fuzz"))
    claims = tmp_path_factory.mktemp("claims")
    saved = box_claims.CLAIMS_DIR
    box_claims.CLAIMS_DIR = str(claims)
    held = []
    for target in ("builtin", "refbox-script"):  # every box of every target a run could load here
        (claims / target).mkdir()
        for box in range(MAX_BOXES):
            fd = os.open(claims / target / f"box-{box}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
            held.append(fd)
    old_cwd = os.getcwd()
    os.chdir(p.cwd)
    try:
        yield p
    finally:
        os.chdir(old_cwd)
        for fd in held:
            os.close(fd)
        box_claims.CLAIMS_DIR = saved
        done = subprocess.run(
            [*BOX_CLI, "box", "recover", "--all", "--root", str(p.boxes), "--cgroup-name", p.cgroup],
            capture_output=True,
            text=True,
            env=BOX_ENV,
        )
        left = [
            line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(p.boxes) in line
        ]
        assert done.returncode == 0 and not left, (done.stdout, done.stderr, left)


class Hang(Exception):
    pass


def run_bounded(argv: list[str]) -> tuple[int, str]:
    if argv[0] == "box":
        try:
            done = subprocess.run(
                [*BOX_CLI, *argv], capture_output=True, text=True, timeout=BOUND_S, env=BOX_ENV
            )
        except subprocess.TimeoutExpired:
            raise Hang(f"no answer within {BOUND_S} s: {argv}") from None
        return done.returncode, done.stderr

    def alarm(signum, frame):
        raise Hang(f"no answer within {BOUND_S} s: {argv}")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(BOUND_S)
    err = io.StringIO()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv)
            except SystemExit as exc:  # argparse: usage errors (2) and --help (0)
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return code, err.getvalue()


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)
@given(data=st.data())
def test_every_command_and_option_answers_without_traceback_or_stray_files(place, data):
    path = data.draw(st.sampled_from(sorted(COMMANDS)), label="command")
    argv = argv_for(place, data.draw, path)
    note_argv = " ".join(argv)
    kept = tree(place.inputs)
    outside = {p for p in tree(place.root) if not p.startswith((str(place.out), str(place.boxes)))}
    outside |= {str(place.cwd / d) for d in ("runs", "reports")}  # a run's default dirs
    code, err = run_bounded(argv)
    event(f"{' '.join(path)} -> {code}")
    assert code in (0, 1, 2), (note_argv, code, err)
    assert "Traceback" not in err and "No module named" not in err, (note_argv, err)
    # the run dir's own re-derived reports aside
    assert but_the_release_page(tree(place.inputs), argv) == but_the_release_page(kept, argv), note_argv
    new = {
        p
        for p in but_the_release_page(tree(place.root), argv)
        if not p.startswith((str(place.out), str(place.boxes)))
    } - outside
    assert not {p for p in new if not p.startswith(place.run_dir)}, (note_argv, new)
