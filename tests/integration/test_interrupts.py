"""Interrupts and collisions, with real pipelines and real signals: a second pipeline on the same boxes
is refused before its first execution; Ctrl-C once and twice leave the host as it was (or say exactly
what is left); kill -9 of the pipeline with executions in flight, then --resume, ends what the dead
pipeline left (found by the run's id), recovers its boxes and passes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from reliability import run_processes
from reliability.analyze import analyze
from reliability.checks import completeness, verdicts
from reliability.history import read
from reliability.probes.proc_stat import process_stat
from reliability.refbox.box import FIRST_UID
from reliability.refbox.recovery import processes_with_uids
from reliability.targets.builtin import BuiltinTarget

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (tmpfs mounts, cgroups, box uids)")

PID = os.getpid()
REPO = Path(__file__).resolve().parents[2]
BOX_BASE = 880 + (PID % 50) * 2  # two boxes each, apart from the other tests' pid-derived boxes


class Place:
    """A box root and cgroup of this test's own; the runs and reports beside them."""

    def __init__(self):
        self.work = Path(tempfile.mkdtemp(prefix=f"interrupts-{PID}-"))
        self.work.chmod(0o755)
        self.cgroup = f"interrupts-{PID}"

    def run_args(self, *extra: str, runs: str = "runs") -> list[str]:
        return [
            sys.executable, "-m", "reliability", "run", "--reports", str(self.work / "rep"), *extra,
            "--runs", str(self.work / runs), "--box-base", str(BOX_BASE), "--concurrency", "2",
            "--target-option", f"box_root={self.work}/boxes", "--target-option", f"cgroup_name={self.cgroup}",
        ]  # fmt: skip

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )

    def history(self, runs: str = "runs") -> Path:
        for _ in range(6000):  # a hang guard, not a timing assertion
            found = list((self.work / runs).glob("*/history.jsonl"))
            if found:
                return found[0]
            time.sleep(0.01)
        raise AssertionError("the run never started")

    def leftovers(self, run_id: str) -> list[str]:
        """Everything of the run still on the host: processes, mounts, box cgroups."""
        left = [f"process {p}: {c}" for p, c in run_processes.find(run_id).items()]
        uids = {FIRST_UID + BOX_BASE, FIRST_UID + BOX_BASE + 1}
        left += [f"box uid process {pid}" for pid in processes_with_uids(uids)]
        boxes = str(self.work / "boxes")
        left += [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if boxes in line]
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            parent = hierarchy / self.cgroup
            if parent.is_dir():
                left += [str(p) for p in parent.iterdir() if p.is_dir() and p.name.startswith("box-")]
        return left

    def remove(self):
        for history in self.work.glob("runs*/*/history.jsonl"):  # held processes of a failed test
            run_processes.end(read(history.parent).stage_start["run_id"])
        target = BuiltinTarget(box_root=f"{self.work}/boxes", cgroup_name=self.cgroup)
        target.recover()
        target.close()
        shutil.rmtree(self.work, ignore_errors=True)


@pytest.fixture
def place():
    p = Place()
    try:
        yield p
    finally:
        p.remove()


def results(history: Path) -> int:
    return history.read_bytes().count(b'"type":"result"')


def wait_in_flight(history: Path, proc: subprocess.Popen, at_least: int) -> None:
    """Until `at_least` results are in and an execution is in flight (submitted, no result yet)."""
    for _ in range(60000):  # a hang guard, not a timing assertion
        assert proc.poll() is None, "the run ended before it could be interrupted"
        data = history.read_bytes()
        if data.count(b'"type":"result"') >= at_least and data.count(b'"type":"submission"') > data.count(
            b'"type":"result"'
        ):
            return
        time.sleep(0.002)
    raise AssertionError("no execution was ever in flight")


def hold_supervisors(run_id: str, pipeline: int) -> list[int]:
    """Stop the run's supervisors (SIGSTOP) until at least one is held mid-run: one found as it was
    ending (its run answered, a zombie) holds nothing, and the runs in flight would then end by
    themselves before the test's next signal."""
    for _ in range(100):  # a hang guard, not a timing assertion
        held = []
        for pid in supervisors(run_id, pipeline):
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:  # it ended, and was reaped, since it was listed
                continue
            if _state(pid) == "T":
                held.append(pid)
        if held:
            return held
    raise AssertionError("no supervisor of the run could be held mid-run")


def _state(pid: int) -> str:
    for _ in range(500):  # SIGSTOP takes effect when the process is next scheduled
        st = process_stat(pid)
        if st is None or st["state"] in ("T", "Z", "X"):
            return st["state"] if st else "gone"
        time.sleep(0.002)
    return st["state"]


