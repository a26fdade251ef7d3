"""`reliability box serve` and its client (refbox/server.py, boxclient.c): a command through the server
answers as the CLI does, a client killed is a command killed, and without a server the client is the CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest
from refbox_fixtures import BOX_A, BOX_B, PID, wait_until

from reliability.probes.proc_stat import process_stat
from reliability.refbox import boxinit_build
from reliability.refbox.box import Refbox
from reliability.refbox.recovery import processes_with_uids

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts tmpfs, creates cgroups: needs root")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, PYTHONPATH=REPO)


def box(*args: str, **kw) -> subprocess.CompletedProcess:
    """`python -m reliability box ARGS`: the CLI."""
    return subprocess.run(
        [sys.executable, "-m", "reliability", "box", *args],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        **kw,
    )


@pytest.fixture
def where():
    """(box flags, server directory): a box root and cgroup of their own, a server started on them."""
    if boxinit_build.client_path() is None:
        pytest.skip("no C compiler: the client cannot be built, and the script runs the CLI")
    root = tempfile.mkdtemp(prefix=f"refbox-serve-{PID}-")
    os.chmod(root, 0o755)
    flags = ["--root", root, "--cgroup-name", f"refbox-serve-{PID}"]
    serve_dir = root + ".serve"
    started = box("serve", "--dir", serve_dir)
    assert started.returncode == 0, started.stderr
    try:
        yield flags, serve_dir
    finally:
        box("serve", "--dir", serve_dir, "--stop")
        box("recover", *flags)
        shutil.rmtree(root, ignore_errors=True)


def client(serve_dir: str, *args: str, **kw) -> subprocess.CompletedProcess:
    """The same command through the server's client."""
    return subprocess.run(
        [os.path.join(serve_dir, "client"), os.path.join(serve_dir, "socket"), sys.executable, *args],
        **{"env": ENV, **kw},
        capture_output=True,
        text=True,
        timeout=60,
    )


def workers(server: int) -> list[int]:
    """The server's children now: one worker per command in flight."""
    out = []
    for tid in os.listdir(f"/proc/{server}/task"):
        with open(f"/proc/{server}/task/{tid}/children") as f:
            out += [int(c) for c in f.read().split()]
    return out


def server_pid(serve_dir: str) -> int:
    with open(os.path.join(serve_dir, "pid")) as f:
        return int(f.read())


def test_commands_through_the_server_answer_as_the_cli_does(where):
    flags, serve_dir = where
    b = ["--box", str(BOX_A)]
    for call in (client, lambda _, *a: box(*a)):
        init = call(serve_dir, "init", *b, *flags)
        assert (init.returncode, json.loads(init.stdout)["ok"]) == (0, True), init.stderr
        run = call(serve_dir, "run", *b, *flags, "--time", "1", "--", "/bin/sh", "-c", "echo out; exit 3")
        doc = json.loads(run.stdout)
        assert (run.returncode, doc["verdict"], doc["exit_code"], doc["stdout"]) == (0, "RE", 3, "out\n")
        cleanup = call(serve_dir, "cleanup", *b, *flags)
        assert (cleanup.returncode, json.loads(cleanup.stdout)["ok"]) == (0, True), cleanup.stderr
    # Bad usage: the same one line on stderr and exit code 2, from the worker as from the CLI.
    bad = ("run", *b, *flags, "--time", "-1", "--", "/bin/true")
    through, direct = client(serve_dir, *bad), box(*bad)
    assert direct.returncode == 2 and direct.stderr.count("\n") == 1
    assert (through.returncode, through.stdout, through.stderr) == (2, "", direct.stderr)
    # The worker has the client's environment and working directory, not the server's.
    with tempfile.TemporaryDirectory() as cwd:
        with open(os.path.join(cwd, "prog.sh"), "w") as f:
            f.write("echo from the client directory\n")
        env = dict(ENV, REFBOX_FAILPOINTS="defect.wrong_verdict")
        assert client(serve_dir, "init", *b, *flags).returncode == 0
        run = client(
            serve_dir, "run", *b, *flags, "--file", "prog.sh", "--", "sh", "prog.sh", cwd=cwd, env=env
        )
        doc = json.loads(run.stdout)
        # The defect the client's environment asked for (an OK run reported as RE), on the file it named.
        assert (doc["verdict"], doc["message"], doc["stdout"]) == (
            "RE",
            "defect.wrong_verdict",
            "from the client directory\n",
        ), doc
        assert client(serve_dir, "cleanup", *b, *flags).returncode == 0


