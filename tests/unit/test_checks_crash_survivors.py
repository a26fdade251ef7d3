"""The crash check's judgement of what a killed supervisor left running (checks/survivors.py, crash.py),
over synthetic crash events: a survivor past its limits fails, one that ended in time passes, and a
setup or cleanup kill that landed before the command began is no crash."""

from __future__ import annotations

from synthetic_history import HistoryBuilder

from reliability.checks import crash
from reliability.checks.survivors import left_running, over_limits
from reliability.sandbox_values import Owned

LIMITS = {"cpu_s": 0.5, "wall_s": 1.0, "mem_mb": 128, "processes": 16, "output_kb": 64}
NOTHING_LEFT = {"leaks": {}, "state_files": []}
RECOVERED = {"recover": [], "recover_error": "", "new": {}, "gone": {}, "state_files": []}
PROBE = {"verdict": "OK", "message": "", "stdout_ok": True, "cleanup_ok": True, "cleanup_error": ""}


def survivor(cpu_at_kill=0.5, cpu_s=0.5, alive_s=0.0, age_s=0.6, alive_at_end=False, pid=42) -> dict:
    return {
        "pid": pid,
        "name": "python3",
        "uid": 60001,
        "cgroup": "memory:/box-1",
        "starttime": 1,
        "cpu_at_kill": cpu_at_kill,
        "cpu_s": cpu_s,
        "alive_s": alive_s,
        "age_s": age_s,
        "alive_at_end": alive_at_end,
    }


def after_kill(*procs: dict, limits=LIMITS) -> dict:
    return {"grace_s": 2.0, "run_s_at_kill": 0.6, "limits": limits, "processes": list(procs)}


def history(tmp_path, *events: dict):
    b = HistoryBuilder(tmp_path, stage="crash")
    for e in events:
        b.journal.append("crash", **e)
    return b.read()


def event(phase: str, index: int, killed: dict | None = None, after=None, **more) -> dict:
    return {
        "index": index,
        "box": 1,
        "phase": phase,
        "killed": {"pid": 9, "how": "state.json phase " + phase} if killed is None else killed,
        "orphans": [],
        "after_kill": after or {},
        "left": NOTHING_LEFT,
        "recovered": RECOVERED,
        "probe": PROBE,
        **more,
    }


def checks(tmp_path, *events) -> dict:
    return {c.name: c for c in crash.check(history(tmp_path, *events))}


def test_a_survivor_that_ended_with_the_supervisor_passes(tmp_path):
    got = checks(tmp_path, event("timeout", 2, after=after_kill(survivor(cpu_s=0.55, alive_s=0.05))))
    assert got[crash.LIMITS].status == "passed", got[crash.LIMITS]
    assert got[crash.LEFT].status == "passed", got[crash.LEFT]


def test_a_survivor_spinning_past_its_cpu_limit_fails_limits_and_left(tmp_path):
    spinning = survivor(cpu_s=2.4, alive_s=2.0, age_s=2.6, alive_at_end=True)
    got = checks(tmp_path, event("timeout", 2, after=after_kill(spinning)))
    assert got[crash.LIMITS].status == "failed"
    assert any(
        "used 2.40 s of CPU against a limit of 0.5 s, 1.90 s of it after" in e
        for e in got[crash.LIMITS].evidence
    )
    assert any("still running 2 s after the supervisor was killed" in e for e in got[crash.LEFT].evidence)


def test_a_sleeper_alive_past_its_wall_limit_fails_even_if_it_died_before_the_grace_ended(tmp_path):
    slept = survivor(cpu_at_kill=0.01, cpu_s=0.01, alive_s=1.2, age_s=1.8, alive_at_end=False)
    got = checks(tmp_path, event("execute", 1, after=after_kill(slept)))
    assert got[crash.LIMITS].status == "failed"
    assert "alive 1.80 s after it started against a wall limit of 1 s" in got[crash.LIMITS].evidence[0]
    assert got[crash.LEFT].status == "passed"  # gone by the end of the grace: not left, but unbounded


def test_the_limit_boundaries_allow_only_the_slack():
    at_slack = survivor(cpu_s=0.5 + 0.25, age_s=1.0 + 0.5, cpu_at_kill=0.5)
    assert over_limits(after_kill(at_slack)) == []
    past = survivor(cpu_s=0.5 + 0.26, age_s=1.0 + 0.51, cpu_at_kill=0.49)
    assert len(over_limits(after_kill(past))) == 2
    # CPU burnt before the kill is the supervisor's to judge, not the survivor's
    assert over_limits(after_kill(survivor(cpu_s=3.0, cpu_at_kill=3.0, age_s=0.5))) == []


def test_without_limits_setup_and_cleanup_survivors_are_left_but_not_over_limits():
    lingering = survivor(alive_at_end=True, age_s=9.0, cpu_s=5.0, cpu_at_kill=0.0)
    assert over_limits(after_kill(lingering, limits=None)) == []
    assert len(left_running(after_kill(lingering, limits=None))) == 1


def test_limits_is_skipped_when_no_run_was_watched(tmp_path):
    got = checks(
        tmp_path, event("setup", 0, killed={"pid": 9, "how": "x", "landed": "mid-command", "delay_ms": 1.0})
    )
    assert got[crash.LIMITS].status == "skipped"


