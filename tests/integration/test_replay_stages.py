"""`reliability replay RUN INDEX` for every stage: the stage runs again narrowed to that submission, so
its fault around the execution (killed supervisor, failing cleanup step, damaged state, full disk,
hostile plants) is entered again for the case the submission carries; histories of another target or
pipeline version are refused."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from reliability.analyze import analyze
from reliability.checks import crash, exhaustion, faults, isolation, leaks, locks, state, verdicts
from reliability.history import read
from reliability.refbox import failpoints
from reliability.refbox.box import FIRST_UID
from reliability.refbox.recovery import processes_with_uids
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
        # what defect.leak_process left outside the box cgroups, which recover does not look for
        for pid in processes_with_uids({FIRST_UID + BOX + i for i in range(4)}):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(path, ignore_errors=True)


def recorded(stage: str, work: Path, *sizes: str) -> Path:
    proc = cli(
        "run", stage, "--profile", "smoke", "--seed", "4", *sizes, "--box-base", str(BOX),
        "--target-option", f"box_root={work / 'boxes'}", "--target-option", f"cgroup_name=replay-{PID}",
        "--runs", str(work / "runs"), "--reports", str(work / "reports"), cwd=work,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    return next((work / "runs").glob(f"{stage}-*"))


# stage -> (sizes, the defect switched on, the execution to replay, the check it must fail)
FAILING = {
    "crash": (("--iterations", "1"), "wrong_verdict", lambda s: s.case == "execute", crash.HEALTHY),
    "faults": (("--iterations", "1"), "claim_cleanup_success", lambda s: s.case == "reap", faults.REPORTED),
    "state": (("--iterations", "1"), "trust_state", lambda s: s.case == "corrupt_json", state.DETECTED),
    "exhaustion": (
        ("--iterations", "1"),
        "wrong_verdict",
        lambda s: s.case == "many_fds",
        exhaustion.CASES["many_fds"],
    ),
    "isolation": (
        ("--iterations", "1"),
        "allow_namespaces",
        lambda s: s.case == "namespace_user",
        isolation.check_name("namespace_user"),
    ),
    "stress": (("--submissions", "6"), "wrong_verdict", lambda s: s.expected == "OK", verdicts.NAME),
    "leaks": (("--iterations", "2"), "leak_process", lambda s: s.index == 1, leaks.KINDS["processes"]),
    "concurrent": (
        ("--submissions", "6", "--concurrency", "2"),
        "wrong_verdict",
        lambda s: s.expected == "OK",
        verdicts.NAME,
    ),
    # the stale-lock sub-case runs on the host fixture's exit, after whichever execution is replayed
    "locks": (("--iterations", "2", "--concurrency", "2"), "ignore_stale_lock", lambda s: True, locks.STALE),
}


@pytest.mark.parametrize("stage", sorted(FAILING))
def test_replay_of_a_failing_execution_fails_the_same_way(stage, work, monkeypatch):
    """A defect of the built-in sandbox switched on for the recording and the replay: the replayed
    execution is one the recorded run failed on, and the replay fails the same check again."""
    sizes, defect, pick, check = FAILING[stage]
    monkeypatch.setenv(failpoints.ENV, f"defect.{defect}")
    run_dir = recorded(stage, work, *sizes)
    original = read(run_dir)
    assert check in failed_checks(run_dir), f"{defect} did not fail {check!r} in the recorded run"
    index = next(i for i, s in sorted(original.submissions.items()) if pick(s))
    proc = cli("replay", str(run_dir), str(index), cwd=work)
    assert proc.returncode == 1, proc.stderr[-2000:]  # the replay fails, as the recorded run did
    out = json.loads(proc.stdout[proc.stdout.index("\n{\n") + 1 :])  # after the replay's own summary
    assert check in out["failed_checks"], out["failed_checks"]
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


def failed_checks(run_dir: Path) -> set[str]:
    return {c.name for c in analyze(run_dir).checks if c.status == "failed"}


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
