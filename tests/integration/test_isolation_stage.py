"""The isolation stage: the refbox contains every hostile case; a weakened refbox makes each check fail,
naming the kind of hole; the namespace defect makes every namespace case fail."""

from __future__ import annotations

import os
import pty
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest
from stage_runs import only, run_stage

from reliability import history
from reliability.checks import completeness
from reliability.checks import isolation as isolation_checks
from reliability.history import Journal
from reliability.profiles import Sizes
from reliability.runner import Runner
from reliability.stages import isolation
from reliability.stages.base import StageContext
from reliability.targets.base import CleanupOutcome, Result
from reliability.targets.builtin import BuiltinTarget
from reliability.workload.submission import Submission

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
        ctx = StageContext(1, Sizes(iterations=1), target, journal, tuple(BOXES))
        with isolation.host_fixture(ctx) as fixture:
            around = lambda sub: isolation.around(ctx, sub)  # noqa: E731
            runner = Runner(target, journal, BOXES, fixture.prepared, around=around)
            runner.run(isolation.workload(ctx), keep_going=lambda n: True)
    finally:
        journal.close()
        target.recover()
        target.close()  # its parent cgroups
    checks = isolation_checks.check(history.read(journal.path))
    return {c.name.split()[1]: c for c in checks}


def make(cls, workdir: str, isolate: bool) -> BuiltinTarget:
    target = cls(box_root=os.path.join(workdir, "boxes"), cgroup_name=f"isolation-stage-{PID}")
    target.refbox.isolate = isolate
    return target


def test_refbox_contains_every_hostile_case_at_smoke():
    ran = run_stage("isolation", {})
    checks = {c.name.split()[1]: c for name, c in ran.items() if name.startswith("hostile ")}
    assert ran[completeness.COMPLETED].status == "passed", ran[completeness.COMPLETED]
    assert set(checks) == set(isolation_checks.CASES)
    assert {name: c.status for name, c in checks.items()} == dict.fromkeys(checks, "passed"), [
        c for c in checks.values() if c.status != "passed"
    ]
    for surface in ("keyctl", "perf_event_open", "io_uring_setup"):  # the refbox's filter denies them
        assert checks[surface].message.startswith("denied (")
    # the history keeps the answer the program got, e.g. clone3 refused as not implemented (ENOSYS)
    assert "clone3(user): ENOSYS" in checks["namespace_user"].evidence, checks["namespace_user"]


def test_each_check_names_the_escape_of_a_weakened_refbox(workdir):
    checks = run_cases(make(FollowingCleanup, workdir, isolate=False), workdir)
    must_fail = {  # case -> the failure's first line (the kind of hole, then the answer)
        "read_host_file": "read_host_file: escape: read /tmp/reliability-secret-",
        "write_host_file": "write_host_file: escape: seen on the host: planted_file_exists = True",
        "connect": "connect: escape: connect 127.0.0.1:",
        "kill": "kill: visible: kill ",
        "fill_disk": "fill_disk: unbounded disk: fill /tmp up to 20 MiB got ok; wrote 20 MiB to /tmp without",
        "symlink_out": "symlink_out: visible: host dir /tmp/reliability-hostdir-",
        "setuid": "setuid: privilege: euid of /usr/local/lib/reliability-setuid-",
        "namespace_user": "namespace_user: namespace: unshare(user) got ok",
        "namespace_network": "namespace_network: namespace: unshare(user+network) got ok",
        "host_processes": "host_processes: visible: /proc/",
        "other_box": "other_box: escape: read ../reliability-neighbour-",
    }
    for case, words in must_fail.items():
        assert checks[case].status == "failed", checks[case]
        assert checks[case].message.startswith(words), checks[case]
    assert "symlink_out: escape: seen on the host: host_dir_intact = False" in checks["symlink_out"].evidence
    assert checks["keyctl"].status == "passed" and checks["keyctl"].message.startswith("allowed (")
    # the pids limit and the time limit hold without a jail, and the run cgroup kills the daemon
    assert checks["fork_bomb"].status == "passed" and checks["daemon"].status == "passed"


