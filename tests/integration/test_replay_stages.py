"""`reliability replay RUN INDEX` for every stage: the stage runs again narrowed to that submission, so
its fault around the execution (killed supervisor, failing cleanup step, damaged state, full disk,
hostile plants) is entered again for the case the submission carries; histories of another target or
pipeline version are refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from reliability.history import read
from reliability.stages import get
from tests.described_box import reliability as cli

REPO = Path(__file__).resolve().parents[2]
PID = os.getpid()
BOX = 560 + (PID % 20) * 4

pytestmark = pytest.mark.root


@pytest.fixture
def work():
    path = Path(tempfile.mkdtemp(prefix=f"replay-{PID}-"))
    os.chmod(path, 0o755)
    (path / "boxes").mkdir(mode=0o755)
    try:
        yield path
    finally:
        subprocess.run(
            [sys.executable, "-m", "reliability", "box", "recover", "--all", "--root", str(path / "boxes"),
             "--cgroup-name", f"replay-{PID}"],
            env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True,
        )  # fmt: skip
        shutil.rmtree(path, ignore_errors=True)


def recorded(stage: str, work: Path, *sizes: str) -> Path:
    proc = cli(
        "run", stage, "--profile", "smoke", "--seed", "4", *sizes, "--box-base", str(BOX),
        "--target-option", f"box_root={work / 'boxes'}", "--target-option", f"cgroup_name=replay-{PID}",
        "--runs", str(work / "runs"), "--reports", str(work / "reports"), cwd=work,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    return next((work / "runs").glob(f"{stage}-*"))


@pytest.mark.parametrize(
    "stage, sizes",
    [
        ("crash", ("--iterations", "1")),
        ("faults", ("--iterations", "1")),
        ("state", ("--iterations", "1")),
        ("exhaustion", ("--iterations", "1")),
        ("isolation", ("--iterations", "1")),
        ("stress", ("--submissions", "3")),
        ("leaks", ("--iterations", "2")),
        ("concurrent", ("--submissions", "3", "--concurrency", "2")),
        ("locks", ("--iterations", "2", "--concurrency", "2")),
    ],
)
def test_replay_enters_the_stage_case_again(stage, sizes, work):
    run_dir = recorded(stage, work, *sizes)
    original = read(run_dir)
    index = 1 if 1 in original.submissions else 0
    proc = cli("replay", str(run_dir), str(index), cwd=work)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    out = json.loads(proc.stdout[proc.stdout.index("\n{\n") + 1 :])  # after the replay's own summary
    again = read(work / out["replay"])  # relative to the working directory, or absolute
    assert list(again.submissions) == [index]
    assert original.cases == get(stage).cases  # the stage's case list, recorded for the checks
    first = original.submissions[index]
    has_cases = stage not in ("stress", "leaks", "concurrent", "locks")
    assert (first.case != "") == has_cases  # the case travels in the submission
    replayed = again.submissions[index]
    assert (replayed.program, replayed.case) == (first.program, first.case)
    # every event the recorded run wrote about this execution, the replay writes too: the same fault,
    # entered for the same case (a crash event's phase, a cleanup fault's step, a damage's case)
    recorded_events = about(original, index)
    assert recorded_events <= about(again, index), recorded_events
    assert all(case in ("", first.case) for _, _, case in recorded_events), recorded_events
    assert out["result"] is not None


def about(history, index: int) -> set[tuple[str, str, str]]:
    """(type, label, case) of each event about execution `index`, top-level or in its evidence."""
    found = set()
    for e in history.events:
        ev = e.get("evidence", {})
        if index in (e.get("index"), ev.get("index")):
            found.add(
                (e["type"], e.get("label", ""), e.get("phase") or ev.get("step") or ev.get("case") or "")
            )
    return found


def test_replay_refuses_another_target_and_another_pipeline_version(work):
    run_dir = recorded("stress", work, "--submissions", "1")
    proc = cli("replay", str(run_dir), "0", "--target", "isolate", cwd=work)
    assert proc.returncode == 2 and "recorded against target builtin, not isolate" in proc.stderr
    lines = (run_dir / "history.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["pipeline_version"] = "0.0.1"
    (run_dir / "history.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    proc = cli("replay", str(run_dir), "0", cwd=work)
    assert proc.returncode == 2 and "recorded by pipeline 0.0.1" in proc.stderr, proc.stderr
