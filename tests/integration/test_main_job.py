"""The main job end to end, as an operator runs it: `reliability run stress leaks --profile smoke`.

Real boxes, real programs in three languages, real snapshots; then the gate, `report` on the history
alone, `report` on a history cut mid-line, and the one-line errors for bad input.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from contextlib import redirect_stderr
from pathlib import Path

import pytest

from reliability import cli, execute, stages  # noqa: F401  (imported before a privilege drop in a test)
from reliability.targets.builtin import BuiltinTarget

REPO = Path(__file__).resolve().parents[2]


def _reliability(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "reliability", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def smoke_run():
    # Not under pytest's tmp_path: box uids must be able to reach the box, and /tmp/pytest-of-root is 0700.
    work = Path(tempfile.mkdtemp(prefix=f"main-job-{os.getpid()}-"))
    boxes = work / "boxes"
    boxes.mkdir()
    os.chmod(work, 0o755)
    os.chmod(boxes, 0o755)
    box_base = 300 + os.getpid() % 200
    try:
        yield work, _smoke(work, boxes, box_base)
    finally:
        # Should the run have failed half-way, recover --all removes what it left.
        BuiltinTarget(box_root=str(boxes), cgroup_name=f"refbox-mainjob-{os.getpid()}").recover()
        shutil.rmtree(work, ignore_errors=True)


def _smoke(work: Path, boxes: Path, box_base: int) -> subprocess.CompletedProcess:
    return _reliability(
        "run",
        "stress",
        "leaks",
        "--profile",
        "smoke",
        "--seed",
        "7",
        "--box-base",
        str(box_base),
        "--target-option",
        f"box_root={boxes}",
        "--target-option",
        f"cgroup_name=refbox-mainjob-{os.getpid()}",
        cwd=work,
    )


def test_smoke_run_passes_and_prints_a_summary(smoke_run):
    work, proc = smoke_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "== stress: PASSED (seed 7" in proc.stdout
    assert "== leaks: PASSED (seed 7" in proc.stdout
    assert "stress: " in proc.stderr and "seed 7" in proc.stderr  # the seed is printed at the start


def test_reports_have_testcases_and_the_gate_passes(smoke_run):
    work, _ = smoke_run
    for stage in ("stress", "leaks"):
        suite = ET.parse(work / "reports" / f"{stage}.xml").getroot().find("testsuite")
        cases = suite.findall("testcase")
        assert len(cases) >= 10
        assert not [c for c in cases if c.find("failure") is not None or c.find("error") is not None]
        names = {c.get("name") for c in cases}
        assert {"all verdicts correct", "no leaked processes", "no leaked mounts", "no zombies"} <= names
    gate = _reliability("gate", "reports", "--expect", "stress,leaks", cwd=work)
    assert gate.returncode == 0, gate.stdout
    assert "gate: PASSED" in gate.stdout


def test_the_run_leaves_no_box_mount_cgroup_or_dir(smoke_run):
    work, _ = smoke_run
    boxes = work / "boxes"
    assert [p.name for p in boxes.iterdir()] == [".state"]  # the boxes' locks and state files stay
    assert str(boxes) not in Path("/proc/self/mountinfo").read_text()
    name = f"refbox-mainjob-{os.getpid()}"
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        assert not (hierarchy / name).exists(), f"{hierarchy / name} left after the run"


def test_report_rederives_the_same_verdict_from_the_history_alone(smoke_run, tmp_path):
    work, _ = smoke_run
    run_dir = next((work / "runs").glob("stress-*"))
    proc = _reliability("report", str(run_dir), "--reports", str(tmp_path), cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "== stress: PASSED (seed 7" in proc.stdout
    assert (tmp_path / "stress.xml").is_file()


def test_report_on_a_history_cut_mid_line_says_the_run_was_cut_short(smoke_run, tmp_path):
    work, _ = smoke_run
    run_dir = next((work / "runs").glob("leaks-*"))
    cut = tmp_path / "cut"
    cut.mkdir()
    data = (run_dir / "history.jsonl").read_bytes()
    (cut / "history.jsonl").write_bytes(data[: len(data) - 40])  # the stage_end line, cut mid-line
    proc = _reliability("report", str(cut), "--reports", str(tmp_path / "reports"), cwd=work)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "[FAIL] run finished" in proc.stdout
    gate = _reliability("gate", str(tmp_path / "reports"), cwd=work)
    assert gate.returncode == 1


@pytest.mark.parametrize(
    "args, words",
    [
        (["run", "nosuchstage", "--profile", "smoke"], "unknown stage 'nosuchstage'"),
        (["run", "stress", "--profile", "huge"], "invalid choice: 'huge'"),
        (["run", "stress", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["run", "stress", "--concurrency", "0"], "--concurrency must be from 1 to"),
        (["report", "/nonexistent/run"], "no such run directory"),
        (["replay", "/nonexistent/run", "3"], "no history at /nonexistent/run"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, words):
    proc = _reliability(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_report_on_a_corrupt_history_is_exit_2(tmp_path):
    (tmp_path / "history.jsonl").write_text('{"seq": 0, "t": 1.0, "type": "stage_start"}\nnot json\n{}\n')
    proc = _reliability("report", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_without_root_the_error_names_what_needs_root():
    # Import everything now: the interpreter's own files need not be readable by nobody.
    stages.all_stages()
    cli.build_parser()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # a real unprivileged process: the modules are already imported above
        code = 99
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            err = io.StringIO()
            with redirect_stderr(err):
                code = cli.main(["run", "stress", "--profile", "smoke"])
            os.write(write_end, err.getvalue().encode())
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as f:
        message = f.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 2
    assert message.strip().splitlines() == [
        "reliability: error: the built-in sandbox (tmpfs box mounts, cgroups, box uids) needs root "
        "(run as root or with sudo)"
    ]