def test_the_namespace_defect_fails_every_namespace_case_and_setns_by_name():
    namespaces = tuple(c for c in isolation_checks.CASES if c.startswith("namespace_"))
    checks = run_stage(only("isolation", (*namespaces, "setns")), {}, points="defect.allow_namespaces")
    for case in namespaces:
        check = checks[isolation_checks.check_name(case)]
        assert check.status == "failed" and check.message.startswith(f"{case}: namespace: "), check
        assert "(user+" in check.message or case == "namespace_user", check
    setns = checks[isolation_checks.check_name("setns")]
    assert setns.status == "failed" and setns.message.startswith(
        "setns: namespace: setns into a child's new user namespace got ok"
    ), setns


def test_the_host_sees_a_daemon_and_a_cgroup_that_a_program_let_out_made():
    """escape.py run on the host as root, with no sandbox at all: the fixture's probes must see its
    daemon (by the name it gave itself) and its cgroup, or the daemon and cgroup_escape cases could
    never fail."""
    fixture = isolation.HostFixture()
    python = [sys.executable, "-I", "-S", str(isolation.ESCAPE)]
    try:
        subprocess.run([*python, "daemon", fixture.daemon_name], check=True, timeout=30)
        subprocess.run([*python, "cgroup_escape", fixture.escape_name], check=True, timeout=30)
        assert fixture.daemons(), "the daemon outlived its parent but was not seen"
        assert fixture.cgroups_made(), "the cgroup was made but not seen"
    finally:
        for pid in fixture.daemons():
            os.kill(pid, signal.SIGKILL)
        for path in fixture.cgroups_made():
            os.rmdir(path)


def test_with_no_sandbox_at_all_each_case_fails_naming_its_kind(workdir):
    """escape.py run as root on the host, judged by the isolation check: the cases a weakened refbox
    cannot show (its programs run as a box uid) must fail too. Not run here: what would harm the host
    or this test's process (ptrace of the caller, killing, filling, forking). TIOCSTI gets a pty of
    its own as stdin, in a new session, so no terminal of ours is reachable."""
    victim = subprocess.Popen(["sleep", "60"])
    extra = os.open("/dev/null", os.O_RDONLY)
    cases = {
        "namespace_user": ("", "namespace_user: namespace: unshare(user) got ok"),
        "setns": ("", "setns: namespace: setns /proc/self/ns/net got ok"),
        "inherited_fds": ("", "inherited_fds: inherited fd: fds beyond 0-2 got inherited"),
        "host_processes": (str(victim.pid), f"host_processes: visible: /proc/{victim.pid} got visible"),
        "read_shadow": ("", "read_shadow: escape: read /etc/shadow got ok"),
        "write_readonly": (f"reliability-escape-{PID}", f"write_readonly: escape: write /usr/bin/reliability-escape-{PID} got ok"),
        "tiocsti": ("", "tiocsti: terminal injection: TIOCSTI on 0 got ok"),
    }  # fmt: skip
    pty_main, pty_tty = pty.openpty()
    journal = Journal(os.path.join(workdir, "history.jsonl"))
    journal.append(
        "stage_start", stage="isolation", profile="smoke", seed=1, target="none", target_version="-",
        host="test", pipeline_version="test", pipeline_pid=PID, owned={"box_root": workdir}, capabilities=[],
        config={},
    )  # fmt: skip
    try:
        for index, (case, (arg, _)) in enumerate(cases.items()):
            command = [sys.executable, "-I", "-S", str(isolation.ESCAPE), case, arg]
            out = subprocess.run(
                command, stdin=pty_tty, capture_output=True, text=True, timeout=60, pass_fds=[extra],
                start_new_session=True,
            ).stdout  # fmt: skip
            sub = Submission(index, f"hostile/{case}", "python", "OK", "normal", isolation.LIMITS, case=case)
            journal.append("submission", submission=sub.to_dict())
            result = Result(verdict="OK", stdout=out).to_dict()
            journal.append(
                "result", index=index, box=0, result=result, started=0.0, ended=1.0, stdout_ok=None
            )
    finally:
        journal.close()
        for fd in (extra, pty_main, pty_tty):
            os.close(fd)
        victim.kill()
        victim.wait()
    checks = {c.name.split()[1]: c for c in isolation_checks.check(history.read(journal.path))}
    for case, (_, first_problem) in cases.items():
        assert checks[case].status == "failed" and checks[case].message.startswith(first_problem), checks[
            case
        ]