def ended(pid: int, starttime: int) -> bool:
    """Process `pid` (started at `starttime`) is gone: no such process now, a zombie, or another one."""
    st = process_stat(pid)
    return st is None or st["starttime"] != starttime or st["state"] in ("Z", "X")


def test_a_killed_client_is_a_killed_command_and_a_forwarded_signal_is_delivered(where):
    flags, serve_dir = where
    b = ["--box", str(BOX_B)]
    server = server_pid(serve_dir)
    argv = [os.path.join(serve_dir, "client"), os.path.join(serve_dir, "socket"), sys.executable]
    # The program would run for a minute: a worker that ends within the wait below was ended.
    run = ["run", *b, *flags, "--time", "60", "--wall-time", "60", "--", "/bin/sleep", "60"]
    for sig in (signal.SIGKILL, signal.SIGINT):
        assert client(serve_dir, "init", *b, *flags).returncode == 0
        proc = subprocess.Popen(
            [*argv, *run], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        wait_until(lambda: processes_with_uids({Refbox.uid(BOX_B)}), "the program running in the box")
        (worker,) = workers(server)
        start = process_stat(worker)["starttime"]
        proc.send_signal(sig)
        proc.wait(timeout=30)
        wait_until(lambda w=worker, t=start: ended(w, t), "the worker's end")
        assert not workers(server)
        # The cleanup kills the program, as after a killed CLI; then the orphaned supervisor, which
        # holds the client's output as a killed CLI's would, ends and lets the output be read.
        assert box("cleanup", *b, *flags).returncode == 0
        _, err = proc.communicate(timeout=30)
        if sig == signal.SIGKILL:  # the server saw its client's end and killed the worker
            assert proc.returncode == -signal.SIGKILL
        else:  # forwarded: the worker's CLI was interrupted, and its exit code is the client's
            assert (proc.returncode, err.strip()) == (130, "reliability: interrupted")


def test_without_a_server_the_client_runs_the_cli_and_stop_removes_the_server(where):
    flags, serve_dir = where
    server = server_pid(serve_dir)
    again = box("serve", "--dir", serve_dir)  # one server per directory: a second start finds it
    assert (again.returncode, json.loads(again.stdout)["pid"], json.loads(again.stdout)["started"]) == (
        0,
        server,
        False,
    )
    link = os.readlink(os.path.join(serve_dir, "client"))
    stopped = box("serve", "--dir", serve_dir, "--stop")
    assert (stopped.returncode, json.loads(stopped.stdout)["stopped"]) == (0, server)
    assert process_stat(server) is None or process_stat(server)["state"] in ("Z", "X")
    assert not os.path.exists(serve_dir)
    # The client with no server: the CLI, same answer (here a box status).
    status = subprocess.run(
        [link, os.path.join(serve_dir, "socket"), sys.executable, "status", "--box", str(BOX_A), *flags],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout) == json.loads(box("status", "--box", str(BOX_A), *flags).stdout)


def test_a_server_that_cannot_start_says_why_in_one_line(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)  # anyone could put a `client` there, which the script would run as root
    for where, why in ((blocked / "serve", "Not a directory"), (shared, "not a directory of ours alone")):
        done = box("serve", "--dir", str(where))
        assert done.returncode == 1, done.stderr
        doc = json.loads(done.stdout)
        assert doc["ok"] is False and why in doc["error"], doc
    assert not (shared / "socket").exists()


def test_stopping_a_server_lets_the_command_in_flight_finish(where):
    flags, serve_dir = where
    b = ["--box", str(BOX_A)]
    assert client(serve_dir, "init", *b, *flags).returncode == 0
    argv = [os.path.join(serve_dir, "client"), os.path.join(serve_dir, "socket"), sys.executable]
    proc = subprocess.Popen(
        [*argv, "run", *b, *flags, "--time", "3", "--", "/bin/sleep", "1"],
        env=ENV,
        stdout=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: workers(server_pid(serve_dir)), "the command in flight")
    link = os.readlink(argv[0])
    began = time.monotonic()
    assert box("serve", "--dir", serve_dir, "--stop").returncode == 0
    out, _ = proc.communicate(timeout=30)
    assert (proc.returncode, json.loads(out)["verdict"]) == (0, "OK")
    assert time.monotonic() - began < 10
    cleanup = subprocess.run([link, *argv[1:], "cleanup", *b, *flags], env=ENV)
    assert cleanup.returncode == 0  # the CLI now, through the client
