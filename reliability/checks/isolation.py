"""Isolation: each hostile case was contained, with its expected verdict, and the host saw no effect.

Evidence comes from two sides: the kernel's answer to each attempt, as the program printed it (one JSON
line, programs/hostile/escape.py), and what the host saw ("evidence" events labelled "isolation ...").
A failure names the kind of hole ("escape", "visible", "unbounded disk", "survived", ...), so a reader
knows what is at stake. The case table is journaled when the stage starts; re-checking an old run
judges it by the table it ran with.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from reliability.checks.base import CheckResult, failed, passed, skipped
from reliability.history import History

ANY = "*"  # any answer: the host's evidence alone decides
ANY_ERROR = "any error"  # any answer but "ok"
CASES_LABEL = "isolation cases"


@dataclass(frozen=True)
class Case:
    kind: str  # the kind of hole a case that is not contained shows
    contained: tuple[str, ...]  # the answers that count as contained (errno names, or ANY / ANY_ERROR)
    verdict: str = "OK"
    host: tuple[str, object] | None = None  # (host evidence field, its value when contained)
    other_kinds: tuple[tuple[str, str], ...] = ()  # (answer, kind) where an answer shows a lesser hole
    surface: bool = False  # attack surface: reported as allowed or denied, not a failure

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Case:
        host = tuple(d["host"]) if d.get("host") else None
        kinds = tuple(tuple(k) for k in d.get("other_kinds", ()))
        return cls(
            d["kind"], tuple(d["contained"]), d.get("verdict", "OK"), host, kinds, d.get("surface", False)
        )


_DENIED = ("EPERM", "EACCES", "ENOENT", "EROFS")
_NAMESPACE = Case("namespace", ("EPERM", "ENOSYS", "EUSERS", "ENOSPC"))
CASES = {
    "read_host_file": Case("escape", ("ENOENT", "EACCES", "EPERM")),
    "write_host_file": Case("escape", (ANY,), host=("planted_file_exists", False)),  # its /tmp may be private
    "connect": Case("escape", (ANY_ERROR,), host=("connections", 0)),
    "kill": Case("escape", ("ESRCH",), host=("victim_alive", True), other_kinds=(("EPERM", "visible"),)),
    "fill_disk": Case("unbounded disk", ("ENOSPC", "EDQUOT")),
    "symlink_out": Case("escape", ("ENOENT",), host=("host_dir_intact", True), other_kinds=(("visible", "visible"),)),
    "setuid": Case("privilege", ("not root",)),
    "fork_bomb": Case("unbounded processes", (ANY,), verdict="TLE"),  # pids limit holds; the time limit ends it
    **{f"namespace_{kind}": _NAMESPACE for kind in ("user", "mount", "network", "pid", "ipc", "uts", "cgroup", "time")},
    "setns": Case("namespace", ("EPERM", "EACCES", "ENOENT", "EINVAL", "EUSERS", "ENOSPC")),  # EINVAL: own user ns
    "inherited_fds": Case("inherited fd", ("none",)),
    "ptrace": Case("escape", ("EPERM", "ESRCH")),
    "host_processes": Case("visible", ("ENOENT",)),
    "cgroup_escape": Case("escape", _DENIED, host=("cgroup_made", False)),
    "other_box": Case("escape", _DENIED, host=("neighbour_intact", True)),
    "read_shadow": Case("escape", ("ENOENT", "EACCES", "EPERM")),
    "write_readonly": Case("escape", _DENIED),
    "daemon": Case("survived", (ANY,), host=("daemon_alive", False)),
    "keyctl": Case("attack surface", (ANY_ERROR,), surface=True),
    "perf_event_open": Case("attack surface", (ANY_ERROR,), surface=True),
    "io_uring_setup": Case("attack surface", (ANY_ERROR,), surface=True),
    "tiocsti": Case("terminal injection", ("ENOTTY", "ENXIO", "ENOENT", "EIO", "EPERM", "EBADF", "EACCES")),
}  # fmt: skip


def recorded_cases(history: History) -> dict[str, Case]:
    """The case table the run was started with (this code's table for a run that journaled none)."""
    for event in history.of_type("evidence"):
        if event.get("label") == CASES_LABEL:
            return {name: Case.from_dict(d) for name, d in event["evidence"]["cases"].items()}
    return CASES


def host_evidence(history: History) -> dict[str, list]:
    """What the host saw: each field with every value the "isolation ..." evidence events gave it (a
    case run several times is seen several times; one breach among them is a breach)."""
    seen: dict[str, list] = {}
    for event in history.of_type("evidence"):
        if event.get("label", "").startswith("isolation") and event.get("label") != CASES_LABEL:
            for field, value in event["evidence"].items():
                seen.setdefault(field, []).append(value)
    return seen


def check(history: History) -> list[CheckResult]:
    cases = recorded_cases(history)
    host = host_evidence(history)
    runs: dict[str, list[dict]] = {case: [] for case in cases}
    for event in history.of_type("result"):
        sub = history.submissions.get(event["index"])
        if sub and sub.case in runs:
            runs[sub.case].append(event["result"])
    return [_check_case(name, case, runs[name], host) for name, case in cases.items()]


def answers_of(result: dict) -> tuple[dict[str, str] | None, str]:
    """The program's {attempt: answer} and its detail, or None when it printed no answer line."""
    for line in result.get("stdout", "").splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("answers"), dict):
            return doc["answers"], str(doc.get("detail", ""))
    return None, ""


