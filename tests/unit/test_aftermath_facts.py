"""reliability/aftermath.py: the facts the crash, faults and state checks judge after a fault (what is
left, what recover did, the clean-box cleanup probe, the probe run), recorded from a fake target and a
fake host whose temp root is a real directory. No process is started and nothing needs root."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from reliability import aftermath, probes
from reliability.probes.host import list_entries
from reliability.profiles import Sizes
from reliability.sandbox_values import CleanupOutcome, Owned, Result, TargetError
from reliability.stages.base import StageContext
from reliability.stages.clean_box import CleanBox


class Host:
    """The host as the fake snapshot sees it: the processes listed here, the real entries under the
    temp root, and the box paths listed here."""

    def __init__(self, root):
        self.processes = [{"pid": 1, "ppid": 0, "uid": 0, "name": "init", "starttime": 1, "status": "S"}]
        self.box_paths: list[str] = []
        self.snapshots: list[tuple[Owned, int]] = []
        self.root = str(root)

    def spawn(self, pid: int, name: str, parent: int) -> None:
        self.processes.append(
            {"pid": pid, "ppid": parent, "uid": 0, "name": name, "starttime": pid, "status": "S"}
        )

    def end(self, pid: int) -> None:
        self.processes = [p for p in self.processes if p["pid"] != pid]

    def snapshot(self, owned: Owned, pipeline_pid: int) -> dict:
        self.snapshots.append((owned, pipeline_pid))
        processes = [{**p, "cgroups": ["0::/"]} for p in self.processes]
        return {
            "version": 1,
            "taken_at": 1.0,
            "boot_id": "boot",
            "pipeline_pid": pipeline_pid,
            "processes": processes,
            "mounts": [],
            "hierarchies": [],
            "cgroups": [],
            "fd_pids": [],
            "fds": [],
            "temp_roots": [self.root],
            "temp": list_entries([self.root]),
            "box_paths": list(self.box_paths),
        }


class FakeTarget:
    """Does to the host what a test tells it to, and records what it was asked."""

    def __init__(self, owned: Owned, *, on_cleanup=None, on_recover=None, recover_error=None):
        self._owned = owned
        self.on_cleanup = on_cleanup or (lambda: None)
        self.on_recover = on_recover or (lambda: None)
        self.recover_error = recover_error
        self.init_error: Exception | None = None
        self.result = Result(verdict="OK", stdout="3\n")
        self.outcome = CleanupOutcome(ok=True)
        self.calls: list[tuple] = []

    def owned(self, boxes=None):
        self.calls.append(("owned", boxes))
        return self._owned

    def init(self, box):
        self.calls.append(("init", box))
        if self.init_error:
            raise self.init_error

    def run(self, box, command, limits, files):
        self.calls.append(("run", box, command, limits, files))
        return self.result

    def cleanup(self, box):
        self.calls.append(("cleanup", box))
        self.on_cleanup()
        return self.outcome

    def recover(self, box=None):
        self.calls.append(("recover", box))
        if self.recover_error:
            raise TargetError(self.recover_error)
        self.on_recover()
        return [f"box {box}"]


class FakeJournal:
    def __init__(self):
        self.events: list[tuple[str, dict]] = []

    def append(self, event_type, /, **fields):
        self.events.append((event_type, fields))
        return fields


@pytest.fixture
def host(tmp_path, monkeypatch):
    h = Host(tmp_path / "temp")
    os.mkdir(h.root)
    monkeypatch.setattr(probes, "snapshot", h.snapshot)
    return h


@pytest.fixture
def owned(tmp_path):
    return Owned(box_root=str(tmp_path / "temp"), temp_roots=[str(tmp_path / "temp")])


def make_dir(host: Host, name: str, entries=()) -> str:
    path = os.path.join(host.root, name)
    os.mkdir(path)
    for entry in entries:
        open(os.path.join(path, entry), "w").close()
    return path


def test_a_snapshot_is_of_the_pipeline_itself(host, owned):
    aftermath.snapshot(owned)
    assert host.snapshots == [(owned, os.getpid())]


def test_left_behind_lists_new_items_by_kind_without_noise_or_empty_kinds(host, owned, tmp_path):
    before = aftermath.snapshot(owned)
    path = make_dir(host, "box-3")
    host.spawn(77, "cron", parent=1)  # noise: not the sandbox's
    host.spawn(78, "worker", parent=os.getpid())  # the pipeline's
    bad = tmp_path / "state.json"
    bad.write_text("{")
    owned.state_files = [str(bad)]
    left = aftermath.left_behind(before, owned)
    assert left["leaks"] == {"temp_dirs": [f"temp dir {path}"], "processes": ["process 78 (worker) uid 0"]}
    assert all(o is owned for o, _ in host.snapshots)
    [damaged] = left["state_files"]
    assert damaged.startswith(f"{bad}: not valid (")


def test_left_behind_is_empty_when_nothing_changed(host, owned):
    before = aftermath.snapshot(owned)
    assert aftermath.left_behind(before, owned) == {"leaks": {}, "state_files": []}


def proc(pid, starttime=5, status="S"):
    return {"pid": pid, "ppid": 1, "uid": 60003, "name": "sleep", "starttime": starttime, "status": status}


ORPHAN = {"pid": 4242, "name": "sleep", "uid": 60003, "starttime": 5, "parent": 4000}


def test_an_orphan_alive_with_the_same_start_time_is_named_with_its_parent_at_the_kill(monkeypatch):
    monkeypatch.setattr(aftermath, "read_process", lambda pid: proc(pid))
    assert aftermath.alive_orphans([ORPHAN]) == [
        "process 4242 (sleep) uid 60003 parent 1: below the killed supervisor (child of 4000 at the kill)"
    ]


@pytest.mark.parametrize(
    "now",
    [None, proc(4242, starttime=6), proc(4242, status="Z")],
    ids=["ended", "pid-reused", "zombie"],
)
def test_an_orphan_that_ended_was_replaced_or_is_a_zombie_is_not_alive(monkeypatch, now):
    monkeypatch.setattr(aftermath, "read_process", lambda pid: now)
    assert aftermath.alive_orphans([ORPHAN]) == []


def test_every_orphan_is_looked_at_not_only_the_first(monkeypatch):
    alive = {4242: None, 4243: proc(4243)}
    monkeypatch.setattr(aftermath, "read_process", alive.get)
    second = {**ORPHAN, "pid": 4243}
    assert [line.split()[1] for line in aftermath.alive_orphans([ORPHAN, second])] == ["4243"]


def test_orphans_already_leaked_as_processes_are_not_listed_twice(monkeypatch):
    monkeypatch.setattr(aftermath, "read_process", lambda pid: proc(pid))
    leaks = {"processes": ["process 4242 (sleep) uid 60003"]}
    aftermath._add_orphans(leaks, [ORPHAN, {**ORPHAN, "pid": 4243}])
    assert leaks["processes"] == ["process 4242 (sleep) uid 60003"]
    assert [line.split()[1] for line in leaks["orphans"]] == ["4243"]


def test_no_orphan_alive_adds_no_orphans_kind(monkeypatch):
    monkeypatch.setattr(aftermath, "read_process", lambda pid: None)
    leaks: dict = {}
    aftermath._add_orphans(leaks, [ORPHAN])
    assert leaks == {}


def test_left_behind_adds_the_live_orphans(host, owned, monkeypatch):
    monkeypatch.setattr(aftermath, "read_process", lambda pid: proc(pid))
    before = aftermath.snapshot(owned)
    assert list(aftermath.left_behind(before, owned, [ORPHAN])["leaks"]) == ["orphans"]


def test_contents_lists_the_first_entries_of_each_new_temp_or_box_dir_sorted(host):
    many = make_dir(host, "box-1", [f"f{i:02d}" for i in reversed(range(25))])
    few = make_dir(host, "box-2", ["b", "a"])
    leaks = {"temp_dirs": [f"temp dir {many}", f"box dir {few}"], "mounts": [f"mount tmpfs on {few}"]}
    assert aftermath.contents(leaks) == {
        f"temp dir {many}": [f"f{i:02d}" for i in range(aftermath.DIR_ENTRIES_KEPT)],
        f"box dir {few}": ["a", "b"],
    }


def test_contents_skips_what_is_gone_again_or_is_a_file(host):
    file = os.path.join(host.root, "note")
    open(file, "w").close()
    kept = make_dir(host, "box-1", ["x"])
    leaks = {"temp_dirs": [f"temp dir {host.root}/gone", f"temp file {file}", f"temp dir {kept}"]}
    assert aftermath.contents(leaks) == {f"temp dir {kept}": ["x"]}


def test_a_path_with_spaces_is_listed_whole(host):
    path = make_dir(host, "box 1", ["x"])
    assert aftermath.contents({"temp_dirs": [f"temp dir {path}"]}) == {f"temp dir {path}": ["x"]}


def recover_changes(host: Host, old: str):
    """What a recover does to the host below: ends a process of the pipeline's and one not the sandbox's,
    starts one of each, removes a directory that was there before."""

    def change():
        os.rmdir(old)
        host.end(80)
        host.end(83)
        host.spawn(81, "cron", parent=1)
        host.spawn(82, "helper", parent=os.getpid())

    return change


def test_recover_and_compare_reports_what_recover_left_took_and_said(host, owned, tmp_path):
    old = make_dir(host, "old")
    host.spawn(80, "worker", parent=os.getpid())
    host.spawn(83, "cron", parent=1)
    before = aftermath.snapshot(owned)
    left = make_dir(host, "box-3", ["out"])
    target = FakeTarget(owned, on_recover=recover_changes(host, old))
    got = aftermath.recover_and_compare(target, 3, before, owned)
    assert target.calls == [("recover", 3)]
    assert all(o is owned for o, _ in host.snapshots)
    assert got == {
        "recover": ["box 3"],
        "recover_error": "",
        "new": {"processes": ["process 82 (helper) uid 0"], "temp_dirs": [f"temp dir {left}"]},
        "gone": {"processes": ["process 80 (worker) uid 0"], "temp_dirs": [f"temp dir {old}"]},
        "contents": {f"temp dir {left}": ["out"]},
        "state_files": [],
    }


def test_a_recover_that_fails_is_evidence_not_an_error(host, owned, monkeypatch):
    monkeypatch.setattr(aftermath, "read_process", lambda pid: proc(pid))
    before = aftermath.snapshot(owned)
    got = aftermath.recover_and_compare(FakeTarget(owned, recover_error="EBUSY"), 3, before, owned, [ORPHAN])
    assert (got["recover"], got["recover_error"]) == ([], "EBUSY")
    assert list(got["new"]) == ["orphans"]  # recover must end the orphans too


def test_the_clean_box_cleanup_is_probed_once_per_stage_run_and_recorded(host, owned):
    gone = make_dir(host, "old")
    host.spawn(80, "worker", parent=os.getpid())
    host.spawn(83, "cron", parent=1)
    host.box_paths = ["/run/box/3"]
    change = recover_changes(host, gone)
    target = FakeTarget(owned, on_cleanup=lambda: (change(), make_dir(host, "box-3", ["x"])))
    target.outcome = CleanupOutcome(ok=False, error="EBUSY")
    journal = FakeJournal()
    clean, ctx = CleanBox(), StageContext(seed=1, sizes=Sizes(), target=target, journal=journal)
    before = clean.first_baseline(ctx, 3)  # the stage's fixture: once per stage run
    assert before["temp"] == [{"path": gone, "kind": "dir"}]  # the snapshot from before the cleanup
    assert target.calls == [("owned", [3]), ("cleanup", 3), ("recover", 3)]
    assert all(o is owned for o, _ in host.snapshots)
    new = os.path.join(host.root, "box-3")
    assert journal.events == [
        (
            "evidence",
            {
                "label": aftermath.CLEAN_CLEANUP,
                "evidence": {
                    "box": 3,
                    "present_before": ["/run/box/3"],
                    "cleanup": CleanupOutcome(ok=False, error="EBUSY").to_dict(),
                    "left": {"processes": ["process 82 (helper) uid 0"], "temp_dirs": [f"temp dir {new}"]},
                    "contents": {f"temp dir {new}": ["x"]},
                    "gone": {"processes": ["process 80 (worker) uid 0"], "temp_dirs": [f"temp dir {gone}"]},
                    "state_files": [],
                    "recover": ["box 3"],
                    "recover_error": "",
                },
            },
        )
    ]
    assert clean.first_baseline(ctx, 3) is None  # the same stage run: not again
    assert len(journal.events) == 1 and target.calls.count(("cleanup", 3)) == 1
    target.on_cleanup = lambda: None
    assert CleanBox().first_baseline(ctx, 3) is not None  # another stage run is


def test_a_failing_recover_after_the_clean_box_cleanup_is_a_fact_of_the_probe(host, owned):
    journal = FakeJournal()
    aftermath.clean_box_cleanup(journal, FakeTarget(owned, recover_error="EBUSY"), 3)
    evidence = journal.events[0][1]["evidence"]
    assert (evidence["recover"], evidence["recover_error"]) == ([], "EBUSY")


PREPARED = SimpleNamespace(
    command=["python3", "sum.py"], files={"/p/sum.py": "sum.py"}, expected_stdout="3\n"
)


@pytest.fixture
def prepared(monkeypatch):
    monkeypatch.setattr(aftermath, "probe_program", lambda: PREPARED)


def test_a_good_probe_runs_the_program_under_the_probe_limits_and_cleans_up(prepared, owned):
    target = FakeTarget(owned)
    assert aftermath.probe(target, 3) == {
        "verdict": "OK",
        "message": "",
        "stdout_ok": True,
        "cleanup_ok": True,
        "cleanup_error": "",
    }
    assert target.calls == [
        ("init", 3),
        ("run", 3, PREPARED.command, aftermath.PROBE_LIMITS, PREPARED.files),
        ("cleanup", 3),
    ]


def test_a_probe_reports_wrong_output_and_a_failed_cleanup(prepared, owned):
    target = FakeTarget(owned)
    target.result = Result(verdict="WA", message="exit 0", stdout="4\n")
    target.outcome = CleanupOutcome(ok=False, error="EBUSY")
    assert aftermath.probe(target, 3) == {
        "verdict": "WA",
        "message": "exit 0",
        "stdout_ok": False,
        "cleanup_ok": False,
        "cleanup_error": "EBUSY",
    }


@pytest.mark.parametrize("error", [TargetError("no such box"), ValueError("box 99 out of range")])
def test_a_probe_whose_init_fails_is_an_ie_without_a_run(prepared, owned, error):
    target = FakeTarget(owned)
    target.init_error = error
    assert aftermath.probe(target, 3) == {
        "verdict": "IE",
        "message": f"init failed: {error}",
        "stdout_ok": False,
        "cleanup_ok": False,
    }
    assert target.calls == [("init", 3)]


def test_a_probe_program_that_cannot_be_prepared_skips_the_probe(monkeypatch, owned):
    monkeypatch.setattr(aftermath, "probe_program", lambda: "no python3 on this host")
    target = FakeTarget(owned)
    assert aftermath.probe(target, 3) == {"skipped": "no python3 on this host"}
    assert target.calls == []


def test_the_probe_program_is_prepared_once_per_process(monkeypatch):
    asked = []

    def prepare(names):
        asked.append(names)
        return {name: PREPARED for name in names}

    monkeypatch.setattr(aftermath, "prepare_programs", prepare)
    aftermath.probe_program.cache_clear()
    try:
        assert aftermath.probe_program() is PREPARED
        assert aftermath.probe_program() is PREPARED
    finally:
        aftermath.probe_program.cache_clear()
    assert asked == [[aftermath.PROBE_PROGRAM]]
