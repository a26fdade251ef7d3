"""`box init|run|status|cleanup|recover` from the command line: one JSON object, the agreed exit codes."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest
from refbox_fixtures import BOX_B, PID

from reliability.errors import NeedsRoot
from reliability.refbox import cli
from reliability.schemas import errors

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts tmpfs, creates cgroups: needs root")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def refbox_cli(*args: str, entry: str = "reliability.refbox.cli") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", entry, "box", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def where():
    root = tempfile.mkdtemp(prefix=f"refbox-cli-{PID}-")
    os.chmod(root, 0o755)
    flags = ["--root", root, "--cgroup-name", f"refbox-cli-{PID}"]
    try:
        yield flags
    finally:
        refbox_cli("recover", *flags)
        shutil.rmtree(os.path.join(root, ".state"), ignore_errors=True)  # box locks and state.json
        os.rmdir(root)


def test_init_run_status_cleanup_print_one_schema_valid_json_object_each(where):
    box = ["--box", str(BOX_B)]
    init = refbox_cli("init", *box, *where)
    assert init.returncode == 0, init.stderr
    assert json.loads(init.stdout)["ok"] is True

    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as script:
        script.write("echo from file; exit 5\n")
    try:
        run = refbox_cli(
            "run", *box, *where, "--time", "1", "--file", f"{script.name}:s.sh", "--", "sh", "s.sh"
        )
    finally:
        os.unlink(script.name)
    assert run.returncode == 0, run.stderr  # 0 whatever the verdict
    assert len(run.stdout.splitlines()) == 1
    doc = json.loads(run.stdout)
    assert errors("box-result", doc) == []
    assert (doc["verdict"], doc["exit_code"], doc["stdout"], doc["box"]) == ("RE", 5, "from file\n", BOX_B)

    status = refbox_cli("status", *box, *where)
    doc = json.loads(status.stdout)
    assert errors("box-status", doc) == []
    assert doc["mounted"] and doc["cgroup"] and doc["pids"] == []

    cleanup = refbox_cli("cleanup", *box, *where)
    assert cleanup.returncode == 0 and json.loads(cleanup.stdout)["ok"] is True
    assert json.loads(refbox_cli("status", *box, *where).stdout)["mounted"] is False


def test_run_through_the_main_entry_point(where):
    box = ["--box", str(BOX_B)]
    assert refbox_cli("init", *box, *where, entry="reliability").returncode == 0
    run = refbox_cli("run", *box, *where, "--", "python3", "-c", "print(1)", entry="reliability")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert errors("box-result", doc) == [] and doc["verdict"] == "OK"


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--box", "1", "--bogus", "--", "true"],
        ["run", "--box", "1", "--time", "abc", "--", "true"],
        ["run", "--box", "1", "--time", "-1", "--", "true"],
        ["run", "--box", "1"],
        ["run", "--box", "5000", "--", "true"],
        ["run", "--box", "1", "--file", "/no/such/file", "--", "true"],
        ["explode", "--box", "1"],
    ],
    ids=[
        "unknown-flag",
        "bad-number",
        "negative-time",
        "no-command",
        "box-range",
        "missing-file",
        "bad-action",
    ],
)
def test_bad_usage_is_one_line_and_exit_2(args):
    done = refbox_cli(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr


def test_init_failure_is_exit_1_with_the_cause(where):
    blocker = os.path.join(where[1], str(BOX_B))
    with open(blocker, "w"):
        pass
    try:
        done = refbox_cli("init", "--box", str(BOX_B), *where)
    finally:
        os.unlink(blocker)
    assert done.returncode == 1
    doc = json.loads(done.stdout)
    assert doc["ok"] is False and "not a directory" in doc["error"]


def test_not_root_names_the_part_that_needs_root():
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["box", "status", "--box", "1"])
    os.seteuid(65534)
    try:
        with pytest.raises(NeedsRoot, match="box status") as err:
            args.func(args)
    finally:
        os.seteuid(0)
    assert "needs root" in str(err.value)


def test_the_box_commands_start_without_the_pipeline(where):
    """`python -m reliability box ...` (what a CLI sandbox script calls three times per execution)
    imports the refbox alone: neither the pipeline's CLI nor jsonschema (for valid state files)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "reliability", "box", "status", *where],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "reliability.refbox.cli" in imported
    assert not imported & {"reliability.cli", "reliability.stages", "reliability.runner", "jsonschema"}


def test_a_command_on_a_busy_box_waits_its_turn_or_is_refused_with_lock_wait_0(where):
    """Each box command is a process holding the box lock while it works. A cleanup that arrives while
    a run holds it waits for it (a judge's cleanup right after a racing command must not leave the
    box initialised); with --lock-wait 0 it is refused at once, naming the holder."""
    box = ["--box", str(BOX_B)]
    assert refbox_cli("init", *box, *where).returncode == 0
    cmd = [sys.executable, "-m", "reliability.refbox.cli", "box"]
    run = subprocess.Popen(
        # Long enough that the status polls and the refused cleanup, each a CLI start of its own (up to
        # seconds on a loaded host), come while it runs.
        [*cmd, "run", *box, *where, "--wall-time", "10", "--", "sleep", "5"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while json.loads(refbox_cli("status", *box, *where).stdout).get("pids") == []:
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.05)
        refused = refbox_cli("cleanup", *box, *where, "--lock-wait", "0")
        assert refused.returncode == 1 and "busy (held by pid " in json.loads(refused.stdout)["error"]
        waited = refbox_cli("cleanup", *box, *where)
        assert json.loads(run.communicate(timeout=30)[0])["verdict"] == "OK"
    finally:
        run.kill()
        run.wait()
    assert waited.returncode == 0 and json.loads(waited.stdout)["ok"] is True, waited.stdout


def test_with_keep_orphans_a_caller_killed_during_setup_still_leaves_the_program_running(where):
    """The defect keep_orphans (the program outlives a killed CLI, as isolate's does) must show however
    early the CLI dies: here before the supervisor begins to watch the run (held at its execute phase),
    the moment the crash stage kills it. A supervisor that took its caller to be whoever was its parent
    when the watch began would enforce the limit and hide the defect."""
    box = ["--box", str(BOX_B)]
    assert refbox_cli("init", *box, *where).returncode == 0
    # Held 3 s at execute: the status polls (each a CLI start) must see the box and kill the CLI before
    # the watch begins, however loaded the host.
    env = dict(os.environ, REFBOX_FAILPOINTS="defect.keep_orphans,phase.execute=delay:3000")
    cmd = [sys.executable, "-m", "reliability.refbox.cli", "box", "run", *box, *where]
    run = subprocess.Popen([*cmd, "--time", "1", "--wall-time", "1", "--", "sleep", "300"], cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 20
        while not (pids := json.loads(refbox_cli("status", *box, *where).stdout).get("pids")):
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.02)
        run.kill()
        run.wait()
        time.sleep(4.5)  # past the delay and the 1 s wall limit a live supervisor would have enforced
        assert all(os.path.exists(f"/proc/{pid}") for pid in pids), pids
    finally:
        run.kill()
        run.wait()
