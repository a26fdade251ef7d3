"""The isolation stage: the refbox contains every hostile case; a weakened refbox makes each check fail."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from reliability import history
from reliability.checks import isolation as isolation_checks
from reliability.history import Journal
from reliability.profiles import Sizes
from reliability.runner import Runner
from reliability.stages import isolation
from reliability.targets.base import CleanupOutcome
from reliability.targets.builtin import BuiltinTarget

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="namespaces, mounts and cgroups need root")

PID = os.getpid()
BOXES = [400 + (PID % 90) * 2, 401 + (PID % 90) * 2]  # unique per test process: others run tests too


class FollowingCleanup(BuiltinTarget):
    """A defect on purpose: cleanup deletes what the box's links point to before the real cleanup."""

    def cleanup(self, box: int) -> CleanupOutcome:
        for entry in os.scandir(self.refbox.box_dir(box)):
            if entry.is_symlink() and os.path.isdir(entry.path):
                for name in os.listdir(entry.path):
                    os.unlink(os.path.join(entry.path, name))
        return super().cleanup(box)


@pytest.fixture
def workdir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix=f"isolation-stage-{PID}-")
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_cases(target: BuiltinTarget, workdir: str) -> dict[str, object]:
    journal = Journal(os.path.join(workdir, "history.jsonl"))
    journal.append(
        "stage_start", stage="isolation", profile="smoke", seed=1, target=target.name,
        target_version=target.version(), host="test", pipeline_version="test", pipeline_pid=PID,
        owned=target.owned().to_dict(), capabilities=[], config={},
    )  # fmt: skip
    try:
        with isolation.host_fixture(journal) as fixture:
            runner = Runner(target, journal, BOXES, fixture.prepared)
            runner.run(isolation.workload(1, Sizes(iterations=1)), keep_going=lambda n: True)
    finally:
        journal.close()
        target.recover()
        for d in target.refbox.cgroup_roots():
            if os.path.isdir(d):
                os.rmdir(d)
    checks = isolation_checks.check(history.read(journal.path))
    return {c.name.split()[1]: c for c in checks}


def make(cls, workdir: str, isolate: bool) -> BuiltinTarget:
    target = cls(box_root=os.path.join(workdir, "boxes"), cgroup_name=f"isolation-stage-{PID}")
    target.refbox.isolate = isolate
    return target


def test_refbox_contains_every_hostile_case(workdir):
    checks = run_cases(make(BuiltinTarget, workdir, isolate=True), workdir)
    assert set(checks) == set(isolation_checks.EXPECTED)
    assert {name: c.status for name, c in checks.items()} == dict.fromkeys(checks, "passed"), checks


def test_each_check_names_the_escape_of_a_weakened_refbox(workdir):
    checks = run_cases(make(FollowingCleanup, workdir, isolate=False), workdir)
    must_fail = {  # case -> words the failure must contain
        "read_host_file": "read /tmp/reliability-secret",
        "write_host_file": "planted_file_exists",
        "connect": "connect",
        "kill": "visible",
        "fill_disk": "without a quota",
        "symlink_out": "host_dir_intact",
        "setuid": "euid 0",
    }
    for case, words in must_fail.items():
        assert checks[case].status == "failed", checks[case]
        assert words in " ".join(checks[case].evidence), checks[case]
    assert checks["fork_bomb"].status == "passed"  # the pids limit and the time limit hold without a jail
