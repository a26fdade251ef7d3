"""The isolation check judges the kernel's answers by the case table the run journaled, names the kind
of hole, reports attack surface as allowed or denied, and skips what the host could not show."""

from __future__ import annotations

import json

from synthetic_history import HistoryBuilder, isolation_history

from reliability.checks import isolation
from reliability.targets.base import Result


def history(tmp_path, answers: dict[str, dict], host: dict | None = None, cases=isolation.CASES):
    runs = [
        (case, Result(verdict=cases[case].verdict, stdout=json.dumps({"answers": got, "detail": "d"})))
        for case, got in answers.items()
    ]
    return {c.name.split()[1]: c for c in isolation.check(isolation_history(tmp_path, runs, host, cases))}


def test_declared_answers_are_contained_and_the_others_name_the_kind_of_hole(tmp_path):
    checks = history(
        tmp_path,
        {
            "namespace_user": {"unshare(user)": "EPERM", "clone3(user)": "ENOSYS"},
            "namespace_pid": {"unshare(user+pid)": "ok"},
            "fill_disk": {"fill /tmp": "ok"},
            "kill": {"kill 5": "EPERM"},
        },
        host={"victim_alive": True},
    )
    assert checks["namespace_user"].status == "passed"
    assert checks["namespace_user"].evidence == ["unshare(user): EPERM", "clone3(user): ENOSYS"]
    assert checks["namespace_pid"].status == "failed"
    assert checks["namespace_pid"].message == "namespace_pid: namespace: unshare(user+pid) got ok; d"
    assert checks["fill_disk"].message.startswith("fill_disk: unbounded disk: ")
    assert checks["kill"].message.startswith("kill: visible: kill 5 got EPERM")
    assert checks["setns"].status == "skipped"  # no run of it


def test_attack_surface_is_reported_never_failed(tmp_path):
    checks = history(tmp_path, {"keyctl": {"keyctl": "ok"}, "io_uring_setup": {"io_uring_setup": "EPERM"}})
    assert checks["keyctl"].status == "passed" and checks["keyctl"].message == "allowed (keyctl: ok)"
    assert checks["io_uring_setup"].message == "denied (io_uring_setup: EPERM)"


def test_host_evidence_decides_and_its_absence_is_a_skip(tmp_path):
    answers = {"daemon": {"daemon started": "ok"}, "other_box": {"read ../n/secret": "ENOENT"}}
    survived = history(tmp_path / "a", answers, host={"daemon_alive": True, "neighbour_intact": True})
    assert survived["daemon"].message == "daemon: survived: seen on the host: daemon_alive = True"
    assert survived["other_box"].status == "passed"
    why = {"neighbour_intact": None, "neighbour_intact_why": "target t declares no box root"}
    unseen = history(tmp_path / "b", answers, host={"daemon_alive": False, **why})
    assert unseen["daemon"].status == "passed"
    assert unseen["other_box"].status == "skipped"
    assert unseen["other_box"].message.startswith("target t declares no box root")


def test_a_missing_answer_line_fails(tmp_path):
    b = HistoryBuilder(tmp_path, stage="isolation")
    b.submit(0, "hostile/read_shadow", "python", "OK")
    b.journal.append(
        "result",
        index=0,
        box=1,
        result=Result(verdict="OK", stdout="x").to_dict(),
        started=1.0,
        ended=2.0,
        stdout_ok=None,
    )
    b.end()
    checks = {c.name.split()[1]: c for c in isolation.check(b.read())}
    assert checks["read_shadow"].status == "failed" and "no answer line" in checks["read_shadow"].message


def test_the_journaled_table_judges_an_old_run(tmp_path):
    strict = {"read_shadow": isolation.Case("escape", ("ENOENT",))}
    checks = history(tmp_path, {"read_shadow": {"read /etc/shadow": "EACCES"}}, cases=strict)
    assert set(checks) == {"read_shadow"}
    assert checks["read_shadow"].message.startswith("read_shadow: escape: read /etc/shadow got EACCES")


def test_a_fork_bomb_not_ended_by_the_time_limit_names_its_kind(tmp_path):
    b = HistoryBuilder(tmp_path, stage="isolation")
    b.submit(0, "hostile/fork_bomb", "python", "TLE")
    b.result(0, "IE", message="fork: no memory")
    b.end()
    checks = {c.name.split()[1]: c for c in isolation.check(b.read())}
    assert (
        checks["fork_bomb"].message
        == "fork_bomb: unbounded processes: expected TLE, got IE: 'fork: no memory'"
    )


def test_one_breach_among_several_runs_is_a_breach(tmp_path):
    b = HistoryBuilder(tmp_path, stage="isolation")
    for i in range(2):
        b.submit(i, "hostile/other_box", "python", "OK")
        stdout = json.dumps({"answers": {"read ../n/secret": "ENOENT"}, "detail": ""})
        res = Result(verdict="OK", stdout=stdout).to_dict()
        b.journal.append("result", index=i, box=1, result=res, started=1.0, ended=2.0, stdout_ok=None)
        b.journal.append("evidence", label="isolation neighbour", evidence={"neighbour_intact": i == 1})
    b.end()
    checks = {c.name.split()[1]: c for c in isolation.check(b.read())}
    assert checks["other_box"].message == "other_box: escape: seen on the host: neighbour_intact = False"


def test_a_journaled_case_without_the_optional_fields_gets_their_defaults():
    """An older run's table names only the kind and the contained answers."""
    case = isolation.Case.from_dict({"kind": "escape", "contained": ["EPERM"]})
    assert case == isolation.Case(
        "escape", ("EPERM",), verdict="OK", host=None, other_kinds=(), surface=False
    )


def test_every_case_of_the_table_reads_back_from_its_journaled_form():
    for case in isolation.CASES.values():
        assert isolation.Case.from_dict(json.loads(json.dumps(case.to_dict()))) == case
