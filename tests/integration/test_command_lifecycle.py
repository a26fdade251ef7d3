"""A described sandbox's `start` and `stop` commands (HasLifecycle): run around a stage's runs, after the
host snapshot before them and before the one after, so a resident part of the sandbox (the refbox's
server) is never taken for a leak; a start that fails stops the stage in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from stage_runs import smoke_options

from reliability.errors import UsageError
from reliability.execute import execute
from reliability.history import read
from reliability.stages import get
from reliability.targets import load
from reliability.targets.capabilities import HasLifecycle, capability
from tests.dir_target import dir_target

REPO = Path(__file__).resolve().parents[2]


def stamping(tmp_path: Path, **commands) -> dict:
    """Extra commands that append "KEY TIME" to tmp_path/log when run."""
    log = tmp_path / "log"
    stamp = 'echo "$0 $(date +%s.%N)" >> ' + str(log)
    return {key: ["sh", "-c", stamp + (f"; {tail}" if tail else ""), key] for key, tail in commands.items()}


def lifecycle_target(tmp_path: Path, **commands):
    """A sandbox of plain directories whose runs do nothing (`true`), with the given start/stop commands."""
    doc_commands = stamping(tmp_path, **commands)
    target = dir_target(tmp_path, "lifecycle", run=["true", "{command}"], cleanup=["rm", "-rf", "{box_dir}"])
    doc = yaml.safe_load((tmp_path / "lifecycle.yml").read_text())
    doc["commands"].update(doc_commands)
    (tmp_path / "lifecycle.yml").write_text(yaml.safe_dump(doc))
    target.close()
    return load(str(tmp_path / "lifecycle.yml"))


def logged(tmp_path: Path) -> list[tuple[str, float]]:
    log = tmp_path / "log"
    if not log.exists():
        return []
    return [(key, float(t)) for key, t in (line.split() for line in log.read_text().splitlines())]


def test_start_and_stop_run_their_commands_and_a_file_without_them_has_nothing_to_run(tmp_path):
    target = lifecycle_target(tmp_path, start="", stop="")
    life = capability(target, HasLifecycle)
    assert life is not None
    life.start()
    life.stop()
    assert [key for key, _ in logged(tmp_path)] == ["start", "stop"]
    (tmp_path / "bare").mkdir()
    bare = dir_target(tmp_path / "bare", "bare", run=["true", "{command}"], cleanup=["true"])
    capability(bare, HasLifecycle).start()  # no start command: nothing run, no error
    capability(bare, HasLifecycle).stop()


def test_a_failing_start_is_one_line_and_a_failing_stop_a_warning(tmp_path, capsys):
    target = lifecycle_target(tmp_path, start="echo no server here >&2; exit 3", stop="exit 4")
    with pytest.raises(
        UsageError, match="target lifecycle: its start command failed: sh exited 3: no server here"
    ):
        target.start()
    target.stop()
    assert "warning: target lifecycle: its stop command failed: sh exited 4" in capsys.readouterr().err


def test_a_start_command_naming_a_box_is_refused(tmp_path):
    target = lifecycle_target(tmp_path)
    doc = yaml.safe_load((tmp_path / "lifecycle.yml").read_text())
    doc["commands"]["start"] = ["mkdir", "{box_dir}"]
    (tmp_path / "lifecycle.yml").write_text(yaml.safe_dump(doc))
    target.close()
    with pytest.raises(UsageError, match=r"commands/start/1: unknown placeholder \{box_dir\}"):
        load(str(tmp_path / "lifecycle.yml"))


def test_the_stage_starts_the_sandbox_after_the_snapshot_before_and_stops_it_before_the_one_after(tmp_path):
    target = lifecycle_target(tmp_path, start="", stop="")
    target.close()
    opts = smoke_options(
        tmp_path, str(tmp_path / "lifecycle.yml"), {"submissions": 2, "concurrency": 1}, 0, 1
    )
    execute(get("stress"), opts)
    history = read(next((tmp_path / "runs").glob("stress-*")))
    snapshots = {e["label"]: e["snapshot"]["taken_at"] for e in history.of_type("snapshot")}
    runs = [e["t"] for e in history.of_type("result")]
    (start, started), (stop, stopped) = logged(tmp_path)
    assert (start, stop) == ("start", "stop")
    assert snapshots["before"] < started < min(runs) and max(runs) < stopped < snapshots["after"]


def test_the_stage_ends_in_one_line_when_the_start_command_fails(tmp_path):
    lifecycle_target(tmp_path, start="echo cannot start >&2; exit 3").close()
    done = subprocess.run(
        [sys.executable, "-m", "reliability", "run", "stress", "--profile", "smoke", "--target",
         str(tmp_path / "lifecycle.yml"), "--runs", str(tmp_path / "runs"), "--reports", str(tmp_path / "reports")],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "reliability: error: target lifecycle: its start command failed: sh exited 3: cannot start"
    )
    assert "Traceback" not in done.stderr


def test_target_check_reports_a_failing_start_as_a_failed_live_run(tmp_path):
    lifecycle_target(tmp_path, start="echo cannot start >&2; exit 3").close()
    done = subprocess.run(
        [sys.executable, "-m", "reliability", "target", "check", str(tmp_path / "lifecycle.yml")],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "start: FAILED: target lifecycle: its start command failed: sh exited 3: cannot start" in done.stdout
    )