def is_contained(case: Case, answer: str) -> bool:
    return (
        ANY in case.contained or answer in case.contained or (ANY_ERROR in case.contained and answer != "ok")
    )


def _kind(case: Case, answer: str) -> str:
    return dict(case.other_kinds).get(answer, case.kind)


def check_name(name: str, case: Case | None = None) -> str:
    """The check of case `name`: "hostile <name> contained", or "... reported" for attack surface."""
    case = case or CASES[name]
    return f"hostile {name} {'reported' if case.surface else 'contained'}"


def _check_case(name: str, case: Case, results: list[dict], host: dict[str, list]) -> CheckResult:
    title = check_name(name, case)
    if not results:
        return skipped(title, f"no run of hostile/{name} (skipped or not reached)")
    problems, seen = [], []
    for r in results:
        if r["verdict"] != case.verdict:
            # A case judged by its verdict alone (the fork bomb) shows its hole there; any other case's
            # wrong verdict means its answers cannot be trusted, not that something got out.
            kind = f"{case.kind}: " if case.verdict != "OK" else ""
            problems.append(
                f"{name}: {kind}expected {case.verdict}, got {r['verdict']}: {r.get('message', '')!r}"
            )
            continue
        if case.verdict != "OK":
            continue  # a program that never ends prints no answer: its verdict is the evidence
        answers, detail = answers_of(r)
        if answers is None:
            problems.append(f"{name}: no answer line in the program's output: {r.get('stdout', '')[:200]!r}")
            continue
        for attempt, answer in answers.items():
            seen.append(f"{attempt}: {answer}")
            if not is_contained(case, answer) and not case.surface:
                problems.append(
                    f"{name}: {_kind(case, answer)}: {attempt} got {answer}; {detail}".rstrip("; ")
                )
        if name == "read_host_file" and any(
            secret and secret in r.get("stdout", "") for secret in host.get("secret", [])
        ):
            problems.append(f"{name}: escape: the host secret is in the program's stdout")
    if case.host:
        field, contained = case.host
        values = [v for v in host.get(field, []) if v is not None]
        breaches = [v for v in values if v != contained]
        if breaches:
            problems.append(f"{name}: {case.kind}: seen on the host: {field} = {breaches[0]!r}")
        elif not values and not problems:
            why = (host.get(f"{field}_why") or ["no host evidence in the history"])[-1]
            return skipped(title, f"{why}: the hole cannot be ruled out", seen)
    if problems:
        return failed(title, problems[0], problems + seen)
    if case.surface:
        allowed = [s for s in seen if s.endswith(": ok")]
        return passed(title, f"{'allowed' if allowed else 'denied'} ({'; '.join(seen)})", seen)
    return passed(title, f"{len(results)} run(s) contained", seen)