def test_a_kill_before_exec_is_no_crash_and_a_phase_never_hit_is_skipped(tmp_path):
    before_exec = {"pid": 9, "how": "0 ms", "landed": "before exec", "delay_ms": 0.0}
    mid = {"pid": 9, "how": "1 ms", "landed": "mid-command", "delay_ms": 1.0}
    got = checks(
        tmp_path,
        event("setup", 0, killed=before_exec),
        event("cleanup", 3, killed=mid),
    )
    killed = got[crash.KILLED]
    assert killed.status == "skipped" and "never hit: setup" in killed.message
    assert "setup: 0 of 1 kills landed while it ran" in killed.evidence
    assert "cleanup: 1 of 1 kills landed while it ran" in killed.evidence


def test_every_phase_hit_at_least_once_passes_and_counts_the_landings(tmp_path):
    before_exec = {"pid": 9, "how": "0 ms", "landed": "before exec", "delay_ms": 0.0}
    mid = {"pid": 9, "how": "1 ms", "landed": "mid-command", "delay_ms": 1.0}
    got = checks(tmp_path, event("setup", 0, killed=before_exec), event("setup", 5, killed=mid))
    assert got[crash.KILLED].status == "passed", got[crash.KILLED]
    assert "setup: 1 of 2 kills landed while it ran" in got[crash.KILLED].evidence


def test_a_killed_cleanup_commands_unfinished_work_is_excused_but_its_processes_are_not():
    from reliability.checks.survivors import unfinished_cleanup

    box_paths = ["/b/7", "/sys/fs/cgroup/*/judge/box-7"]
    items = [
        "mount tmpfs on /b/7",
        "temp dir /b/7",
        "cgroup /sys/fs/cgroup/memory/judge/box-7/run",
        "temp dir /b/8",
        "process 42 (sleep) uid 60007 cgroup memory:/judge/box-7",
    ]
    kept, excused = unfinished_cleanup(items, box_paths)
    assert excused == items[:3]
    assert kept == ["temp dir /b/8", "process 42 (sleep) uid 60007 cgroup memory:/judge/box-7"]


def test_a_box_path_given_with_a_trailing_slash_still_excuses_what_is_below_it():
    from reliability.checks.survivors import unfinished_cleanup

    kept, excused = unfinished_cleanup(["temp dir /b/7/work", "temp dir /b/70"], ["/b/7/"])
    assert (kept, excused) == (["temp dir /b/70"], ["temp dir /b/7/work"])


def test_processes_zombies_fds_and_orphans_stay_counted_even_under_the_boxs_own_paths():
    from reliability.checks.survivors import unfinished_cleanup

    items = ["process 42 /b/7", "zombie 43 /b/7", "fd 7 /b/7", "orphan 44 /b/7", "mount tmpfs on /b/7"]
    assert unfinished_cleanup(items, ["/b/7"]) == (items[:4], items[4:])


def test_a_survivor_is_named_with_its_cgroup_only_when_it_has_one():
    with_cgroup = survivor(alive_at_end=True, cpu_s=0.75)
    without = {**with_cgroup, "pid": 43, "cgroup": ""}
    assert left_running(after_kill(with_cgroup, without)) == [
        "process 42 (python3) uid 60001 cgroup memory:/box-1 still running 2 s after the supervisor was "
        "killed (0.25 s of CPU since)",
        "process 43 (python3) uid 60001 still running 2 s after the supervisor was killed (0.25 s of CPU since)",
    ]


def test_what_a_killed_cleanup_command_left_in_the_boxs_own_paths_is_recovers_not_a_leak(tmp_path):
    """A cleanup command killed mid-command leaves the box's own directory and cgroup for recover; the
    check takes the box's paths from the run's own record, and still counts what lies elsewhere."""
    owned = Owned(box_root="/b", box_paths=["/b/1", "/sys/fs/cgroup/memory/sb/box-1"])
    left = {"leaks": {"temp_dirs": ["temp dir /b/1", "temp dir /tmp/x"],
                      "cgroups": ["cgroup /sys/fs/cgroup/memory/sb/box-1"]}, "state_files": []}  # fmt: skip
    killed = {"pid": 9, "how": "0.5 ms into the cleanup command: mid-command", "landed": "mid-command"}
    b = HistoryBuilder(tmp_path, stage="crash", owned=owned)
    b.journal.append("crash", **event("cleanup", 0, killed=killed, left=left))
    b.journal.append("crash", **event("execute", 1, left=left))  # not a cleanup: nothing is excused
    result = {c.name: c for c in crash.check(b.read())}[crash.LEFT]
    assert result.status == "failed"
    assert result.evidence[:4] == [
        "cleanup (index 0, box 1): temp_dirs: temp dir /tmp/x",
        "execute (index 1, box 1): temp_dirs: temp dir /b/1",
        "execute (index 1, box 1): temp_dirs: temp dir /tmp/x",
        "execute (index 1, box 1): cgroups: cgroup /sys/fs/cgroup/memory/sb/box-1",
    ]
    assert (
        "cleanup (index 0, box 1): temp_dirs: temp dir /b/1 (the killed cleanup command's work: recover's)"
        in (result.evidence)
    )
    assert any(
        line.startswith("cleanup (index 0, box 1): cgroups: cgroup /sys/") for line in result.evidence[4:]
    )