def supervisors(run_id: str, pipeline: int) -> list[int]:
    """The run's supervisors: the C ones (boxsup.c, spawned by the pipeline: its children named after
    the cached binary, boxinit-*), or, without a compiler, the Python ones (the children of its fork
    server). Their own children (the box's init, the program) are left alone: a stopped supervisor
    holds its run, while a stopped init would not stop the supervisor's wall timer from ending the run."""
    for _ in range(60000):  # a hang guard, not a timing assertion
        run = run_processes.find(run_id)
        children = {p for p in run if _parent(p) == pipeline}
        in_c = {p for p in children if (process_stat(p) or {}).get("name", "").startswith("boxinit")}
        found = sorted(in_c) or [p for p in run if _parent(p) in children]
        if found:
            return found
        time.sleep(0.002)
    raise AssertionError("no supervisor of the run was ever seen")


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def first_line_with(proc: subprocess.Popen, text: str) -> str:
    for line in iter(proc.stderr.readline, ""):
        if text in line:
            return line
    raise AssertionError(f"the run ended without saying {text!r}")


def stop(proc: subprocess.Popen) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def assert_passes(run_dir: Path) -> None:
    checks = {c.name: c for c in analyze(run_dir).checks}
    for name in (completeness.COMPLETED, completeness.FINISHED, verdicts.NAME, "no cleanup failures"):
        assert checks[name].status == "passed", checks[name]


def test_kill_9_with_executions_in_flight_then_resume_ends_what_was_left_and_passes(place):
    proc = place.start(*place.run_args("stress", "--profile", "smoke", "--seed", "11", "--submissions", "16"))
    history = place.history()
    wait_in_flight(history, proc, at_least=4)
    run_dir = history.parent
    run_id = read(run_dir).stage_start["run_id"]
    # Held (stopped), the supervisors in flight are surely still there when --resume starts.
    held = hold_supervisors(run_id, proc.pid)
    os.kill(proc.pid, signal.SIGKILL)  # the pipeline alone: its fork server and supervisors live on
    proc.wait()  # not communicate(): the held supervisors keep its output pipes open
    proc.stdout.close()
    proc.stderr.close()

    resume_args = [sys.executable, "-m", "reliability", "run", "--resume", str(run_dir)]
    resumed = subprocess.run(
        [*resume_args, "--reports", str(place.work / "rep")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-2000:]
    (event,) = read(run_dir).of_type("resume")
    assert event["run_id"] == run_id
    assert {int(line.split()[1].rstrip(":")) for line in event["ended"]} >= set(held), event["ended"]
    assert_passes(run_dir)
    assert place.leftovers(run_id) == []


def test_a_second_pipeline_on_the_same_boxes_is_refused_then_ctrl_c_twice_leaves_nothing(place):
    proc = place.start(
        *place.run_args("stress", "--profile", "smoke", "--seed", "12", "--submissions", "400")
    )
    history = place.history()
    wait_in_flight(history, proc, at_least=2)
    run_dir = history.parent

    second = subprocess.run(
        place.run_args("leaks", "--profile", "smoke", runs="runs2"), cwd=REPO, capture_output=True, text=True
    )
    assert second.returncode == 2, second.stderr
    assert f"is in use by another pipeline (pid {proc.pid}, run {run_dir})" in second.stderr
    assert "--box-base" in second.stderr and not (place.work / "runs2").exists()
    again = subprocess.run(
        [sys.executable, "-m", "reliability", "run", "--resume", str(run_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 2 and f"is still going (pipeline pid {proc.pid})" in again.stderr

    wait_in_flight(history, proc, at_least=results(history) + 1)
    run_id = read(run_dir).stage_start["run_id"]
    # Hold the runs in flight (stop their supervisors), so the second Ctrl-C surely comes while they are.
    hold_supervisors(run_id, proc.pid)
    proc.send_signal(signal.SIGINT)
    first_line_with(proc, "stopping after the runs in flight")
    # Two signals before the handler runs are one: the second is sent once the first was handled.
    proc.send_signal(signal.SIGINT)  # the runs in flight are abandoned, not awaited
    _, err = stop(proc)
    assert proc.returncode == 130, err
    assert "stopping at once" in err
    assert "nothing of this run is left on the host" in err, err
    assert place.leftovers(run_id) == []


def test_ctrl_c_once_finishes_the_runs_in_flight_and_leaves_nothing(place):
    proc = place.start(
        *place.run_args("stress", "leaks", "--profile", "smoke", "--seed", "13", "--submissions", "400")
    )
    history = place.history()
    wait_in_flight(history, proc, at_least=2)
    proc.send_signal(signal.SIGINT)
    out, err = stop(proc)
    assert proc.returncode == 1, err  # the run was cut short: "run finished" fails
    assert "[FAIL] run finished: the run was cut short" in out
    # the pipeline stops, not only the stage: the next stage never starts
    assert "reliability: interrupted during stress: not run: leaks" in err
    assert not list((place.work / "runs").glob("leaks-*"))
    run_dir = history.parent
    assert place.leftovers(read(run_dir).stage_start["run_id"]) == []
    history_now = read(run_dir)
    assert history_now.stage_end["executions"] == len(history_now.results) + len(history_now.of_type("skip"))
