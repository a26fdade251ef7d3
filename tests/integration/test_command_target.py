"""A sandbox described only by a YAML file: a shell script around the built-in sandbox's CLI.

It runs through the stress and leaks stages (at a small size) and must pass, as the built-in target
does; through the crash stage, its supervisor (the script's process) killed at each phase it can be
observed in; `reliability target check` runs one OK submission through it; a result that cannot be parsed is
IE with the raw output kept; recover finds and removes a box left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from reliability import aftermath
from reliability.checks import crash, isolation
from reliability.errors import UsageError
from reliability.history import History, Journal, read
from reliability.nemesis import supervisor_kill
from reliability.profiles import Sizes
from reliability.stages import crash as crash_stage
from reliability.stages.base import StageContext
from reliability.targets import load
from reliability.targets.base import CleanupOutcome, Limits, Owned, Result, Target
from reliability.targets.command import CommandTarget
from reliability.targets.described import PROFILE_DIR, description_for
from reliability.targets.description import describe
from tests.described_box import BOX_BASE, PID, described_box, reliability, target_doc
from tests.dir_target import dir_target

LIMITS = Limits(cpu_s=1.0, wall_s=2.0, mem_mb=64, processes=16, output_kb=64)


@pytest.fixture(scope="module")
def described():
    if os.geteuid() != 0:
        pytest.skip("the built-in sandbox behind the script needs root")
    with described_box("cmdtarget") as made:
        yield made


@pytest.fixture(scope="module")
def described_cli():
    """The same script without its server: each command is the CLI, the process the pipeline kills."""
    if os.geteuid() != 0:
        pytest.skip("the built-in sandbox behind the script needs root")
    with described_box("cmdtarget-cli", serve=False) as made:
        yield made


def foreign_failures(work: Path) -> list[str]:
    """Failed checks of the run, except mounts other engineers' tests made on this shared host meanwhile
    (the probe counts every new mount anywhere); a mount under our own work dir still fails."""
    failed = []
    for stage in ("stress", "leaks"):
        root = ET.parse(work / "reports" / f"{stage}.xml").getroot()
        for case in root.iter("testcase"):
            for bad in [*case.findall("failure"), *case.findall("error")]:
                text = f"{bad.get('message', '')}\n{bad.text or ''}"
                mounts = [line for line in text.splitlines() if line.strip().startswith("mount ")]
                if (
                    case.get("name") == "no leaked mounts"
                    and mounts
                    and not any(str(work) in m for m in mounts)
                ):
                    continue
                failed.append(f"{stage}: {case.get('name')}: {text[:500]}")
    return failed


def test_stress_and_leaks_pass_against_the_described_sandbox(described):
    work, path, _ = described
    proc = reliability(
        "run", "stress", "leaks", "--profile", "smoke", "--seed", "11", "--submissions", "6", "--iterations", "4",
        "--concurrency", "2", "--box-base", str(BOX_BASE), "--target", str(path),
        "--runs", str(work / "runs"), "--reports", str(work / "reports"), cwd=work,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    assert foreign_failures(work) == [], proc.stdout[-6000:]
    assert "target refbox-script" in proc.stdout
    history = (next((work / "runs").glob("stress-*")) / "history.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in history]
    start = records[0]
    assert start["target"] == "refbox-script"
    assert any(r.endswith(f"cmdtarget-{PID}") for r in start["owned"]["cgroup_roots"])
    results = [r["result"] for r in records if isinstance(r.get("result"), dict) and "verdict" in r["result"]]
    assert len(results) >= 6 and all(
        r["raw"]["argv"][0] == "sh" for r in results
    )  # the script's output, kept
    assert list((work / "boxes").glob("[0-9]*")) == []  # every box cleaned up


def test_target_check_runs_one_ok_submission(described):
    work, path, _ = described
    proc = reliability("target", "check", str(path), "--box", str(BOX_BASE + 2), cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "run: OK" in proc.stdout and "target check: PASSED" in proc.stdout
    assert "start: ok" in proc.stdout  # the script's server, stopped again: its directory is gone
    assert not (work / "boxes.serve").exists()


def test_an_unparseable_result_is_ie_with_the_raw_output_kept(described, tmp_path):
    work, _, _ = described
    doc = target_doc(work, f"cmdtarget-{PID}")
    doc["commands"]["run"] = ["sh", "-c", "echo 'sandbox says: not json'", "{files}", "{command}"]
    path = tmp_path / "garbled.yml"
    path.write_text(yaml.safe_dump(doc))
    garbled = load(str(path))
    result = garbled.run(BOX_BASE + 3, ["/bin/true"], LIMITS, {})
    assert result.verdict == "IE" and "unreadable result" in result.message
    assert "sandbox says: not json" in result.raw["stdout"]


def test_recover_removes_a_box_left_behind_and_kills_its_program(described):
    _, _, target = described
    box = BOX_BASE + 3
    target.init(box)
    assert box in target.present_boxes()
    removed = target.recover()
    assert removed
    assert box not in target.present_boxes()
    assert target.box_pids(box) == []


def test_isolation_stage_runs_every_case_against_the_described_sandbox(described):
    """Every hostile case runs through the script, with its host fixture and the neighbouring box next
    to the described box root; the sandbox behind it is the refbox, so each is contained."""
    work, path, _ = described
    proc = reliability(
        "run", "isolation", "--profile", "smoke", "--seed", "3", "--box-base", str(BOX_BASE), "--concurrency", "2",
        "--target", str(path), "--runs", str(work / "iso-runs"), "--reports", str(work / "iso-reports"), cwd=work,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    checks = {c.name: c for c in isolation.check(read(next((work / "iso-runs").glob("isolation-*"))))}
    assert set(checks) == {isolation.check_name(case) for case in isolation.CASES}
    assert [c for c in checks.values() if c.status != "passed"] == [], proc.stdout[-4000:]


@pytest.mark.parametrize("via", ["cli", "server"])
def test_crash_stage_kills_the_described_supervisor_at_each_observed_phase(via, request):
    """The supervisor of the script target is the process the pipeline started for the box: `sh
    box.sh`, which `exec`s `python3 -m reliability box ...` (via cli), so one pid for the whole call;
    or the client of the refbox's server (via server), whose death the server makes its worker's. Its phases
    are observed from outside: setup = the init command running, execute = a process in the box,
    timeout = one still there once it has been there for half the time limit, cleanup = the cleanup
    command running; verdict happens inside the run command and cannot be seen: skipped.

    What the built-in sandbox does when that CLI process alone is killed (the truth asserted here):
    - setup: started stopped, resumed and killed 0.5 ms into the command (the first delay of the
      spread), before Python has started: nothing was made; the runner's cleanup of the box that was
      never set up succeeds. Nothing left.
    - execute, timeout: the CLI's forked supervisor (its own session) and the program live on as
      orphans under init; the supervisor still enforces the limits, kills the run cgroup and exits.
      It holds the dead CLI's stdout and stderr, so the pipeline's run call (IE: "sh exited -9")
      returns only once it is gone. The box lock (a flock of the dead CLI) is free and the state
      says running with a dead owner, so the runner's cleanup command then cleans the box. Nothing
      left: watched for the grace period after the kill, the killed process's descendants end within
      the run's limits, before anything of the pipeline's touched them.
    - cleanup: the cleanup command dies before it did anything, and nothing else cleans the box:
      its tmpfs mount, its cgroups and its directory stay. That is the killed command's unfinished
      work, not something the sandbox left by itself: listed apart in the evidence of "left nothing
      behind by itself" (which passes), and recover must remove it ("recovered to baseline").
    recover (the box's processes killed by cgroup and uid, then the cleanup command, which takes a
    box whose owner is dead) brings the host back to the baseline each time, and the same box then
    runs the probe submission with OK.

    Via the server, the killed client has no descendants: the worker, the supervisor and the program
    are the server's. The server kills the worker with SIGKILL (its client's connection ended), and
    the box's processes are watched as the box's (cgroup and uid). How far a killed init or cleanup
    got depends on when the server saw the client's end, so only the outcome is asserted: nothing
    left by the sandbox itself, and recover brings the host back.
    """
    work, path, _ = request.getfixturevalue("described" if via == "server" else "described_cli")
    proc = reliability(
        "run", "crash", "--profile", "smoke", "--seed", "5", "--iterations", "1", "--box-base", str(BOX_BASE),
        "--target", str(path), "--runs", str(work / "crash-runs"), "--reports", str(work / "crash-reports"),
        cwd=work,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    history = read(next((work / "crash-runs").glob("crash-*")))
    events = {e["phase"]: e for e in history.of_type("crash")}
    assert sorted(events) == ["cleanup", "execute", "setup", "timeout", "verdict"]
    assert "cannot be observed from outside" in events["verdict"]["skipped"]
    for phase in ("setup", "execute", "timeout", "cleanup"):
        assert events[phase]["killed"].get("pid"), (phase, events[phase])
    for phase in ("setup", "cleanup"):  # started stopped and killed mid-command, not at first sight
        assert events[phase]["killed"]["landed"] == "mid-command", events[phase]["killed"]
    for phase in ("execute", "timeout"):
        assert events[phase]["killed"]["how"].startswith("observed: "), events[phase]["killed"]
        watched = events[phase]["after_kill"]["processes"]
        assert watched and not any(p["alive_at_end"] for p in watched), watched  # all ended by themselves
    # The CLI's supervisor and the box's processes; the client has none.
    assert len(events["execute"]["orphans"]) >= 2 if via == "cli" else events["execute"]["orphans"] == []
    checks = {c.name: c for c in crash.check(history)}
    assert checks[crash.KILLED].status == "passed", checks[crash.KILLED]
    assert "verdict (index 4): target refbox-script reports no phases" in checks[crash.KILLED].message
    left = checks[crash.LEFT]
    assert left.status == "passed", left  # a killed cleanup command's unfinished work is recover's
    box_dir = str(work / "boxes" / str(BOX_BASE))
    excused = [line for line in left.evidence if "the killed cleanup command's work" in line]
    assert all(line.startswith("cleanup (index 3") for line in excused), excused
    if via == "cli":
        assert any(f"mounts: mount tmpfs on {box_dir}" in line for line in excused), excused
        assert any(f"/cmdtarget-cli-{PID}/box-{BOX_BASE}" in line for line in excused), excused
    for name in (crash.LIMITS, crash.STATE, crash.RECOVERED, crash.HEALTHY):
        assert checks[name].status == "passed", checks[name]
    assert "setup: 1 of 1 kills landed while it ran" in checks[crash.KILLED].evidence
    assert list((work / "boxes").glob("[0-9]*")) == []


class NoSupervisor(Target):
    """A target that cannot name its supervisor (no supervisor_pid)."""

    name = "opaque"

    def version(self) -> str:
        return "opaque 1"

    def owned(self, boxes=None) -> Owned:
        return Owned(box_root="/nonexistent")

    def init(self, box: int) -> None:
        raise AssertionError("not reached: the crash stage skips before init")

    def run(self, box, command, limits, files) -> Result:
        raise AssertionError("not reached")

    def cleanup(self, box: int) -> CleanupOutcome:
        raise AssertionError("not reached")

    def recover(self, box=None) -> list[str]:
        return []

    def box_pids(self, box: int) -> list[int]:
        return []


def test_a_target_without_supervisor_pid_skips_every_phase_with_the_reason(tmp_path):
    journal = Journal(tmp_path / "history.jsonl")
    target = NoSupervisor()
    ctx = StageContext(1, Sizes(iterations=1), target, journal, (0,))
    for sub in crash_stage.workload(ctx):
        with crash_stage.around(ctx, sub) as wrapped:
            assert wrapped is None  # the runner runs it unwrapped: nothing is killed
    events = [e for e in journal_events(journal) if e["type"] == "crash"]
    assert [e["phase"] for e in events] == ["setup", "execute", "timeout", "cleanup", "verdict"]
    assert all(e["skipped"] == "target opaque does not expose its supervisor's pid" for e in events)
    checks = crash.check(History(tmp_path / "history.jsonl", events))
    assert [c.status for c in checks] == ["skipped"] * len(crash.NAMES)
    assert all("does not expose its supervisor's pid" in c.message for c in checks)


def journal_events(journal: Journal) -> list[dict]:
    journal.close()
    return [json.loads(line) for line in journal.path.read_text().splitlines()]


def test_a_phase_observed_too_late_is_skipped_never_passed():
    """A command that got through the phase before the observer saw it injected no crash: the killed
    check is skipped with why; the other checks judge the crashes that did happen."""
    clean = {"leaks": {}, "state_files": []}
    recovered = {"recover": [], "recover_error": "", "new": {}, "gone": {}, "state_files": []}
    probe = {"verdict": "OK", "message": "", "stdout_ok": True, "cleanup_ok": True}
    common = {"type": "crash", "box": 7, "left": clean, "recovered": recovered, "probe": probe}
    events = [
        {
            **common,
            "index": 0,
            "phase": "execute",
            "killed": {"pid": 42, "how": "observed: a process in the box"},
        },
        {**common, "index": 1, "phase": "timeout", "killed": {}, "missed": "the run command ended first"},
    ]
    checks = {c.name: c for c in crash.check(History(Path("history.jsonl"), events))}
    assert checks[crash.KILLED].status == "skipped"
    assert (
        "never hit: timeout: timeout (index 1): not killed, the run command ended first"
        in checks[crash.KILLED].message
    )
    for name in (crash.LEFT, crash.STATE, crash.RECOVERED, crash.HEALTHY):
        assert checks[name].status == "passed", checks[name]
    assert "timeout (index 1): not killed" in checks[crash.LEFT].message


def test_per_box_lock_and_state_files_render_with_the_box(tmp_path):
    """owns/lock_files and owns/state_files may name one file per box with {box}: lock_file(box) and
    state_file(box) render the first such entry, and the probes get the entry as a glob over every box
    with its rule (schema, format). The rustbox profile declares its lock that way."""
    rustbox = CommandTarget(
        description_for(PROFILE_DIR / "rustbox.yml", {"lock_root": "/var/run/rustbox/locks"})
    )
    assert rustbox.lock_file(7) == "/var/run/rustbox/locks/box-7.lock"
    assert rustbox.state_file(7) is None  # instances.json is one file for all boxes
    rules = rustbox.owned().file_rules
    assert rules["/var/run/rustbox/locks/box-*.lock"] == {"schema": "rustbox/lock", "format": "json_line"}
    assert rules["/var/lib/rustbox/instances.json"] == {"schema": "rustbox/instances", "format": "json"}
    assert rustbox.owned().state_files == list(rules)

    doc = target_doc(tmp_path, f"cmdtarget-{PID}")
    doc["owns"]["state_files"] = [
        {"glob": "{root}/all.json"},
        {"glob": "{root}/.state/{box}/state.json", "schema": "box-state", "format": "json"},
    ]
    doc["owns"]["lock_files"] = [{"glob": "{box_root}/.state/{box}/lock"}]
    path = tmp_path / "per-box.yml"
    path.write_text(yaml.safe_dump(doc))
    target = CommandTarget(description_for(path))
    root = str(tmp_path / "boxes")
    assert target.state_file(12) == f"{root}/.state/12/state.json"
    assert target.lock_file(12) == f"{root}/.state/12/lock"
    assert target.owned().file_rules == {
        f"{root}/all.json": {"schema": None, "format": None},
        f"{root}/.state/*/state.json": {"schema": "box-state", "format": "json"},
        f"{root}/.state/*/lock": {"schema": None, "format": None},  # the entry names neither
    }
    assert target.owned().state_files == [
        f"{root}/all.json",
        f"{root}/.state/*/state.json",
        f"{root}/.state/*/lock",
    ]

    doc["owns"]["lock_files"] = [{"glob": "{root}/{cpu_s}.lock"}]  # a run placeholder: still refused
    with pytest.raises(UsageError, match=r"owns/lock_files/0: unknown placeholder \{cpu_s\}"):
        describe(doc, "bad.yml")
    doc["owns"]["lock_files"] = [{"glob": "{root}/{box}.lock", "schema": "rustbox/lokc"}]  # a typo
    with pytest.raises(UsageError, match=r"owns/lock_files/0/schema: no schema rustbox/lokc"):
        describe(doc, "bad.yml")


def test_a_killed_supervisors_descendant_still_alive_is_left_behind():
    """The descendants recorded at the kill are checked by pid and start time: one still running is
    listed (once, even when the uid or cgroup rules list it too), one that ended is not."""
    child = subprocess.Popen(["sleep", "30"])
    try:
        recorded = [d for d in supervisor_kill.descendants(os.getpid()) if d["pid"] == child.pid]
        assert recorded and recorded[0]["parent"] == os.getpid()
        leaks: dict = {}
        aftermath._add_orphans(leaks, recorded)
        assert leaks["orphans"][0].startswith(f"process {child.pid} (sleep) uid {os.getuid()} parent ")
        listed = {"processes": [f"process {child.pid} (sleep) uid 0 cgroup pids:/x"]}
        aftermath._add_orphans(listed, recorded)
        assert "orphans" not in listed
    finally:
        child.kill()
        child.wait()
    assert aftermath.alive_orphans(recorded) == []


@pytest.mark.parametrize(
    "declared,printed,quarantined",
    [(True, '{"ok": false, "quarantined": true, "error": "step unmount: busy"}', True),
     (True, '{"ok": false, "quarantined": false}', False),
     (True, "not json", False), (False, '{"ok": false, "quarantined": true}', False)],
)  # fmt: skip
def test_a_failed_cleanup_is_quarantined_only_on_the_sandboxs_own_word(
    tmp_path, declared, printed, quarantined
):
    """cleanup_result/quarantined names the boolean in the cleanup's JSON that says the box is out of
    service; without it, or without that word, nothing is taken as quarantined; cleanup_result/error
    is the failure's own message (it names the step, however long the output line)."""
    said = tmp_path / "cleanup.out"  # printed by the cleanup command (braces would be placeholders)
    said.write_text(printed + "\n")
    extra = {"cleanup_result": {"quarantined": "quarantined", "error": "error"}} if declared else {}
    target = dir_target(
        tmp_path, "says", ["env", "{command}"], ["sh", "-c", 'cat "$0"; exit 1', str(said)], **extra
    )
    outcome = target.cleanup(3)
    assert not outcome.ok and outcome.quarantined is quarantined
    if declared and "error" in printed:
        assert outcome.error == "cleanup command: sh exited 1: step unmount: busy"
